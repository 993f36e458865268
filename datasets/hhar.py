"""hhar: Heterogeneity Activity Recognition (Stisen et al. 2015), phones at the waist and smartwatches.

Raw layout (the extracted `Activity recognition exp` folder or any folder up to three levels above
it; or the UCI download `heterogeneity+activity+recognition.zip` itself, whose nested
`Activity recognition exp.zip` is unpacked to a temporary folder; `Still exp` is not used):
    Phones_accelerometer.csv, Phones_gyroscope.csv, Watch_accelerometer.csv, Watch_gyroscope.csv
Each CSV has the header `Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt`;
Creation_Time is the OS timestamp in ns, x/y/z are m/s^2 (accelerometer, gravity included) or
rad/s (gyroscope), User is a..i, Device e.g. `nexus4_1`, gt one of stand, sit, walk, stairsup,
stairsdown, bike or `null` (-> unlabelled, -1). The files are over 1 GB: they are cut at line
ends into pieces of about CHUNK_BYTES, parsed two at a time in threads (pandas' C parser releases
the GIL) with all 10 columns (so that a line with extra fields is an error rather than silently
truncated), categorical text columns and `keep_default_na=False` so that `null` stays a string.
The devices' alignment runs in threads too; what is written is the same as one thread's.

Accelerometer and gyroscope are separate, unaligned streams at device-dependent rates (50-200 Hz)
with jittery timestamps. Per (User, Device) each stream is sorted by Creation_Time (repeated
stamps dropped, counted); per run of one gt value in the accelerometer stream, the accelerometer
is put on a uniform grid (`uniform_from_timestamps`, split at gaps > 1 s) at the device's rate
(median timestamp step of the faster stream, rounded to 1 Hz), the gyroscope is interpolated onto
the same grid where it has no gap, and the aligned (T, 6) signal goes to `add_recording` at that
grid rate (which resamples it, anti-aliased, to the stored rate). Labels come from the
accelerometer stream. Grid samples without a gyroscope neighbour are dropped (counted); devices
without gyroscope rows (samsungold) are dropped (counted), since every segment needs 6 channels.

Layout 0 is the phone (waist pouch), layout 1 the watch (worn on the arm; which arm is not stated).
"""
import numpy as np
import pandas as pd

from datasets.common import (align, file_lines, find_root, first_bad_line, line_ranges, median_rate, ordered_map,
                             raw_folder, read_range, sort_dedupe)
from datasets.format import ConversionError, PreparedWriter, acc_gyro, runs

NAME = 'hhar'
CHUNK_BYTES = 32 << 20           # the CSVs are parsed in pieces of about this size...
THREADS = 2                      # ...and pieces and devices are processed in this many threads
MAX_GAP_S = 1.0
RATE_RANGE_HZ = (5.0, 1000.0)     # plausible device rates; anything else means broken timestamps
COLUMNS = ['Index', 'Arrival_Time', 'Creation_Time', 'x', 'y', 'z', 'User', 'Model', 'Device', 'gt']
DTYPES = {'Index': np.int64, 'Arrival_Time': np.int64, 'Creation_Time': np.int64,
          'x': np.float32, 'y': np.float32, 'z': np.float32,
          'User': 'category', 'Model': 'category', 'Device': 'category', 'gt': 'category'}
CODES = ['stand', 'sit', 'walk', 'stairsup', 'stairsdown', 'bike']   # gt value -> LABELS index
NULL = 'null'
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

def read_csv(path, wanted=None):
    """One HHAR CSV -> {(user, device): (t_ns (T,) int64, xyz (T, 3) float32, labels (T,) int64)}.

    Rows of `wanted` users only; each stream in file order (not yet sorted by time). Parsed in
    pieces of CHUNK_BYTES so that memory stays near the size of the kept arrays. Errors name the
    file and the first bad line.
    """
    if not path.exists():
        raise ConversionError(f'{path}: file not found (expected the 4 CSVs of "Activity recognition exp")')
    with open(path, errors='replace') as f:
        header = f.readline().strip().split(',')
    if header != COLUMNS:
        raise ConversionError(f'{path}: line 1: expected the header {",".join(COLUMNS)}, '
                              f'found {",".join(header)[:200]}')
    pairs, parts = {}, []
    parse = lambda lo_hi: pd.read_csv(read_range(path, *lo_hi), header=None, names=COLUMNS, engine='c',  # noqa: E731
                                      dtype=DTYPES, keep_default_na=False, na_filter=False, index_col=False)
    try:
        for chunk in ordered_map(parse, line_ranges(path, CHUNK_BYTES), THREADS):
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

def device_pieces(acc, gyro, user, device, where):
    """One (user, device)'s accelerometer and gyroscope streams, aligned per gt run.

    acc: (t_ns, xyz, labels), gyro: (t_ns, xyz). Returns (rate_hz, [(piece (T, 6), label)],
    {repair: count}); pure, so that devices can be aligned in threads."""
    (ta, xa, la, n_a), (tb, xb, n_b) = sort_dedupe(*acc), sort_dedupe(gyro[0], gyro[1])
    counts = {'duplicate timestamps dropped': n_a + n_b}
    if len(ta) < 2 or len(tb) < 2:
        return None, [], {**counts, 'device streams with fewer than 2 samples dropped': 1}
    t0 = min(ta[0], tb[0])
    ta, tb = (ta - t0) * 1e-9, (tb - t0) * 1e-9                       # ns -> s, shared origin
    rate = round(max(median_rate(ta), median_rate(tb)))
    if not RATE_RANGE_HZ[0] <= rate <= RATE_RANGE_HZ[1]:
        raise ConversionError(f'{where}: user {user}, device {device}: timestamps give {rate} Hz, '
                              f'expected {RATE_RANGE_HZ[0]:g}..{RATE_RANGE_HZ[1]:g} Hz')
    out, dropped = [], 0
    for start, length, label in zip(*runs(la)):
        seg = slice(start, start + length)
        lo = max(np.searchsorted(tb, ta[start]) - 1, 0)
        hi = np.searchsorted(tb, ta[start + length - 1], 'right') + 1
        pieces, n = align(ta[seg], xa[seg], tb[lo:hi], xb[lo:hi], rate, MAX_GAP_S)
        out += [(piece, int(label)) for piece in pieces]
        dropped += n
    return rate, out, {**counts, 'grid samples without both sensors dropped': dropped}


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw HHAR (folder or outer zip) into `out_root/hhar`. `subjects`: optional subset of users a..i."""
    wanted = None if subjects is None else {str(s) for s in subjects}
    keep = lambda name: 'Still exp' not in name                                  # noqa: E731
    with raw_folder(raw, out_root, keep, FILES[0][0]) as folder:
        root = find_root(folder, FILES[0][0])
        with PreparedWriter(out_root, NAME, LABELS, LAYOUTS, SOURCE, rate_hz) as w:
            for layout, (acc_name, gyro_name) in enumerate(FILES):
                acc = read_csv(root / acc_name, wanted)
                gyro = read_csv(root / gyro_name, wanted)
                w.count('device streams without accelerometer dropped', len(set(gyro) - set(acc)))
                w.count('device streams without gyroscope dropped', len(set(acc) - set(gyro)))
                both = [pair for pair in sorted(acc) if pair in gyro]
                where = str(root / acc_name)
                align_one = lambda pair: device_pieces(acc[pair], gyro[pair], *pair, where)  # noqa: E731
                for (user, device), (rate, pieces, counts) in zip(both, ordered_map(align_one, both, THREADS)):
                    for what, n in counts.items():
                        w.count(what, n)
                    for piece, label in pieces:
                        w.add_recording(piece, label, subject=user, rate_hz=rate, layout=layout,
                                        where=f'{where} user {user} device {device}')
    return w.meta
