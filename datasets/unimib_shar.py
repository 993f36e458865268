"""unimib_shar: UniMiB SHAR, smartphone accelerometer windows of daily activities and falls.

Raw layout (UniMiB-SHAR/data/, or any folder up to three levels above it):
    acc_data.mat     variable `acc_data`, N x 453 doubles: 151 x values, then 151 y, then 151 z
                     (three blocks, not interleaved), one ~3 s window at 50 Hz per row
    acc_labels.mat   variable `acc_labels`, N x 3: activity 1..17, subject 1..30, trial
    acc_names.mat    optional, variable `acc_names`, 2 x 17 cells: descriptions, class names;
                     when present, its class names must match the codes below
Only the 17-class files (AF-17) are read; the adl_*, fall_*, two_classes_* and full_data.mat
files hold the same recordings. Each window becomes one recording (one segment).

Units: the format doc reports a CONFLICT (m/s^2 measured on the .mat files, g in a Kaggle CSV
copy). We assume m/s^2 with gravity and check it: the median window magnitude must lie in
5..15 m/s^2; a median in 0.5..1.5 means g, which is converted (counted, and noted in the
source). Anything else is refused. The phone was in a trouser pocket (right pocket for the
first half of each subject's trials, left pocket for the second half).
"""

import numpy as np
import scipy.io

from datasets.common import find_root, refuse_outside
from datasets.format import G, ConversionError, PreparedWriter, label_text, triad

NAME = 'unimib_shar'
RATE_HZ = 50.0
WINDOW = 151                 # samples per axis in one acc_data row
CLASS_NAMES = ['StandingUpFS', 'StandingUpFL', 'Walking', 'Running', 'GoingUpS', 'Jumping',
               'GoingDownS', 'LyingDownFS', 'SittingDown', 'FallingForw', 'FallingRight',
               'FallingBack', 'HittingObstacle', 'FallingWithPS', 'FallingBackSC', 'Syncope',
               'FallingLeft']   # acc_names row 1, code 1..17
LABELS = [  # code 1..17 -> (text, description)
    ('standing up from sitting', 'standing up from a sitting position'),
    ('standing up from lying', 'getting up from lying down to a standing position'),
    ('walking', 'walking on flat ground'),
    ('running', 'running on flat ground'),
    ('going upstairs', 'walking up a flight of stairs'),
    ('jumping', 'jumping up and down on the spot'),
    ('going downstairs', 'walking down a flight of stairs'),
    ('lying down from standing', 'lying down from a standing position'),
    ('sitting down', 'sitting down on a chair from standing'),
    ('falling forward', 'falling forward onto the ground'),
    ('falling right', 'falling sideways to the right onto the ground'),
    ('falling backward', 'falling backward onto the ground'),
    ('hitting an obstacle', 'falling after hitting an obstacle, with contact before reaching the ground'),
    ('falling with protection strategies', 'falling while using the arms to break the fall'),
    ('falling backward into a chair', 'falling backward and ending up sitting on a chair'),
    ('syncope', 'fainting, a loss of consciousness that makes the person collapse'),
    ('falling left', 'falling sideways to the left onto the ground'),
]
LAYOUT = triad('acc', 'm/s^2', 'trouser pocket', 'smartphone', gravity=True)
SOURCE = {'title': 'UniMiB SHAR: a dataset for human activity recognition using acceleration '
                   'data from smartphones',
          'url': 'http://www.sal.disco.unimib.it/technologies/unimib-shar/',
          'licence': 'not stated for the data (the article is CC BY 4.0)',
          'citation': 'Micucci, Mobilio, Napoletano, Applied Sciences 7(10):1101 (2017)'}


def load_variable(path, name):
    """One variable of a MATLAB file; errors name the file and the variable."""
    if not path.exists():
        raise ConversionError(f'{path}: file not found')
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:   # scipy raises several types for damaged or non-MATLAB files
        raise ConversionError(f'{path}: not a readable MATLAB file ({e})') from None
    if name not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise ConversionError(f'{path}: expected a variable "{name}", found {found}')
    return mat[name]


def read_windows(path):
    """acc_data.mat -> float64 (N, 151, 3): samples x axes."""
    data = load_variable(path, 'acc_data')
    if data.ndim != 2 or data.shape[1] != 3 * WINDOW or not np.issubdtype(data.dtype, np.number):
        raise ConversionError(f'{path}: acc_data must be an N x {3 * WINDOW} numeric matrix '
                              f'(151 x, 151 y, 151 z per row), got {data.dtype} {data.shape}')
    return data.astype(np.float64).reshape(len(data), 3, WINDOW).transpose(0, 2, 1)


def read_labels(path, n_windows):
    """acc_labels.mat -> int (N, 3): activity 1..17, subject, trial."""
    labels = load_variable(path, 'acc_labels')
    if labels.ndim != 2 or labels.shape[1] < 2 or len(labels) != n_windows:
        raise ConversionError(f'{path}: acc_labels must be a {n_windows} x 3 matrix (activity, '
                              f'subject, trial) matching acc_data, got {labels.shape}')
    labels = np.asarray(labels, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(labels).all(1) | (labels != np.round(labels)).any(1))
    if len(bad):
        raise ConversionError(f'{path}: row {bad[0] + 1}: expected integers, found {labels[bad[0]]}')
    labels = labels.astype(np.int64)
    refuse_outside(path, labels[:, 0], 1, len(LABELS), 'activity code', lambda i: f'row {i + 1}')
    return labels


def check_names(path):
    """acc_names.mat, if present, must list CLASS_NAMES in code order (in a row or a column)."""
    if not path.exists():
        return
    cells = load_variable(path, 'acc_names')
    expected = [label_text(n) for n in CLASS_NAMES]
    for table in (cells, cells.T):
        for row in table:
            names = [label_text(np.ravel(c)[0]) if np.size(c) else '' for c in row]
            if names == expected:
                return
    raise ConversionError(f'{path}: its class names do not match the expected codes 1..17: '
                          f'{", ".join(CLASS_NAMES)}')


def acc_scale(windows, where):
    """Factor to m/s^2 from the median window magnitude; refuses implausible units."""
    magnitude = np.nanmedian(np.linalg.norm(windows, axis=2), axis=1)
    median = float(np.nanmedian(magnitude))
    if 5.0 <= median <= 15.0:
        return 1.0, median
    if 0.5 <= median <= 1.5:
        return G, median
    raise ConversionError(f'{where}: median acceleration magnitude {median:.3g} fits neither m/s^2 '
                          f'(5..15) nor g (0.5..1.5); is this the UniMiB SHAR acc_data.mat?')


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert the raw UniMiB SHAR folder `raw` into `out_root/unimib_shar`.

    `subjects`: optional subset of subject ids (1..30).
    """
    root = find_root(raw, 'acc_data.mat')
    windows = read_windows(root / 'acc_data.mat')
    table = read_labels(root / 'acc_labels.mat', len(windows))
    check_names(root / 'acc_names.mat')
    scale, median = acc_scale(windows, root / 'acc_data.mat')
    source = dict(SOURCE, notes=[f'median window |acc| {median:.2f} in the raw units: '
                                 + ('m/s^2 assumed' if scale == 1.0 else 'g, converted to m/s^2')])
    with PreparedWriter(out_root, NAME, LABELS, [LAYOUT], source, rate_hz) as w:
        for i, (window, (activity, subject)) in enumerate(zip(windows, table[:, :2])):
            if subjects is not None and subject not in subjects:
                continue
            if np.isnan(window).all(0).any():
                w.count('windows with an axis entirely NaN dropped')
                continue
            if scale != 1.0:
                w.count('windows converted from g to m/s^2')
            w.add_recording(window * scale, activity - 1, subject=subject, rate_hz=RATE_HZ,
                            where=f'{root / "acc_data.mat"}: row {i + 1}')
    return w.meta
