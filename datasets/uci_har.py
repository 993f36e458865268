"""uci_har: UCI Human Activity Recognition Using Smartphones (v1.0), Samsung Galaxy S II on the waist.

Raw layout (the extracted `UCI HAR Dataset` folder or any folder up to three levels above it; or
the UCI download `human+activity+recognition+using+smartphones.zip` itself, whose nested
`UCI HAR Dataset.zip` is unpacked to a temporary folder):
    UCI HAR Dataset/{train,test}/y_<split>.txt          one activity code 1..6 per line
    UCI HAR Dataset/{train,test}/subject_<split>.txt    one subject id 1..30 per line
    UCI HAR Dataset/{train,test}/Inertial Signals/{total_acc,body_acc,body_gyro}_{x,y,z}_<split>.txt
        one 128-sample window (2.56 s at 50 Hz) per row, whitespace-separated, fixed-width
        scientific notation with leading spaces (' 1.0128170e+000 ...')
Row i of every file of a split describes the same window. total_acc is in g (gravity included),
body_gyro in rad/s. We keep total_acc (converted to m/s^2) and body_gyro; body_acc is total_acc
minus a low-pass gravity estimate, so it adds nothing (only its row count is checked, if present).
Train and test are both converted (their subjects are disjoint). Windows overlap by 50 %; each
window becomes its own recording (one segment), so no sample is de-duplicated and no window
crosses another.
"""
import re

import numpy as np

from datasets.common import find_root, line_of_row, raw_folder, read_numeric
from datasets.format import G, ConversionError, PreparedWriter, acc_gyro

NAME = 'uci_har'
RATE_HZ = 50.0
WINDOW = 128                     # samples per row
SPLITS = ('train', 'test')
SIGNALS = [f'total_acc_{a}' for a in 'xyz'] + [f'body_gyro_{a}' for a in 'xyz']
UNUSED = [f'body_acc_{a}' for a in 'xyz']       # total_acc minus gravity: only its row count is checked
LABELS = [  # code 1..6 -> (text, description)
    ('walking', 'walking on flat ground'),
    ('walking upstairs', 'walking up a flight of stairs'),
    ('walking downstairs', 'walking down a flight of stairs'),
    ('sitting', 'sitting still on a chair'),
    ('standing', 'standing still upright'),
    ('lying', 'lying down still on the back'),
]
LAYOUT = acc_gyro('waist', 'smartphone')
SOURCE = {'title': 'Human Activity Recognition Using Smartphones',
          'url': 'https://doi.org/10.24432/C54S4K',
          'licence': 'CC BY 4.0 per the UCI record; the README asks for citation and prohibits '
                     'commercial use',
          'citation': 'Anguita, Ghio, Oneto, Parra, Reyes-Ortiz, IWAAL 2012; '
                      'Reyes-Ortiz, Anguita, Ghio, Oneto, Parra (2013), UCI'}


# ---------------------------------------------------------------------------- reading

def count_rows(path):
    """Number of non-blank lines of a text file."""
    with open(path, 'rb') as f:
        return sum(1 for line in f if line.strip())


def read_codes(path, valid, what='code'):
    """A one-integer-per-line file -> int64 (N,); any value not in `valid` names its line."""
    values = read_numeric(path, sep=r'\s+', n_cols=1)[:, 0]
    ok = (values == np.round(values)) & np.isin(values, list(valid))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ConversionError(f'{path}: line {line_of_row(path, i)}: {what} {values[i]:g} does not '
                              f'exist (expected {min(valid)}..{max(valid)})')
    return values.astype(np.int64)


def read_split(root, split):
    """One split -> windows (N, 128, 6) float32 in m/s^2 and rad/s, labels (N,) 0-based, subjects (N,)."""
    folder = root / split
    y_path = folder / f'y_{split}.txt'
    labels = read_codes(y_path, range(1, len(LABELS) + 1), 'activity code') - 1
    subjects = read_codes(folder / f'subject_{split}.txt', range(1, 31), 'subject id')
    if len(subjects) != len(labels):
        raise ConversionError(f'{folder / f"subject_{split}.txt"}: {len(subjects)} rows, but '
                              f'{y_path.name} has {len(labels)}')
    channels = []
    for signal in SIGNALS:
        path = folder / 'Inertial Signals' / f'{signal}_{split}.txt'
        x = read_numeric(path, sep=r'\s+', n_cols=WINDOW)
        if len(x) != len(labels):
            raise ConversionError(f'{path}: {len(x)} rows, but {y_path.name} has {len(labels)} '
                                  f'(every file of a split holds one row per window)')
        channels.append(x)
    for signal in UNUSED:                                # rows must agree across all 9 files
        path = folder / 'Inertial Signals' / f'{signal}_{split}.txt'
        if path.exists() and (n := count_rows(path)) != len(labels):
            raise ConversionError(f'{path}: {n} rows, but {y_path.name} has {len(labels)} '
                                  f'(every file of a split holds one row per window)')
    windows = np.stack(channels, -1)                     # (N, 128, 6)
    windows[..., :3] *= G                                # total_acc: g -> m/s^2
    return windows.astype(np.float32), labels, subjects


def _keep_member(name):
    """Zip members worth extracting: nested zips, labels, subjects and the 9 signal files."""
    return (name.lower().endswith('.zip')
            or re.search(r'(^|/)(y|subject)_(train|test)\.txt$', name) is not None
            or re.search(r'Inertial Signals/(total_acc|body_acc|body_gyro)_[xyz]_(train|test)\.txt$',
                         name) is not None)


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw UCI HAR (folder or outer zip) into `out_root/uci_har`. `subjects`: subset of ids 1..30."""
    wanted = None if subjects is None else {str(s) for s in subjects}
    with raw_folder(raw, out_root, _keep_member, 'y_train.txt') as folder:
        root = find_root(folder, 'y_train.txt').parent
        with PreparedWriter(out_root, NAME, LABELS, [LAYOUT], SOURCE, rate_hz) as w:
            for split in SPLITS:
                windows, labels, subj = read_split(root, split)
                where = root / split / 'Inertial Signals'
                for i in range(len(windows)):
                    if wanted is None or str(subj[i]) in wanted:
                        w.add_recording(windows[i], labels[i], subject=subj[i], rate_hz=RATE_HZ,
                                        where=f'{where} row {i + 1}')
    return w.meta
