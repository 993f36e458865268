"""Tiny KU-HAR fixtures: KU-HAR/1.Raw_time_domian_data/<id>.<Name>/<subject>_<letter>_<trial>.csv,
8 comma-separated columns without header (acc time, ax, ay, az, gyro time, gx, gy, gz), ~100 Hz.
One file's time columns are in milliseconds, the others in seconds (the dataset's unit conflict).
"""
from pathlib import Path

import numpy as np

RAW = '1.Raw_time_domian_data'


def table(n=200, unit=1.0, gravity=True, seed=0):
    """(n, 8): acc time, ax, ay, az, gyro time, gx, gy, gz; time in seconds * 1/unit, ~100 Hz."""
    rng = np.random.default_rng(seed)
    t = 3.0 + np.arange(n) * 0.01 + rng.uniform(0, 0.002, n)
    acc = 0.2 * rng.standard_normal((n, 3)) + ([0.3, 9.7, 0.5] if gravity else 0.0)
    gyro = 0.1 * np.sin(np.arange(n)[:, None] / 10 + np.arange(3))
    return np.column_stack([t / unit, acc, (t + 0.001) / unit, gyro])


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(','.join(f'{v:.6f}' for v in row) + '\n' for row in rows))


def write_ku_har(base, folder=RAW, gravity=True, walk_backwards='12.Walk-backwards'):
    """base/KU-HAR/<folder>/{0.Stand, 11.Walk, 12.Walk-backwards}/*.csv -> base/KU-HAR (holds <folder>)."""
    root = Path(base) / 'KU-HAR'
    write_csv(root / folder / '0.Stand' / '1001_A_1.csv', table(unit=1.0, gravity=gravity, seed=1))
    write_csv(root / folder / '11.Walk' / '1002_L_1.csv', table(unit=0.001, gravity=gravity, seed=2))
    write_csv(root / folder / walk_backwards / '1001_M_2.csv', table(unit=1.0, gravity=gravity, seed=3))
    return root


def break_ku_har(raw):
    """The standing file reduced to one row of 3 values."""
    path = next(Path(raw).rglob('1001_A_1.csv'))
    path.write_text('1,2,3\n')
    return ['1001_A_1.csv', 'expected 8 columns, found 3']
