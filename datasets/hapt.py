"""hapt: UCI Smartphone-Based Recognition of Human Activities and Postural Transitions (v2.1).

Raw layout (zip root, or any folder above it):
    RawData/acc_expXX_userYY.txt    3 space-separated columns, g, 50 Hz
    RawData/gyro_expXX_userYY.txt   3 columns, rad/s
    RawData/labels.txt              'exp user activity start end', 1-based inclusive sample indices
Samples no label row covers are unlabelled (-1). Accelerometer converted g -> m/s^2.
"""
import re

import numpy as np

from datasets.common import find_root, read_numeric, refuse_outside
from datasets.format import G, ConversionError, PreparedWriter, acc_gyro

NAME = 'hapt'
RATE_HZ = 50.0
LABELS = [  # code 1..12 -> (text, description)
    ('walking', 'walking on flat ground'),
    ('walking upstairs', 'walking up a flight of stairs'),
    ('walking downstairs', 'walking down a flight of stairs'),
    ('sitting', 'sitting still on a chair'),
    ('standing', 'standing still upright'),
    ('lying', 'lying down still on the back'),
    ('stand to sit', 'sitting down from standing, a postural transition'),
    ('sit to stand', 'standing up from sitting, a postural transition'),
    ('sit to lie', 'lying down from sitting, a postural transition'),
    ('lie to sit', 'sitting up from lying, a postural transition'),
    ('stand to lie', 'lying down from standing, a postural transition'),
    ('lie to stand', 'standing up from lying, a postural transition'),
]
LAYOUT = acc_gyro('waist', 'smartphone')
SOURCE = {'title': 'Smartphone-Based Recognition of Human Activities and Postural Transitions',
          'url': 'https://doi.org/10.24432/C54G7M', 'licence': 'CC BY 4.0',
          'citation': 'Reyes-Ortiz, Oneto, Samà, Parra, Anguita, Neurocomputing 171 (2016)'}


def read_labels(path):
    """labels.txt -> int array (rows, 5): exp, user, activity, start, end (1-based inclusive)."""
    rows = read_numeric(path, sep=r'\s+', n_cols=5)
    if (rows != np.round(rows)).any():
        raise ConversionError(f'{path}: expected integers only')
    rows = rows.astype(np.int64)
    refuse_outside(path, rows[:, 2], 1, len(LABELS), 'activity code')
    bad = np.flatnonzero((rows[:, 3] < 1) | (rows[:, 4] < rows[:, 3]))
    if len(bad):
        raise ConversionError(f'{path}: line {bad[0] + 1}: bad sample range {rows[bad[0], 3]}..{rows[bad[0], 4]}')
    return rows


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert the raw HAPT folder `raw` into `out_root/hapt`. `subjects`: optional subset of user ids
    (1 or '1')."""
    wanted = None if subjects is None else {int(s) for s in subjects}
    root = find_root(raw, 'RawData') / 'RawData'
    table = read_labels(root / 'labels.txt')
    acc_files = sorted(root.glob('acc_exp*_user*.txt'))
    if not acc_files:
        raise ConversionError(f'{root}: no acc_expXX_userYY.txt files')
    with PreparedWriter(out_root, NAME, LABELS, [LAYOUT], SOURCE, rate_hz) as w:
        for acc_path in acc_files:
            exp, user = map(int, re.match(r'acc_exp(\d+)_user(\d+)\.txt', acc_path.name).groups())
            if wanted is not None and user not in wanted:
                continue
            gyro_path = root / acc_path.name.replace('acc_', 'gyro_')
            acc = read_numeric(acc_path, sep=r'\s+', n_cols=3)
            gyro = read_numeric(gyro_path, sep=r'\s+', n_cols=3)
            if len(acc) != len(gyro):
                raise ConversionError(f'{gyro_path}: {len(gyro)} rows, but {acc_path.name} has {len(acc)}')
            labels = np.full(len(acc), -1, np.int64)
            for _, u, act, start, end in table[table[:, 0] == exp]:
                if u != user:
                    raise ConversionError(f'{root / "labels.txt"}: experiment {exp} listed for user {u}, '
                                          f'but its files are for user {user}')
                if end > len(acc):
                    raise ConversionError(f'{root / "labels.txt"}: experiment {exp} segment ends at sample '
                                          f'{end}, but {acc_path.name} has only {len(acc)} rows')
                labels[start - 1:end] = act - 1
            w.add_recording(np.concatenate([acc * G, gyro], 1), labels, subject=user,
                            rate_hz=RATE_HZ, where=str(acc_path))
    return w.meta
