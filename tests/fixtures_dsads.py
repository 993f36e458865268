"""Tiny DSADS fixtures: data/aNN/pM/sKK.txt, exactly 125 rows x 45 comma-separated values
(5 units x acc, gyro, mag), 25 Hz. Accelerometers hold gravity on z; torso acc x encodes the
file number and row so that a test can check the file order.
"""
from pathlib import Path

import numpy as np

FILES = 2          # segment files per (activity, subject); the real data has 60


def segment(activity, subject, k):
    """(125, 45): torso acc x encodes the file number, accelerometers hold gravity."""
    rng = np.random.default_rng(activity * 100 + subject * 10 + k)
    x = 0.05 * rng.standard_normal((125, 45))
    for unit in range(5):
        x[:, unit * 9 + 2] += 9.8                       # acc z
        x[:, unit * 9 + 6:unit * 9 + 9] += 0.6          # mag, normalised field
    x[:, 0] = k + np.arange(125) / 1000                 # torso acc x: file k, row r
    return x


def write_file(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(','.join(f'{v:.5g}' for v in row) + '\n' for row in x))


def write_dsads(base, activities=(1, 12), subjects=(1, 2)):
    """base/data/aNN/pM/sKK.txt -> the data folder."""
    data = Path(base) / 'data'
    for a in activities:
        for p in subjects:
            for k in range(1, FILES + 1):
                write_file(data / f'a{a:02d}' / f'p{p}' / f's{k:02d}.txt', segment(a, p, k))
    return data


def break_dsads(raw):
    """The last file (a12/p2/s02) cut to 100 rows: the conversion fails after writing the others."""
    write_file(Path(raw) / 'a12' / 'p2' / 's02.txt', segment(12, 2, 2)[:100])
    return ['a12/p2/s02.txt', 'expected 125 rows of 45 values, found 100']
