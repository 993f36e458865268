"""Tiny HAPT fixtures, written like the UCI release (v2.1): <folder>/RawData/acc_expXX_userYY.txt and
gyro_expXX_userYY.txt (3 space-separated values per row, 9 decimals, LF; accelerometer in g,
gyroscope in rad/s, 50 Hz) and RawData/labels.txt ('exp user activity start end', 1-based
inclusive sample indices, one segment a line, sorted by experiment and start), beside the
release's activity_labels.txt.

Signals encode what the tests check: each experiment's accelerometer holds STILL_ACC g at rest
and its gyroscope x holds GYRO_X[exp] rad/s, so a segment's experiment can be recognised; the
walking rows add a wave. Samples that no labels.txt row covers are unlabelled.
"""
from pathlib import Path

import numpy as np

RATE_HZ = 50
STILL_ACC = (1.0, 0.0, 0.0)              # g: the waist phone's x axis points up
# (experiment, user, rows, [(activity code, first sample, last sample)], 1-based inclusive)
EXPERIMENTS = [(1, 1, 220, [(5, 21, 100), (1, 121, 200)]),          # standing, walking
               (2, 1, 130, [(4, 11, 90), (8, 91, 110)]),            # sitting, sit to stand
               (3, 2, 100, [(6, 1, 100)])]                          # lying, every sample labelled
GYRO_X = {1: 0.5, 2: 0.625, 3: -0.25}                               # rad/s while still
ACTIVITY_LABELS = ('1 WALKING\n2 WALKING_UPSTAIRS\n3 WALKING_DOWNSTAIRS\n4 SITTING\n5 STANDING\n6 LAYING\n'
                   '7 STAND_TO_SIT\n8 SIT_TO_STAND\n9 SIT_TO_LIE\n10 LIE_TO_SIT\n11 STAND_TO_LIE\n12 LIE_TO_STAND\n')


def file_stem(exp, user):
    return f'exp{exp:02d}_user{user:02d}'


def signals(exp, rows, segments):
    """-> acc (rows, 3) in g, gyro (rows, 3) in rad/s of one experiment."""
    t = np.arange(rows) / RATE_HZ
    walking = np.zeros(rows, bool)
    for code, start, end in segments:
        walking[start - 1:end] |= code in (1, 2, 3)
    wave = np.sin(2 * np.pi * 1.8 * t[:, None] + np.arange(3)) * walking[:, None]
    acc = np.array(STILL_ACC) + 0.3 * wave
    gyro = np.array([GYRO_X[exp], 0.0, 0.0]) + 1.5 * wave
    return acc, gyro


def table_text(x):
    return ''.join(' '.join(f'{v:.9f}' for v in row) + '\n' for row in x)


def write_hapt(base):
    """base/HAPT Data Set/{RawData/..., activity_labels.txt} -> base/HAPT Data Set (what --raw points at)."""
    root = Path(base) / 'HAPT Data Set'
    raw = root / 'RawData'
    raw.mkdir(parents=True)
    labels = []
    for exp, user, rows, segments in EXPERIMENTS:
        acc, gyro = signals(exp, rows, segments)
        (raw / f'acc_{file_stem(exp, user)}.txt').write_text(table_text(acc))
        (raw / f'gyro_{file_stem(exp, user)}.txt').write_text(table_text(gyro))
        labels += [f'{exp} {user} {code} {start} {end}\n' for code, start, end in segments]
    (raw / 'labels.txt').write_text(''.join(labels))
    (root / 'activity_labels.txt').write_text(ACTIVITY_LABELS)
    return root


def break_hapt(raw):
    """Line 7 of the last experiment's gyroscope file (read after the others were written) loses a value."""
    path = Path(raw) / 'RawData' / f'gyro_{file_stem(3, 2)}.txt'
    lines = path.read_text().split('\n')
    lines[6] = lines[6].rsplit(' ', 1)[0]
    path.write_text('\n'.join(lines))
    return [f'gyro_{file_stem(3, 2)}.txt', 'line 7', 'expected 3 values, found 2']
