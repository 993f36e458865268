"""hhar: Heterogeneity Activity Recognition (Stisen et al. 2015), phones at the waist and smartwatches.

Raw layout (the extracted `Activity recognition exp` folder or any folder up to three levels above
it; or the UCI download `heterogeneity+activity+recognition.zip` itself, whose nested
`Activity recognition exp.zip` is unpacked to a temporary folder; `Still exp` is not used):
    Phones_accelerometer.csv, Phones_gyroscope.csv, Watch_accelerometer.csv, Watch_gyroscope.csv
Each CSV has the header `Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt`;
Creation_Time is the OS timestamp in ns, x/y/z are m/s^2 (accelerometer, gravity included) or
rad/s (gyroscope), User is a..i, Device e.g. `nexus4_1`, gt one of stand, sit, walk, stairsup,
stairsdown, bike or `null` (-> unlabelled, -1). The files are over 1 GB: they are read in
blocks of text with pyarrow's CSV reader (all 10 columns, so that a line with extra fields is an
error rather than silently truncated; text columns as text, so that `null` stays a string), and
any file holding a line that pyarrow refuses, or reads where pandas would not, is read again,
in chunks, by pandas' C parser as before, which accepts it as before or names the bad line
(read_csv). So the output, and the error, are those of the pandas reader alone.

Threads (convert): a pool of THREADS workers reads the CSVs (each block parsed on pyarrow's CPU
pool, `pyarrow.cpu_count()` threads, and the next block while the calling worker sorts the rows
of the last one into streams) and aligns and resamples each (user, device); the calling thread
writes in a fixed order, so the output does not depend on the thread count.

Accelerometer and gyroscope are separate, unaligned streams at device-dependent rates (50-200 Hz)
with jittery timestamps. Per (User, Device) each stream is sorted by Creation_Time (repeated
stamps dropped, counted); per run of one gt value in the accelerometer stream, the accelerometer
is put on a uniform grid (`uniform_from_timestamps`, split at gaps > 1 s) at the device's rate
(median timestamp step of the faster stream, rounded to 1 Hz), the gyroscope is interpolated onto
the same grid where it has no gap, and the aligned (T, 6) signal is resampled, anti-aliased, from
that grid rate to the stored rate (`format.resample`, exactly what `add_recording` would do to it)
and goes to `add_recording`. Labels come from the
accelerometer stream. Grid samples without a gyroscope neighbour are dropped (counted); devices
without gyroscope rows (samsungold) are dropped (counted), since every segment needs 6 channels.

Layout 0 is the phone (waist pouch), layout 1 the watch (worn on the arm; which arm is not stated).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from datasets.common import align, file_lines, find_root, first_bad_line, median_rate, raw_folder, sort_dedupe
from datasets.format import ConversionError, PreparedWriter, acc_gyro, resample, runs

NAME = 'hhar'
THREADS = os.cpu_count() or 1   # worker threads of convert (reading, aligning, resampling)
CHUNK_ROWS = 1_000_000
MAX_GAP_S = 1.0
RATE_RANGE_HZ = (5.0, 1000.0)     # plausible device rates; anything else means broken timestamps
COLUMNS = ['Index', 'Arrival_Time', 'Creation_Time', 'x', 'y', 'z', 'User', 'Model', 'Device', 'gt']
HEADER = ','.join(COLUMNS).encode()
DTYPES = {'Index': np.int64, 'Arrival_Time': np.int64, 'Creation_Time': np.int64,
          'x': np.float32, 'y': np.float32, 'z': np.float32,
          'User': 'category', 'Model': 'category', 'Device': 'category', 'gt': 'category'}
BLOCK_BYTES = 16 << 20          # CSV text handed to pyarrow at a time (two such buffers, reused)
ARROW_BLOCK = 4 << 20           # pyarrow's unit of parallel parsing within that
ARROW_TYPES = {'Index': pa.int64(), 'Arrival_Time': pa.int64(), 'Creation_Time': pa.int64(),
               'x': pa.float64(), 'y': pa.float64(), 'z': pa.float64(),
               'User': pa.string(), 'Model': pa.string(), 'Device': pa.string(), 'gt': pa.string()}
CODES = ['stand', 'sit', 'walk', 'stairsup', 'stairsdown', 'bike']   # gt value -> LABELS index
NULL = 'null'
ALLOWED = set(CODES) | {NULL}
LABEL_OF = {c: i for i, c in enumerate(CODES)}                   # gt -> label, `null` -> -1
LABELS = [
    ('standing', 'standing still upright'),
    ('sitting', 'sitting still on a chair'),
    ('walking', 'walking on flat ground'),
    ('walking upstairs', 'walking up a flight of stairs'),
    ('walking downstairs', 'walking down a flight of stairs'),
    ('cycling', 'riding a bicycle'),
]
LAYOUTS = [acc_gyro('waist', 'smartphone'),
           acc_gyro('arm', 'smartwatch')]
FILES = [('Phones_accelerometer.csv', 'Phones_gyroscope.csv'),      # layout 0
         ('Watch_accelerometer.csv', 'Watch_gyroscope.csv')]        # layout 1
SOURCE = {'title': 'Heterogeneity Activity Recognition', 'url': 'https://doi.org/10.24432/C5689X',
          'licence': 'CC BY 4.0',
          'citation': 'Stisen, Blunck, Bhattacharya, Prentow, Kjaergaard, Dey, Sonne, Jensen, '
                      '"Smart Devices are Different...", SenSys 2015'}


# ---------------------------------------------------------------------------- reading

class _Refused(Exception):
    """pyarrow's reader met something it does not accept as pandas does: the pandas path decides."""


def read_csv(path, wanted=None):
    """One HHAR CSV -> {(user, device): (t_ns (T,) int64, xyz (T, 3) float32, labels (T,) int64)}.

    Rows of `wanted` users only; each stream in file order (not yet sorted by time). Parsed by
    pyarrow (read_arrow); any line that pyarrow refuses, or that it reads where pandas' C parser
    would not (NaN, an unknown gt, an empty User or Device, a quote anywhere), sends the file
    through the previous pandas reader (read_pandas), which raises the error naming the file
    and the first bad line, or accepts the line exactly as before. Either way memory stays near
    the size of the kept arrays.
    """
    if not path.exists():
        raise ConversionError(f'{path}: file not found (expected the 4 CSVs of "Activity recognition exp")')
    with open(path, errors='replace') as f:
        header = f.readline().strip().split(',')
    if header != COLUMNS:
        raise ConversionError(f'{path}: line 1: expected the header {",".join(COLUMNS)}, '
                              f'found {",".join(header)[:200]}')
    try:
        return read_arrow(path, wanted)
    except (_Refused, pa.ArrowException):
        return read_pandas(path, wanted)


def read_arrow(path, wanted=None):
    """read_csv's fast path: pyarrow's CSV reader on BLOCK_BYTES of text at a time (cut after a
    newline; each block parsed on pyarrow's CPU thread pool, `pyarrow.cpu_count()` threads, while
    the calling thread sorts the rows of the block before into streams). All 10 columns are
    converted (integers; floats as float64, cast to float32 as pandas does; User, Model, Device,
    gt as text, so that bad UTF-8 is refused), and a line with more or fewer fields is refused.
    Raises _Refused (or a pyarrow error) where pandas must decide."""
    streams = {}                                     # (user, device) -> [(t, xyz, labels) per run]
    parse_options = pacsv.ParseOptions(delimiter=',', quote_char=False, double_quote=False, escape_char=False,
                               newlines_in_values=False, ignore_empty_lines=True)
    convert = pacsv.ConvertOptions(column_types=ARROW_TYPES, null_values=[], true_values=[], false_values=[],
                                   strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=True)
    read = pacsv.ReadOptions(column_names=COLUMNS, use_threads=True, block_size=ARROW_BLOCK)
    buffers = [bytearray(BLOCK_BYTES), bytearray(BLOCK_BYTES)]     # reused: no fresh pages per block

    def parse(buffer, n):
        """(table, number of x and X) of the first n bytes of buffer (whole lines); None if they
        hold a quote (pandas' quoting rules are not pyarrow's)."""
        text = memoryview(buffer)[:n]
        if buffer.find(b'"', 0, n) >= 0:
            return None
        table = pacsv.read_csv(pa.BufferReader(pa.py_buffer(text)), read_options=read,
                               parse_options=parse_options, convert_options=convert)
        return table, int(np.count_nonzero(np.frombuffer(text, np.uint8) | 32 == ord('x')))
    with open(path, 'rb') as f, ThreadPoolExecutor(1, thread_name_prefix='hhar-csv') as ahead:
        if f.readline(len(HEADER) + 2) not in (HEADER + b'\n', HEADER + b'\r\n'):   # a header pandas reads otherwise
            raise _Refused
        pending, k, carry = None, 0, b''
        while True:
            buffer = buffers[k % 2]
            buffer[:len(carry)] = carry
            n = len(carry) + f.readinto(memoryview(buffer)[len(carry):])
            if not n:
                break
            cut = buffer.rfind(b'\n', 0, n) + 1 if n == len(buffer) else n
            if not cut:                              # a line longer than a block: pandas decides
                raise _Refused
            carry = bytes(buffer[cut:n])
            done, pending = pending, ahead.submit(parse, buffer, cut)
            if done is not None:
                add_table(done.result(), streams, wanted)
            k += 1
        if pending is not None:
            add_table(pending.result(), streams, wanted)
    return {pair: tuple(np.concatenate(a) for a in zip(*parts)) for pair, parts in streams.items()}


def add_table(parsed, streams, wanted):
    """A parsed block's rows, appended to `streams` per (user, device). pyarrow reads `0x10` in
    an integer column as 16 where pandas refuses it: every x or X of the block must lie in a
    text field."""
    if parsed is None:
        raise _Refused
    table, n_x = parsed
    if sum(batch_streams(batch, streams, wanted) for batch in table.to_batches()) != n_x:
        raise _Refused


def x_count(encoded):
    """How many x and X a run-end- or dictionary-encoded text column holds."""
    if isinstance(encoded, pa.RunEndEncodedArray):
        values, counts = encoded.values.to_pylist(), np.diff(encoded.run_ends.to_numpy(), prepend=0)
    else:
        values, counts = encoded.dictionary.to_pylist(), np.bincount(encoded.indices.to_numpy(),
                                                                    minlength=len(encoded.dictionary))
    return sum((v.count('x') + v.count('X')) * int(k) for v, k in zip(values, counts) if 'x' in v or 'X' in v)


def batch_streams(batch, streams, wanted):
    """One pyarrow record batch -> its runs of rows per (user, device), appended to `streams`;
    returns how many x and X its text fields hold. User, Model, Device and gt are read as runs
    of equal values (the files hold each stream and each activity as long runs); a batch of many
    short runs is dictionary-encoded, and its rows grouped by sorting, instead."""
    n = len(batch)
    xyz = np.empty((n, 3), np.float32)
    for c in range(3):
        xyz[:, c] = batch.column(3 + c).to_numpy()                  # float64 -> float32, as pandas
    if np.isnan(xyz).any():                                        # pyarrow reads "nan", pandas refuses it
        raise _Refused
    t = batch.column(2).to_numpy()
    coded = [pc.run_end_encode(batch.column(c)) for c in (6, 8, 9, 7)]
    if sum(len(r.run_ends) for r in coded) <= 64 + n // 64:       # runs: no per-row work
        (users, devices, gt), (u_end, d_end, g_end) = ([r.values.to_pylist() for r in coded[:3]],
                                                        [r.run_ends.to_numpy().astype(np.intp) for r in coded[:3]])
        if set(gt) - ALLOWED or '' in users or '' in devices:
            raise _Refused
        labels = np.repeat(np.array([LABEL_OF.get(g, -1) for g in gt], np.int64), np.diff(g_end, prepend=0))
        ends = np.union1d(u_end, d_end)                            # where User or Device changes
        starts = np.r_[0, ends[:-1]]
        pairs = zip(np.searchsorted(u_end, starts, 'right').tolist(), np.searchsorted(d_end, starts, 'right').tolist())
        for lo, hi, (u, d) in zip(starts.tolist(), ends.tolist(), pairs):
            if wanted is None or users[u] in wanted:
                streams.setdefault((users[u], devices[d]), []).append((t[lo:hi], xyz[lo:hi], labels[lo:hi]))
        return sum(x_count(r) for r in coded)
    coded = [pc.dictionary_encode(batch.column(c)) for c in (6, 8, 9, 7)]
    (users, devices, gt), codes = ([r.dictionary.to_pylist() for r in coded[:3]],
                                   [r.indices.to_numpy().astype(np.intp) for r in coded[:3]])
    if set(gt) - ALLOWED or '' in users or '' in devices:
        raise _Refused
    labels = np.array([LABEL_OF.get(g, -1) for g in gt], np.int64)[codes[2]]
    key = codes[0] * len(devices) + codes[1]
    order = np.argsort(key, kind='stable')                         # group the rows, each in file order
    key, t, xyz, labels = key[order], t[order], xyz[order], labels[order]
    cuts = np.flatnonzero(key[1:] != key[:-1]) + 1
    for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, n].tolist()):
        pair = users[key[lo] // len(devices)], devices[key[lo] % len(devices)]
        if wanted is None or pair[0] in wanted:
            streams.setdefault(pair, []).append((t[lo:hi], xyz[lo:hi], labels[lo:hi]))
    return sum(x_count(r) for r in coded)


def read_pandas(path, wanted=None):
    """read_csv's careful path (the previous reader): pandas' C parser in chunks of CHUNK_ROWS,
    all 10 columns (so that a line with extra fields is an error rather than silently
    truncated), categorical text columns and `keep_default_na=False` so that `null` stays a
    string. Errors name the file and the first bad line."""
    pairs, parts = {}, []
    try:
        for chunk in pd.read_csv(path, engine='c', dtype=DTYPES, keep_default_na=False, na_filter=False,
                                 index_col=False, chunksize=CHUNK_ROWS):
            parts.append(chunk_arrays(path, chunk, pairs, wanted))
    except (ValueError, pd.errors.ParserError) as e:
        raise ConversionError(f'{path}: {diagnose(path) or e}') from None
    return group(parts, pairs)


def chunk_arrays(path, chunk, pairs, wanted):
    """One parsed chunk -> (t_ns, xyz, labels, pair index into `pairs`, which it extends)."""
    gt, users, devices = (chunk[c].cat.categories for c in ('gt', 'User', 'Device'))
    bad_gt = set(gt) - set(CODES) - {NULL}
    if bad_gt or '' in users or '' in devices:
        raise ConversionError(f'{path}: {diagnose(path) or f"unknown gt values {sorted(bad_gt)}"}')
    if wanted is not None:
        chunk = chunk[chunk['User'].isin(wanted)]
    code = chunk['User'].cat.codes.to_numpy(np.int64) * len(devices) + chunk['Device'].cat.codes.to_numpy(np.int64)
    uniq, inverse = np.unique(code, return_inverse=True)
    lut = np.array([pairs.setdefault((str(users[c // len(devices)]), str(devices[c % len(devices)])), len(pairs))
                    for c in uniq], np.int64)
    label_lut = np.array([CODES.index(c) if c in CODES else -1 for c in gt], np.int64)
    return (chunk['Creation_Time'].to_numpy(), chunk[['x', 'y', 'z']].to_numpy(np.float32),
            label_lut[chunk['gt'].cat.codes.to_numpy(np.int64)], lut[inverse.reshape(-1)])


def group(parts, pairs):
    """Chunks -> {(user, device): (t_ns (T,), xyz (T, 3), labels (T,))}, rows in file order."""
    if not parts:
        return {}
    t, xyz, labels, key = (np.concatenate(a) for a in zip(*parts))
    order = np.argsort(key, kind='stable')
    t, xyz, labels, key = t[order], xyz[order], labels[order], key[order]
    names = {i: pair for pair, i in pairs.items()}
    cuts = np.flatnonzero(np.diff(key)) + 1
    return {names[int(key[lo])]: (t[lo:hi], xyz[lo:hi], labels[lo:hi])
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(key)])}


def diagnose(path):
    """The first line of a HHAR CSV that is not a valid row, described (error path only, slow)."""
    allowed = set(CODES) | {NULL}

    def check(line):
        p = line.split(',')
        if len(p) != len(COLUMNS):
            return f'expected {len(COLUMNS)} comma-separated fields, found {len(p)}: {line[:100]!r}'
        try:
            [int(v) for v in p[:3]] + [float(v) for v in p[3:6]]
        except ValueError:
            return f'expected numbers in {",".join(COLUMNS[:6])}: {line[:100]!r}'
        if not p[6] or not p[8]:
            return f'empty User or Device: {line[:100]!r}'
        if p[9] not in allowed:
            return f'gt "{p[9]}" is not one of {", ".join(CODES)}, {NULL}'
        return None
    return first_bad_line(file_lines(path)[1:], check, first_line=2)


# ---------------------------------------------------------------------------- converting

def device_ops(acc, gyro, user, device, where, rate_out):
    """Align one (user, device)'s accelerometer and gyroscope streams per gt run, and resample
    the aligned pieces to `rate_out` (format.resample, exactly as PreparedWriter.add_recording
    would). Pure computation, run in worker threads. Returns what the writer is told, in order:
    ('count', what, n) and ('add', signal, label, rate) where rate is the signal's rate:
    `rate_out` when resampled here (add_recording then leaves it as it is), else the grid rate,
    for a piece that holds NaN before or after resampling (add_recording interpolates NaN in
    what it is given, before resampling: so it is given the piece itself)."""
    (ta, xa, la, n_a), (tb, xb, n_b) = sort_dedupe(*acc), sort_dedupe(gyro[0], gyro[1])
    ops = [('count', 'duplicate timestamps dropped', n_a + n_b)]
    if len(ta) < 2 or len(tb) < 2:
        return ops + [('count', 'device streams with fewer than 2 samples dropped', 1)]
    t0 = min(ta[0], tb[0])
    ta, tb = (ta - t0) * 1e-9, (tb - t0) * 1e-9                       # ns -> s, shared origin
    rate = round(max(median_rate(ta), median_rate(tb)))
    if not RATE_RANGE_HZ[0] <= rate <= RATE_RANGE_HZ[1]:
        raise ConversionError(f'{where}: user {user}, device {device}: timestamps give {rate} Hz, '
                              f'expected {RATE_RANGE_HZ[0]:g}..{RATE_RANGE_HZ[1]:g} Hz')
    for start, length, label in zip(*runs(la)):
        seg = slice(start, start + length)
        lo = max(np.searchsorted(tb, ta[start]) - 1, 0)
        hi = np.searchsorted(tb, ta[start + length - 1], 'right') + 1
        pieces, dropped = align(ta[seg], xa[seg], tb[lo:hi], xb[lo:hi], rate, MAX_GAP_S)
        ops.append(('count', 'grid samples without both sensors dropped', dropped))
        for piece in pieces:
            done = None if np.isnan(piece).any() else resample(piece, rate, rate_out)
            if done is None or np.isnan(done).any():       # add_recording repairs NaN first: let it
                ops.append(('add', piece, int(label), rate))
            else:
                ops.append(('add', done, int(label), rate_out))
    return ops


def write_ops(w, ops, user, device, layout, where):
    """Replay device_ops' results into the writer (main thread, in the converter's order)."""
    for op in ops:
        if op[0] == 'count':
            w.count(op[1], op[2])
        else:
            _, signal, label, rate = op
            w.add_recording(signal, label, subject=user, rate_hz=rate, layout=layout,
                            where=f'{where} user {user} device {device}')


def add_device(w, acc, gyro, user, device, layout, where):
    """Align one (user, device)'s accelerometer and gyroscope streams and add them per gt run."""
    write_ops(w, device_ops(acc, gyro, user, device, where, w.rate_hz), user, device, layout, where)


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw HHAR (folder or outer zip) into `out_root/hhar`. `subjects`: optional subset of users a..i.

    Threads: a pool of THREADS workers (all cores) reads the four CSVs, two at a time (each on
    pyarrow's CPU pool as well, see read_arrow; the watch files while the phones are aligned),
    and aligns and resamples the (user, device) streams (device_ops); the calling thread writes
    their results in sorted (layout, user, device) order, and errors surface in that order too,
    so the output and the error raised are those of a one-thread run.
    """
    wanted = None if subjects is None else {str(s) for s in subjects}
    keep = lambda name: 'Still exp' not in name                                  # noqa: E731
    with raw_folder(raw, out_root, keep, FILES[0][0]) as folder:
        root = find_root(folder, FILES[0][0])
        with PreparedWriter(out_root, NAME, LABELS, LAYOUTS, SOURCE, rate_hz) as w:
            pool = ThreadPoolExecutor(THREADS, thread_name_prefix='hhar')
            try:
                reads = [[pool.submit(read_csv, root / name, wanted) for name in names] for names in FILES]
                for layout, (acc_name, gyro_name) in enumerate(FILES):
                    acc, gyro = (r.result() for r in reads[layout])
                    reads[layout] = None
                    w.count('device streams without accelerometer dropped', len(set(gyro) - set(acc)))
                    where = str(root / acc_name)
                    jobs = [(user, device, pool.submit(device_ops, acc[(user, device)], gyro[(user, device)], user,
                                                       device, where, w.rate_hz) if (user, device) in gyro else None)
                            for user, device in sorted(acc)]
                    del acc, gyro
                    for user, device, job in jobs:
                        if job is None:
                            w.count('device streams without gyroscope dropped')
                        else:
                            write_ops(w, job.result(), user, device, layout, where)
                    del jobs
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    return w.meta
