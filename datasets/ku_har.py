"""ku_har: KU-HAR, smartphone accelerometer and gyroscope at the waist, 18 activities.

Raw layout (the archive's folder, or any folder up to three levels above it):
    1.Raw_time_domian_data/<id>.<Name>/<subject>_<letter>_<trial>.csv    ('domian' sic)
    2.Trimmed_raw_data/...    the same recordings with uninformative parts cut; read only when
                              the raw folder is absent
Each CSV has 8 comma-separated columns, no header: accelerometer time, ax, ay, az (m/s^2),
gyroscope time, gx, gy, gz (rad/s), 100 Hz nominal. Class id 0..17 comes from the folder name
(`Walk-backward` and `Walk-backwards` both mean 12); the subject is the file name's first number.

Time column (CONFLICT: ms per the authors, seconds per a third party): decided per file from
the median step, ~0.01 -> seconds, ~10 -> milliseconds; the counts are noted in the source.
Both streams are put on one 100 Hz grid built from the accelerometer's time column; the
gyroscope is interpolated at those times from its own time column. A file whose time steps fit
neither unit is taken as rows at the nominal 100 Hz (counted repair).

Gravity (CONFLICT: removed per one third party, included per another): measured. A file whose
median |acc| is 7..13 m/s^2 has gravity, one below 3 m/s^2 has not; the channels' `gravity`
flag follows the majority of files, and the counts are noted in the source.
"""
import re
from pathlib import Path

import numpy as np

from datasets.common import find_root, read_numeric
from datasets.format import ConversionError, PreparedWriter, acc_gyro, label_text

NAME = 'ku_har'
RATE_HZ = 100.0
FOLDERS = ['1.Raw_time_domian_data', '2.Trimmed_raw_data']   # in order of preference
CLASS_NAMES = ['Stand', 'Sit', 'Talk-sit', 'Talk-stand', 'Stand-sit', 'Lay', 'Lay-stand', 'Pick',
               'Jump', 'Push-up', 'Sit-up', 'Walk', 'Walk-backwards', 'Walk-circle', 'Run',
               'Stair-up', 'Stair-down', 'Table-tennis']   # folder names, id 0..17
ALIASES = {'walk backward': 'walk backwards'}               # Mendeley's spelling of class 12
LABELS = [  # id 0..17 -> (text, description)
    ('standing', 'standing still upright'),
    ('sitting', 'sitting still on a chair'),
    ('talking while sitting', 'sitting on a chair while talking and gesturing'),
    ('talking while standing', 'standing while talking and gesturing'),
    ('standing up and sitting down', 'repeatedly standing up from a chair and sitting back down'),
    ('lying', 'lying still on the back'),
    ('lying down and standing up', 'repeatedly lying down and getting back up to standing'),
    ('picking up an object', 'bending down to pick up an object from the floor'),
    ('jumping', 'jumping up and down on the spot'),
    ('push ups', 'doing push-ups on the floor'),
    ('sit ups', 'doing sit-ups on the floor'),
    ('walking', 'walking forward on flat ground'),
    ('walking backwards', 'walking backwards on flat ground'),
    ('walking in a circle', 'walking around in a circle'),
    ('running', 'running on flat ground'),
    ('walking upstairs', 'walking up a flight of stairs'),
    ('walking downstairs', 'walking down a flight of stairs'),
    ('playing table tennis', 'playing a game of table tennis'),
]
SOURCE = {'title': 'KU-HAR: An open dataset for heterogeneous human activity recognition',
          'url': 'https://data.mendeley.com/datasets/45f952y38r', 'licence': 'CC BY 4.0',
          'citation': 'Sikder & Nahid, Pattern Recognition Letters 146 (2021)'}
SECONDS_STEP = (0.002, 0.1)      # plausible median time step if the column is in seconds
MS_STEP = (2.0, 100.0)           # ... if it is in milliseconds
MAX_GAP_S = 1.0                  # a longer time gap splits a file into separate recordings


def layout(gravity):
    return acc_gyro('waist', 'smartphone', gravity=gravity)


def class_folders(root):
    """[(class id, folder)] sorted by id; folder names must be '<id>.<Name>' with a known id."""
    expected = [ALIASES.get(label_text(n), label_text(n)) for n in CLASS_NAMES]
    folders = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(('.', '__MACOSX')) or not path.is_dir():
            continue
        m = re.fullmatch(r'(\d+)\.(.+)', path.name)
        if m is None or not 0 <= int(m.group(1)) < len(CLASS_NAMES):
            raise ConversionError(f'{path}: unexpected folder; expected <id>.<Name> with ids 0..17: '
                                  + ', '.join(f'{i}.{n}' for i, n in enumerate(CLASS_NAMES)))
        code, name = int(m.group(1)), label_text(m.group(2))
        if ALIASES.get(name, name) != expected[code]:
            raise ConversionError(f'{path}: class {code} should be {CLASS_NAMES[code]}, '
                                  f'found "{m.group(2)}"')
        folders.append((code, path))
    if not folders:
        raise ConversionError(f'{root}: no class folders <id>.<Name> (e.g. 0.Stand)')
    return sorted(folders)


def time_unit(t):
    """Seconds per time-column unit from the median step: 1.0, 0.001, or None (unusable)."""
    steps = np.diff(t)
    step = float(np.median(steps)) if len(steps) else 0.0
    if SECONDS_STEP[0] <= step <= SECONDS_STEP[1]:
        return 1.0
    if MS_STEP[0] <= step <= MS_STEP[1]:
        return 0.001
    return None


def increasing(t):
    """Mask keeping samples whose time is later than every earlier one."""
    previous = np.maximum.accumulate(np.r_[-np.inf, t[:-1]])
    return t > previous


def on_grid(t, x, grid):
    """Linear interpolation of x (T, C) at the times `grid` (edges held)."""
    return np.stack([np.interp(grid, t, x[:, c]) for c in range(x.shape[1])], 1)


def resample_file(table, repairs):
    """An (T, 8) table -> list of (T_i, 6) pieces on a 100 Hz grid, plus the detected time unit."""
    t_acc, acc, t_gyro, gyro = table[:, 0], table[:, 1:4], table[:, 4], table[:, 5:8]
    unit = time_unit(t_acc)
    if unit is None or time_unit(t_gyro) != unit:
        repairs['files with unusable time columns, nominal 100 Hz assumed'] += 1
        return [table[:, [1, 2, 3, 5, 6, 7]].astype(np.float32)], None
    t_acc, t_gyro = t_acc * unit, t_gyro * unit
    keep_a, keep_g = increasing(t_acc), increasing(t_gyro)
    repairs['samples with a repeated or backward timestamp dropped'] += int((~keep_a).sum() + (~keep_g).sum())
    t_acc, acc, t_gyro, gyro = t_acc[keep_a], acc[keep_a], t_gyro[keep_g], gyro[keep_g]
    pieces = []
    cuts = np.flatnonzero(np.diff(t_acc) > MAX_GAP_S) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(t_acc)]):
        start, end = max(t_acc[lo], t_gyro[0]), min(t_acc[hi - 1], t_gyro[-1])
        grid = np.arange(start, end, 1.0 / RATE_HZ)
        if len(grid) < 2:
            repairs['accelerometer stretches without gyroscope samples dropped'] += 1
            continue
        pieces.append(np.concatenate([on_grid(t_acc[lo:hi], acc[lo:hi], grid),
                                      on_grid(t_gyro, gyro, grid)], 1).astype(np.float32))
    repairs['recordings split at time gaps over 1 s'] += len(cuts)
    return pieces, unit


def read_all(root, subjects):
    """Every CSV under root -> list of (class id, subject, path, pieces), repairs, unit counts."""
    recordings, units = [], {1.0: 0, 0.001: 0, None: 0}
    repairs = dict.fromkeys(['files with unusable time columns, nominal 100 Hz assumed',
                             'samples with a repeated or backward timestamp dropped',
                             'recordings split at time gaps over 1 s',
                             'accelerometer stretches without gyroscope samples dropped'], 0)
    for code, folder in class_folders(root):
        for path in sorted(folder.glob('*.csv')):
            m = re.match(r'(\d+)_', path.name)
            if m is None:
                raise ConversionError(f'{path}: file name should be <subject>_<letter>_<trial>.csv')
            subject = int(m.group(1))
            if subjects is not None and subject not in subjects:
                continue
            table = read_numeric(path, sep=',', n_cols=8)
            bad = np.flatnonzero(~np.isfinite(table).all(1))
            if len(bad):
                raise ConversionError(f'{path}: line {bad[0] + 1}: expected finite numbers, '
                                      f'found {table[bad[0]].tolist()}')
            pieces, unit = resample_file(table, repairs)
            units[unit] += 1
            recordings.append((code, subject, path, pieces))
    if not recordings:
        raise ConversionError(f'{root}: no <subject>_<letter>_<trial>.csv files in the class folders')
    return recordings, repairs, units


def gravity_votes(recordings):
    """Per-file median |acc| -> (files with gravity, files without, files undecided)."""
    votes = [0, 0, 0]
    for _, _, _, pieces in recordings:
        acc = np.concatenate([p[:, :3] for p in pieces]) if pieces else np.zeros((0, 3))
        median = float(np.median(np.linalg.norm(acc, axis=1))) if len(acc) else np.nan
        votes[0 if 7.0 <= median <= 13.0 else 1 if median < 3.0 else 2] += 1
    return votes


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert the raw KU-HAR folder `raw` into `out_root/ku_har`. `subjects`: optional subset of ids."""
    if not Path(raw).exists():
        raise ConversionError(f'{raw}: raw folder does not exist')
    for folder in FOLDERS:
        try:
            root = find_root(raw, folder) / folder
            while (root / folder).is_dir():              # an archive extracted into its own name
                root = root / folder
            break
        except ConversionError:
            continue
    else:
        raise ConversionError(f'{raw}: expected to find "{FOLDERS[0]}" or "{FOLDERS[1]}" in it or in '
                              f'a sub-folder (is this the right folder for KU-HAR?)')
    recordings, repairs, units = read_all(root, subjects)
    with_g, without_g, undecided = gravity_votes(recordings)
    gravity = None if with_g + without_g == 0 else with_g >= without_g
    source = dict(SOURCE, notes=[
        f'read from {root.name}',
        f'time column: {units[1.0]} files in seconds, {units[0.001]} in milliseconds, '
        f'{units[None]} unusable (nominal 100 Hz assumed)',
        f'gravity: median |acc| ~9.8 in {with_g} files, ~0 in {without_g}, unclear in {undecided}; '
        'channels marked gravity ' + {True: 'included', False: 'removed', None: 'unknown'}[gravity]])
    with PreparedWriter(out_root, NAME, LABELS, [layout(gravity)], source, rate_hz) as w:
        for what, n in repairs.items():
            w.count(what, n)
        for code, subject, path, pieces in recordings:
            for piece in pieces:
                w.add_recording(piece, code, subject=subject, rate_hz=RATE_HZ, where=str(path))
    return w.meta
