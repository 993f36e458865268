"""bench.py's conversion benchmark: datasets.hhar.convert on a generated raw folder in HHAR's CSV
layout, against plain pandas.read_csv of the same files.

The generator writes HHAR's `Activity recognition exp` folder at any size (HHAR's columns,
jittered timestamps, gt runs of 20-60 s); tests/fixtures_raw_a.py writes the small hand-made one
with the converter's quirks. The timing runs in a fresh process (`python bench.py --child convert`,
see bench.run_child), so that nothing of the benchmark so far runs alongside.
"""
import json
import time
from pathlib import Path

import numpy as np

SEED = 0
HHAR_HEADER = ['Index', 'Arrival_Time', 'Creation_Time', 'x', 'y', 'z', 'User', 'Model', 'Device', 'gt']
HHAR_PHONES = [('nexus4', 'nexus4_1', 200), ('nexus4', 'nexus4_2', 200), ('s3', 's3_1', 150), ('s3mini', 's3mini_1', 100)]
HHAR_WATCHES = [('gear', 'gear_1', 100)]
HHAR_GT = ['stand', 'sit', 'walk', 'stairsup', 'stairsdown', 'bike', 'null']
HHAR_T0 = 1_424_696_631_913_248_572                    # ns, HHAR's first Creation_Time
USERS = list('abcdefghi')


# ------------------------------------------------------------------------ HHAR-format CSVs

def hhar_stream(user, model_name, device, rate, n, gyro, rng, t0_ns):
    """Rows of one (user, device) stream: jittered timestamps at `rate`, gt runs of 20-60 s (some `null`)."""
    period = 1e9 / rate
    t = t0_ns + np.cumsum(np.full(n, period) * rng.uniform(0.9, 1.1, n)).astype(np.int64)
    run = rng.integers(int(20 * rate), int(60 * rate), n // int(20 * rate) + 1)
    gt = np.repeat(rng.integers(0, len(HHAR_GT), len(run)), run)[:n]
    xyz = rng.normal(0, 0.5 if gyro else 2.0, (n, 3)) + (0 if gyro else np.array([0.0, 0.0, 9.81]))
    return {'Arrival_Time': t // 1_000_000 + 1500, 'Creation_Time': t, 'x': xyz[:, 0].astype(np.float32),
            'y': xyz[:, 1].astype(np.float32), 'z': xyz[:, 2].astype(np.float32),
            'User': np.full(n, user), 'Model': np.full(n, model_name), 'Device': np.full(n, device),
            'gt': np.array(HHAR_GT)[gt]}


def write_hhar_csv(path, streams):
    """One HHAR CSV file (header, running Index) of the streams' rows, in stream order."""
    import pandas as pd
    cols = {k: np.concatenate([s[k] for s in streams]) for k in HHAR_HEADER[1:]}
    df = pd.DataFrame({'Index': np.arange(len(cols['x'])), **cols})[HHAR_HEADER]
    df.to_csv(path, index=False, float_format='%.7g')


def write_hhar_raw(folder, phone_acc_rows):
    """A raw HHAR folder: Phones_accelerometer.csv with about phone_acc_rows rows (9 users x 4
    phones); the phone gyroscope covers the same time at 4 Hz (so every accelerometer sample is
    aligned and converted) and the watch files are small. Returns the CSV paths."""
    rng = np.random.default_rng(SEED)
    folder = Path(folder) / 'Activity recognition exp'
    folder.mkdir(parents=True)
    per = phone_acc_rows // (len(USERS) * len(HHAR_PHONES))
    acc, gyro = [], []
    for u in USERS:
        for model_name, device, rate in HHAR_PHONES:
            t0 = HHAR_T0 + rng.integers(0, 10 ** 12)
            acc.append(hhar_stream(u, model_name, device, rate, per, False, rng, t0))
            gyro.append(hhar_stream(u, model_name, device, 4, int(per * 4 / rate) + 8, True, rng, t0 - 10 ** 8))
    w_acc = [hhar_stream(u, m, d, r, 6000, False, rng, HHAR_T0) for u in 'ab' for m, d, r in HHAR_WATCHES]
    w_gyro = [hhar_stream(u, m, d, r, 6000, True, rng, HHAR_T0 - 10 ** 7) for u in 'ab' for m, d, r in HHAR_WATCHES]
    paths = []
    for name, streams in (('Phones_accelerometer.csv', acc), ('Phones_gyroscope.csv', gyro),
                          ('Watch_accelerometer.csv', w_acc), ('Watch_gyroscope.csv', w_gyro)):
        write_hhar_csv(folder / name, streams)
        paths.append(folder / name)
    return paths


# ------------------------------------------------------------------------ the benchmark

def timed(fn):
    """fn() -> (its result, wall seconds, process CPU seconds (all threads))."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def convert_child(tmp, reps):
    """(Run in a fresh process, so that nothing of the benchmark so far runs alongside.) Time
    datasets.hhar.convert of tmp/hhar_raw and plain pandas.read_csv of its four CSV files,
    alternating, `reps` times each; print the medians of wall time and of process CPU time (all
    threads) as JSON."""
    import pandas as pd
    from datasets import hhar
    raw = Path(tmp) / 'hhar_raw'
    paths = sorted(raw.rglob('*.csv'))
    for p in paths:                                              # page cache warm for both
        p.read_bytes()
    reader, conv = [], []
    for _ in range(reps):
        reader.append(timed(lambda: [pd.read_csv(p) for p in paths])[1:])
        meta, *tc = timed(lambda: hhar.convert(raw, Path(tmp) / 'hhar_prepared'))
        conv.append(tc)
    (rw, rc), (cw, cc) = np.median(reader, 0), np.median(conv, 0)
    print(json.dumps({'reader_s': rw, 'convert_s': cw, 'reader_cpu_s': rc, 'convert_cpu_s': cc,
                      'prepared_samples': meta['n_samples'], 'reader_wall_cpu_s': reader, 'convert_wall_cpu_s': conv}))


def bench_convert(tmp, rows, reps, run_child):
    """datasets.hhar.convert against plain pandas.read_csv of the same four files (generated
    here, timed in a fresh process started by run_child(args, timeout)): the wall-time ratio is
    the headline; the CPU-time ratio is reported with it (pandas 3's plain read_csv parses with a
    helper thread when a core is free, so its wall time can be below its CPU time; the converter
    runs on one thread)."""
    try:
        from datasets import hhar                                # noqa: F401
    except ImportError as e:
        return {'available': False, 'reason': f'datasets.hhar cannot be imported: {e}'}
    t0 = time.perf_counter()
    paths = write_hhar_raw(Path(tmp) / 'hhar_raw', rows)
    gen_s = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    r = run_child(['--child', 'convert', '--data', str(tmp), '--reps', str(reps)], timeout=600)
    return {'available': True, 'raw_mb': size_mb, 'big_file_mb': paths[0].stat().st_size / 1e6,
            'generate_s': gen_s, 'reps': reps, **r,
            'reader_mb_per_s': size_mb / r['reader_s'], 'convert_mb_per_s': size_mb / r['convert_s'],
            'convert_over_reader_ratio': r['convert_s'] / r['reader_s'],
            'convert_over_reader_ratio_cpu': r['convert_cpu_s'] / r['reader_cpu_s']}
