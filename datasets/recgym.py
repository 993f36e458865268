"""recgym: RecGym, gym workouts recorded by one IMU at the wrist, in a pocket or on the calf.

Raw layout (the folder holding it, or any folder up to three levels above):
    RecGym.csv    comma-separated with a header row:
                  Subject,Position,Session,A_x,A_y,A_z,G_x,G_y,G_z,C_1,Workout
                  (older releases name the columns Object, Sensor_Position, Day, Body_Capacitance)
There is no time column: rows are in time order within each (Subject, Position, Session) block,
at 20 Hz. Each block becomes one recording; blocks are written sorted by subject, position and
session. Position wrist / pocket / leg (the calf) selects the layout (0 / 1 / 2).

Values: every signal column is min-max normalised to [0, 1] by the authors, so there are no
physical units; they are kept as they are, with unit 'normalised [0,1]'. C_1 (body
capacitance, not inertial) is dropped. Workout 'Null' (rest) is unlabelled (-1); the names are
matched case-insensitively, 'StairClimber' and 'StairsClimber' alike.
"""
import numpy as np
import pandas as pd

from datasets.common import file_lines, find_root, first_bad_line, line_of_row, table_check
from datasets.format import ConversionError, PreparedWriter, triad

NAME = 'recgym'
RATE_HZ = 20.0
COLUMNS = ['Subject', 'Position', 'Session', 'A_x', 'A_y', 'A_z', 'G_x', 'G_y', 'G_z', 'C_1', 'Workout']
OLD_NAMES = {'Object': 'Subject', 'Sensor_Position': 'Position', 'Day': 'Session',
             'Body_Capacitance': 'C_1'}
TEXT_COLUMNS = ('Position', 'Workout')
SIGNALS = ['A_x', 'A_y', 'A_z', 'G_x', 'G_y', 'G_z']
WORKOUTS = ['adductor', 'armcurl', 'benchpress', 'legcurl', 'legpress', 'riding', 'ropeskipping',
            'running', 'squat', 'stairclimber', 'walking']   # normalised names, label 0..10
NULL = 'null'
LABELS = [
    ('adductor machine', 'squeezing the legs together against resistance on an adductor machine'),
    ('arm curl', 'curling a weight up towards the shoulder by bending the elbow'),
    ('bench press', 'lying on a bench and pressing a barbell up from the chest'),
    ('leg curl', 'bending the knees against resistance on a leg curl machine'),
    ('leg press', 'pushing a weighted platform away with the legs on a leg press machine'),
    ('riding', 'pedalling on a stationary exercise bike'),
    ('rope skipping', 'jumping over a swinging skipping rope'),
    ('running', 'running on a treadmill'),
    ('squat', 'bending the knees and hips to lower the body and standing back up'),
    ('stair climber', 'stepping on a stair climber machine'),
    ('walking', 'walking on a treadmill'),
]
POSITIONS = ['wrist', 'pocket', 'leg']
PLACEMENTS = ['wrist', 'trouser pocket', 'calf']
UNIT = 'normalised [0,1]'
LAYOUTS = [triad('acc', UNIT, p, 'imu') + triad('gyro', UNIT, p, 'imu') for p in PLACEMENTS]
SOURCE = {'title': 'RecGym: Gym Workouts Recognition Dataset with IMU and Capacitive Sensor',
          'url': 'https://doi.org/10.24432/C5PW4K', 'licence': 'CC BY 4.0',
          'citation': 'Bian & Lukowicz, UCI Machine Learning Repository (2025); arXiv:2503.06311'}


def normalise_name(name):
    """'StairsClimber', 'stair_climber' -> 'stairclimber'."""
    name = ''.join(ch for ch in str(name).lower() if ch.isalpha())
    return 'stairclimber' if name == 'stairsclimber' else name


def read_table(path):
    """RecGym.csv -> DataFrame with the current column names (C_1 optional)."""
    try:
        with open(path, errors='replace') as f:
            header = f.readline().strip().split(',')
    except FileNotFoundError:
        raise ConversionError(f'{path}: file not found') from None
    names = [OLD_NAMES.get(h.strip(), h.strip()) for h in header]
    missing = [c for c in COLUMNS if c not in names and c != 'C_1']
    if missing or len(set(names)) != len(names):
        raise ConversionError(f'{path}: line 1: expected the header {",".join(COLUMNS)}, '
                              f'found {",".join(header)}')
    dtype = {n: 'category' if n in TEXT_COLUMNS else np.float64 for n in names}
    try:
        df = pd.read_csv(path, header=0, names=names, dtype=dtype, engine='c',
                         keep_default_na=False, na_values=[''])
    except (ValueError, pd.errors.ParserError):
        numeric = [i for i, n in enumerate(names) if n not in TEXT_COLUMNS]
        check = table_check(len(names), ',', numeric, f'numbers in {", ".join(names[j] for j in numeric)}')
        where = first_bad_line(file_lines(path)[1:], check, first_line=2)
        raise ConversionError(f'{path}: {where or "unreadable table"}') from None
    return df


def codes(df, column, table, path, expected):
    """Category column -> int index per row via `table` (normalised name -> index)."""
    cats = df[column].cat.categories
    index = np.array([table.get(normalise_name(c), -2) for c in cats] + [-2], np.int64)
    values = index[df[column].cat.codes.to_numpy()]        # code -1 (missing) -> last entry
    bad = np.flatnonzero(values == -2)
    if len(bad):
        found = df[column].iloc[bad[0]]
        raise ConversionError(f'{path}: line {line_of_row(path, bad[0], header_lines=1)}: {column} '
                              f'"{"" if pd.isna(found) else found}" is not one of {expected}')
    return values


def integers(df, column, path):
    values = df[column].to_numpy()
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
    if len(bad):
        raise ConversionError(f'{path}: line {line_of_row(path, bad[0], header_lines=1)}: {column} should be an '
                              f'integer, found {values[bad[0]]}')
    return values.astype(np.int64)


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert the raw RecGym folder `raw` into `out_root/recgym`. `subjects`: optional subset of 1..10."""
    path = find_root(raw, 'RecGym.csv') / 'RecGym.csv'
    df = read_table(path)
    subject = integers(df, 'Subject', path)
    session = integers(df, 'Session', path)
    position = codes(df, 'Position', {p: i for i, p in enumerate(POSITIONS)}, path,
                     ', '.join(POSITIONS))
    labels = codes(df, 'Workout', {**{w: i for i, w in enumerate(WORKOUTS)}, NULL: -1}, path,
                   ', '.join(WORKOUTS + [NULL]) + ' (any case)')
    signal = df[SIGNALS].to_numpy(np.float32)
    outside = int(((signal < 0) | (signal > 1)).sum())
    source = dict(SOURCE, notes=[
        'values are min-max normalised to [0, 1] by the authors and kept as they are '
        f'({outside} values outside [0, 1]); no physical units, C_1 (capacitance) dropped',
        'one recording per (Subject, Position, Session) block, rows taken in file order'])
    del df
    order = np.lexsort((session, position, subject))          # stable: keeps time order
    keys = np.stack([subject, position, session], 1)[order]
    starts = np.r_[0, np.flatnonzero((keys[1:] != keys[:-1]).any(1)) + 1]
    ends = np.r_[starts[1:], len(order)]
    with PreparedWriter(out_root, NAME, LABELS, LAYOUTS, source, rate_hz) as w:
        for lo, hi in zip(starts, ends):
            subj, pos, sess = keys[lo]
            if subjects is not None and subj not in subjects:
                continue
            rows = order[lo:hi]
            w.add_recording(signal[rows], labels[rows], subject=subj, rate_hz=RATE_HZ, layout=pos,
                            where=f'{path}: subject {subj}, {POSITIONS[pos]}, session {sess}')
    return w.meta
