"""dsads: Daily and Sports Activities (Barshan & Altun), five Xsens MTx units.

Raw layout (the folder holding a01..a19, i.e. `data/`, or any folder up to three levels above):
    aNN/pM/sKK.txt   activity a01..a19, subject p1..p8 (not zero-padded), segment s01..s60;
                     125 rows (5 s at 25 Hz) x 45 comma-separated values, no header
Columns: units T (torso), RA (right arm), LA (left arm), RL (right leg), LL (left leg), 9 each:
x, y, z accelerometer, x, y, z gyroscope, x, y, z magnetometer.

Units are not stated by the authors; we assume the Xsens defaults: m/s^2 (gravity included),
rad/s, and a magnetic field normalised to the local field (stored as is, unit 'a.u.').

Assumption: each subject performed each activity for 5 minutes, which the authors cut into the
5-s files s01..s60 in time order. We concatenate a subject's files in that order into one
recording per (activity, subject), giving one long segment instead of 60 short ones. The files
must run s01, s02, ... without a gap (a missing file raises an error, since concatenating
across it would join non-adjacent chunks); a folder may hold fewer than 60.
"""
import re

import numpy as np

from datasets.common import find_root, read_numeric
from datasets.format import ConversionError, PreparedWriter, triad

NAME = 'dsads'
RATE_HZ = 25.0
ROWS, COLS = 125, 45          # samples and values per segment file
LABELS = [  # folder a01..a19 -> (text, description)
    ('sitting', 'sitting still on a chair'),
    ('standing', 'standing still upright'),
    ('lying on back', 'lying still on the back'),
    ('lying on right side', 'lying still on the right side'),
    ('ascending stairs', 'walking up a flight of stairs'),
    ('descending stairs', 'walking down a flight of stairs'),
    ('standing in an elevator', 'standing still in a moving elevator'),
    ('moving around in an elevator', 'moving around inside a moving elevator'),
    ('walking in a parking lot', 'walking at a normal pace in a parking lot'),
    ('walking on a treadmill', 'walking on a flat treadmill at 4 km/h'),
    ('walking on an inclined treadmill', 'walking on a treadmill at 4 km/h inclined at 15 degrees'),
    ('running on a treadmill', 'running on a treadmill at 8 km/h'),
    ('exercising on a stepper', 'stepping on a stair-stepper exercise machine'),
    ('exercising on a cross trainer', 'exercising on an elliptical cross trainer'),
    ('cycling on an exercise bike in horizontal position',
     'pedalling a recumbent exercise bike while sitting back in a horizontal position'),
    ('cycling on an exercise bike in vertical position',
     'pedalling an upright exercise bike while sitting in a vertical position'),
    ('rowing', 'rowing on a rowing machine'),
    ('jumping', 'jumping up and down repeatedly'),
    ('playing basketball', 'playing basketball'),
]
UNITS = ['torso', 'right arm', 'left arm', 'right leg', 'left leg']   # column order T, RA, LA, RL, LL
LAYOUT = [ch for placement in UNITS
          for ch in (triad('acc', 'm/s^2', placement, 'xsens mtx', gravity=True)
                     + triad('gyro', 'rad/s', placement, 'xsens mtx')
                     + triad('mag', 'a.u.', placement, 'xsens mtx'))]
SOURCE = {'title': 'Daily and Sports Activities',
          'url': 'https://doi.org/10.24432/C5C59F', 'licence': 'CC BY 4.0',
          'citation': 'Barshan & Altun, UCI Machine Learning Repository (2010)',
          'notes': ['each (activity, subject) is one recording: files s01..sNN concatenated in '
                    'order, assuming they are consecutive 5-s chunks of one 5-min session',
                    'units assumed: m/s^2, rad/s, magnetometer normalised to the local field']}


def read_segment(path):
    """One sKK.txt -> float64 (125, 45)."""
    x = read_numeric(path, sep=',', n_cols=COLS)
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    if len(bad):
        raise ConversionError(f'{path}: line {bad[0] + 1}: expected finite numbers, found {x[bad[0]].tolist()}')
    if len(x) != ROWS:
        raise ConversionError(f'{path}: expected {ROWS} rows of {COLS} values, found {len(x)} rows '
                              f'(line {len(x) + 1} is {"missing" if len(x) < ROWS else "extra"})')
    return x


def numbered(folder, pattern, what):
    """Sub-paths of `folder` matching `pattern` (one number group), sorted by number."""
    found = []
    for path in folder.iterdir():
        if path.name.startswith('.'):
            continue
        m = re.fullmatch(pattern, path.name)
        if m is None:
            raise ConversionError(f'{path}: unexpected {"file" if path.is_file() else "folder"}; '
                                  f'expected {what}')
        found.append((int(m.group(1)), path))
    return sorted(found)


def read_session(folder):
    """All sKK.txt of one pM folder, concatenated in order -> float64 (K * 125, 45)."""
    files = numbered(folder, r's(\d{2})\.txt', 'segment files s01.txt .. s60.txt')
    if not files:
        raise ConversionError(f'{folder}: no segment files s01.txt .. s60.txt')
    for expected, (k, path) in enumerate(files, 1):
        if k != expected:
            raise ConversionError(f'{folder / f"s{expected:02d}.txt"}: file not found (segment '
                                  f'files must run s01, s02, ... without a gap; found {path.name})')
    return np.concatenate([read_segment(path) for _, path in files])


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert the raw DSADS folder `raw` into `out_root/dsads`. `subjects`: optional subset of 1..8."""
    root = find_root(raw, 'a[0-9][0-9]')     # a glob: any activity folder
    activities = [(a, p) for a, p in numbered(root, r'a(\d{2})', 'activity folders a01 .. a19')
                  if p.is_dir()]
    for code, path in activities:
        if not 1 <= code <= len(LABELS):
            raise ConversionError(f'{path}: activity {path.name} does not exist (expected a01..a19)')
    with PreparedWriter(out_root, NAME, LABELS, [LAYOUT], SOURCE, rate_hz) as w:
        for code, activity in activities:
            for subject, folder in numbered(activity, r'p(\d+)', 'subject folders p1 .. p8'):
                if subjects is not None and subject not in subjects:
                    continue
                w.add_recording(read_session(folder), code - 1, subject=subject, rate_hz=RATE_HZ,
                                where=str(folder))
    return w.meta
