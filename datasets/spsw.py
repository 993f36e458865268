"""spsw: smartphone and smartwatch inertial data of a Timed-Up-and-Go-like sequence
(Matey-Sanz, Casteleyn, Granell, Data in Brief 2023). Not one of the ten: an unseen evaluation set.

Raw layout (the DATA folder, or any folder up to three levels above it):
    sXX/sXX_YY_sp.csv    subject sXX (s01..s23), execution YY, smartphone
    sXX/sXX_YY_sw.csv    the same execution, smartwatch
    executions_info.csv  per execution: phone orientation (back, back_inv, front, front_inv),
                         direction of the two turns; optional, only summarised in the notes
    subjects_info.csv    age, gender, height, weight, dominant hand (not used)
Each CSV has the header x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label: accelerometer in
m/s^2 with gravity, gyroscope in rad/s, unix time in ms, ~100 Hz with jitter and repeated stamps.
One execution is one sequence: seated, stand up, walk 3 m, turn, walk back, turn, sit down.

Each file is put on a uniform 100 Hz grid from its timestamps (samples whose stamp repeats or
goes back are dropped, counted; gaps over 1 s split the file; empty or NaN values are
interpolated, counted). A grid point takes the label of the last raw sample at or before it. Layouts, in the order of `devices`: the smartphone in a trouser
pocket (the authors describe it as pocket-carried; its orientation in the pocket varies per
execution, see executions_info.csv, and does not change the layout) and the smartwatch on the
wrist (which wrist is not stated in the dataset's README).
"""
import re

import numpy as np
import pandas as pd

from datasets.common import file_lines, find_root, first_bad_line, table_check
from datasets.format import (ConversionError, PreparedWriter, acc_gyro, interpolate_nans,
                             uniform_from_timestamps)

NAME = 'spsw'
RATE_HZ = 100.0                 # grid rate for the jittered ~100 Hz streams
COLUMNS = ['x_acc', 'y_acc', 'z_acc', 'x_gyro', 'y_gyro', 'z_gyro', 'timestamp', 'label']
RAW_LABELS = ['SEATED', 'STANDING_UP', 'WALKING', 'TURNING', 'SITTING_DOWN']
LABELS = [  # RAW_LABELS order -> (text, description)
    ('sitting', 'sitting still on a chair before standing up or after sitting down'),
    ('standing up', 'standing up from a chair'),
    ('walking', 'walking straight ahead at a comfortable pace'),
    ('turning', 'turning around on the spot by about 180 degrees while walking'),
    ('sitting down', 'sitting down on a chair from standing'),
]
DEVICES = {'sp': acc_gyro('trouser pocket', 'smartphone'),
           'sw': acc_gyro('wrist', 'smartwatch')}
SOURCE = {'title': 'Dataset of inertial measurements of smartphones and smartwatches for human '
                   'activity recognition',
          'url': 'https://doi.org/10.5281/zenodo.8398688', 'licence': 'CC BY 4.0',
          'citation': 'Matey-Sanz, Casteleyn, Granell, Data in Brief 51:109809 (2023)'}
MAX_GAP_S = 1.0


def read_file(path):
    """One sXX_YY_{sp,sw}.csv -> (time s (T,), signal (T, 6), label index (T,))."""
    try:
        with open(path) as f:
            header = f.readline().strip()
    except FileNotFoundError:
        raise ConversionError(f'{path}: file not found') from None
    if header.split(',') != COLUMNS:
        raise ConversionError(f'{path}: line 1: expected the header {",".join(COLUMNS)}, found {header!r}')
    try:
        df = pd.read_csv(path, dtype={**dict.fromkeys(COLUMNS[:-1], np.float64), 'label': str},
                         engine='c', keep_default_na=False,
                         na_values=dict.fromkeys(COLUMNS[:6], ['', 'NaN', 'nan']))
    except (ValueError, pd.errors.ParserError):
        check = table_check(len(COLUMNS), ',', range(len(COLUMNS) - 1), '7 numbers and a label')
        where = first_bad_line(file_lines(path)[1:], check, first_line=2)
        raise ConversionError(f'{path}: {where or "unreadable table"}') from None
    bad = np.flatnonzero(~np.isfinite(df['timestamp'].to_numpy()))
    if len(bad):
        raise ConversionError(f'{path}: line {bad[0] + 2}: missing timestamp')
    index = {name: i for i, name in enumerate(RAW_LABELS)}
    labels = df['label'].map(index)
    bad = np.flatnonzero(labels.isna().to_numpy())
    if len(bad):
        raise ConversionError(f'{path}: line {bad[0] + 2}: label "{df["label"].iloc[bad[0]]}" is not '
                              f'one of {", ".join(RAW_LABELS)}')
    return (df['timestamp'].to_numpy() / 1000.0, df[COLUMNS[:6]].to_numpy(),
            labels.to_numpy(np.int64))


def on_grid(t, x, labels, w):
    """Uniform RATE_HZ pieces of one file: list of (signal (T_i, 6), labels (T_i,))."""
    keep = t > np.maximum.accumulate(np.r_[-np.inf, t[:-1]])   # strictly after every earlier stamp
    w.count('samples with a repeated or backward timestamp dropped', int((~keep).sum()))
    t, x, labels = t[keep], x[keep], labels[keep]
    x, n_nan = interpolate_nans(x)
    w.count('NaN values interpolated', n_nan)
    pieces = []
    for lo, values in uniform_from_timestamps(t, x, RATE_HZ, max_gap_s=MAX_GAP_S):
        grid = t[lo] + np.arange(len(values)) / RATE_HZ
        previous = np.searchsorted(t, grid + 1e-9, side='right') - 1
        pieces.append((values, labels[previous]))
    return pieces


def subject_number(subject):
    """3, '3', 's03' -> 3."""
    return int(str(subject).lstrip('sS'))


def orientation_note(root):
    path = root / 'executions_info.csv'
    if not path.exists():
        return 'executions_info.csv not found: phone orientations not summarised'
    counts = pd.read_csv(path, dtype=str, keep_default_na=False)['orientation'].value_counts()
    return ('phone orientation per execution (executions_info.csv): '
            + ', '.join(f'{k} {v}' for k, v in sorted(counts.items())))


def convert(raw, out_root, rate_hz=50.0, subjects=None, devices=('sp', 'sw')):
    """Convert the raw folder `raw` into `out_root/spsw`.

    `subjects`: optional subset (1..23 or 's01'..'s23'); `devices`: 'sp' (smartphone) and/or
    'sw' (smartwatch), one layout each, in this order.
    """
    devices = tuple(devices)
    if not devices or len(set(devices)) != len(devices) or not set(devices) <= set(DEVICES):
        raise ConversionError(f'devices must be distinct values among "sp", "sw", got {devices}')
    root = find_root(raw, 's[0-9][0-9]')
    wanted = None if subjects is None else {subject_number(s) for s in subjects}
    source = dict(SOURCE, notes=[orientation_note(root),
                                 f'devices: {", ".join(devices)}; resampled from timestamps'])
    folders = sorted(p for p in root.glob('s[0-9][0-9]') if p.is_dir())
    with PreparedWriter(out_root, NAME, LABELS, [DEVICES[d] for d in devices], source, rate_hz) as w:
        for folder in folders:
            if wanted is not None and subject_number(folder.name) not in wanted:
                continue
            files = sorted(folder.glob('*.csv'))
            if not files:
                raise ConversionError(f'{folder}: no {folder.name}_YY_sp.csv / _sw.csv files')
            for path in files:
                m = re.fullmatch(rf'{folder.name}_(\d+)_(sp|sw)\.csv', path.name)
                if m is None:
                    raise ConversionError(f'{path}: unexpected file; expected '
                                          f'{folder.name}_YY_sp.csv or {folder.name}_YY_sw.csv')
                if m.group(2) not in devices:
                    continue
                t, x, labels = read_file(path)
                for values, piece_labels in on_grid(t, x, labels, w):
                    w.add_recording(values, piece_labels, subject=folder.name, rate_hz=RATE_HZ,
                                    layout=devices.index(m.group(2)), where=str(path))
    return w.meta
