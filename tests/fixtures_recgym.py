"""Tiny RecGym fixture: RecGym/RecGym.csv, one header row, then Subject,Position,Session, 7 values
min-max normalised to [0, 1] (A_x..G_z, C_1) and the Workout name, 20 Hz. A_x counts up within each
block so that a test can check the row order.
"""
from pathlib import Path

import numpy as np

HEADER = 'Subject,Position,Session,A_x,A_y,A_z,G_x,G_y,G_z,C_1,Workout'
OLD_HEADER = 'Object,Sensor_Position,Day,A_x,A_y,A_z,G_x,G_y,G_z,Body_Capacitance,Workout'
BLOCKS = [  # (subject, position, session, [(workout, rows)])
    (2, 'leg', 2, [('StairsClimber', 20), ('stairclimber', 10), ('Walking', 10)]),
    (1, 'wrist', 1, [('Null', 20), ('ArmCurl', 20)]),
    (1, 'pocket', 1, [('Squat', 40)]),
]


def rows():
    """The CSV lines (without header); A_x counts up within each block to check the row order."""
    rng = np.random.default_rng(0)
    lines = []
    for subject, position, session, parts in BLOCKS:
        n = sum(k for _, k in parts)
        values = rng.uniform(0.3, 0.7, (n, 7))
        values[:, 0] = np.arange(n) / 100
        names = [w for w, k in parts for _ in range(k)]
        lines += [f'{subject},{position},{session},' + ','.join(f'{v:.6f}' for v in vals) + f',{w}'
                  for vals, w in zip(values, names)]
    return lines


def write_recgym(base, lines=None, header=HEADER):
    """base/RecGym/RecGym.csv -> the RecGym folder."""
    path = Path(base) / 'RecGym' / 'RecGym.csv'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join([header] + (rows() if lines is None else lines)) + '\n')
    return path.parent


def break_recgym(raw):
    """A non-integer session on the first data row (line 2)."""
    lines = rows()
    lines[0] = lines[0].replace('leg,2,', 'leg,2.5,')
    write_recgym(Path(raw).parent, lines)
    return ['RecGym.csv', 'line 2', 'Session should be an integer']
