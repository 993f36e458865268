"""Tiny UniMiB SHAR fixtures: UniMiB-SHAR/data/acc_{data,labels,names}.mat with the real variable
names and shapes (acc_data N x 453: x, y, z blocks of 151 samples; acc_labels N x 3: activity
1..17, subject, trial; acc_names 2 x 17 cells). Windows are in m/s^2: x ramps within a window and
encodes its index, y is constant, z holds gravity.
"""
from pathlib import Path

import numpy as np
import scipy.io

from datasets import unimib_shar

ACTIVITIES = [1, 3, 10, 17, 3, 9]          # codes 1..17
SUBJECTS = [1, 1, 2, 2, 30, 30]


def windows(n):
    """(n, 151, 3) m/s^2: x ramps (to check the block order), y constant, z near gravity."""
    rng = np.random.default_rng(0)
    w = np.empty((n, 151, 3))
    w[:, :, 0] = np.arange(151) * 0.01 + np.arange(n)[:, None]
    w[:, :, 1] = -0.5
    w[:, :, 2] = 9.6 + 0.1 * rng.standard_normal((n, 151))
    return w


def write_unimib_shar(base, data=None, labels=None, names=True):
    """base/UniMiB-SHAR/data/acc_{data,labels,names}.mat -> the data folder."""
    folder = Path(base) / 'UniMiB-SHAR' / 'data'
    folder.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = windows(len(ACTIVITIES)).transpose(0, 2, 1).reshape(len(ACTIVITIES), 453)
    if labels is None:
        labels = np.array([ACTIVITIES, SUBJECTS, [1, 2, 1, 2, 1, 2]], np.uint8).T
    scipy.io.savemat(folder / 'acc_data.mat', {'acc_data': data})
    scipy.io.savemat(folder / 'acc_labels.mat', {'acc_labels': labels})
    if names:
        cells = np.empty((2, 17), dtype=object)
        for j, name in enumerate(unimib_shar.CLASS_NAMES):
            cells[0, j], cells[1, j] = f'description {j + 1}', name
        scipy.io.savemat(folder / 'acc_names.mat', {'acc_names': cells})
    return folder


def break_unimib_shar(raw):
    """Activity code 18 (codes are 1..17) in row 4 of acc_labels.mat."""
    labels = np.array([ACTIVITIES, SUBJECTS, [1] * len(ACTIVITIES)]).T
    labels[3, 0] = 18
    scipy.io.savemat(Path(raw) / 'acc_labels.mat', {'acc_labels': labels})
    return ['acc_labels.mat', 'row 4', 'activity code 18']
