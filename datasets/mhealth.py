"""mhealth: MHEALTH (Banos et al. 2014), Shimmer2 units on the chest, left ankle and right lower arm.

Raw layout (the extracted `MHEALTHDATASET` folder or any folder up to three levels above it, or
the UCI download `mhealth+dataset.zip` itself):
    mHealth_subject1.log .. mHealth_subject10.log
Each file: 24 tab-separated columns, NO header (the first line is data), 50 Hz, no timestamp:
    1-3 chest acc | 4-5 ECG | 6-8 left-ankle acc | 9-11 left-ankle gyro | 12-14 left-ankle mag |
    15-17 right-lower-arm acc | 18-20 right-lower-arm gyro | 21-23 right-lower-arm mag | 24 label
Accelerometers are m/s^2 (gravity included), magnetometers in the README's "local" units (stored
as is, unit 'a.u.'). The README gives the gyroscopes in deg/s, and we convert deg/s -> rad/s as
documented. Doubt: the values (around +-1, e.g. -0.84 in the first row) and their near-constant
magnitude (a third party sees sample-and-hold at ~14 Hz) look more like rad/s or normalised units
than deg/s; if so, our gyroscope channels are 57.3 times too small. We follow the documentation.
ECG is dropped: 21 inertial channels in one layout. Subject ids come from the file name (1..10).
Label 0 (null, between activities) becomes unlabelled (-1); 1..12 are the activities below.
"""
import re

import numpy as np

from datasets.common import find_root, line_of_row, raw_folder, read_numeric
from datasets.format import ConversionError, PreparedWriter, triad

NAME = 'mhealth'
MARKER = 'mHealth_subject*.log'
RATE_HZ = 50.0
N_COLS = 24
DEVICE = 'shimmer2'
LABELS = [  # code 1..12 -> (text, description)
    ('standing', 'standing still upright'),
    ('sitting', 'sitting and relaxing on a chair'),
    ('lying', 'lying down still'),
    ('walking', 'walking on flat ground'),
    ('climbing stairs', 'walking up and down a flight of stairs'),
    ('waist bends forward', 'bending the upper body forward at the waist, repeatedly'),
    ('frontal elevation of arms', 'raising both arms forward and up, repeatedly'),
    ('knees bending', 'bending the knees into a crouch and standing up again, repeatedly'),
    ('cycling', 'riding a bicycle'),
    ('jogging', 'jogging at a moderate pace'),
    ('running', 'running fast'),
    ('jump front and back', 'jumping forwards and backwards with both feet, repeatedly'),
]
LAYOUT = (triad('acc', 'm/s^2', 'chest', DEVICE, gravity=True)
          + triad('acc', 'm/s^2', 'left ankle', DEVICE, gravity=True)
          + triad('gyro', 'rad/s', 'left ankle', DEVICE)
          + triad('mag', 'a.u.', 'left ankle', DEVICE)
          + triad('acc', 'm/s^2', 'right lower arm', DEVICE, gravity=True)
          + triad('gyro', 'rad/s', 'right lower arm', DEVICE)
          + triad('mag', 'a.u.', 'right lower arm', DEVICE))
CHANNEL_COLS = [0, 1, 2] + list(range(5, 23))            # 0-based columns of LAYOUT (ECG 3, 4 dropped)
GYRO = [i for i, c in enumerate(LAYOUT) if c.sensor == 'gyro']
SOURCE = {'title': 'MHEALTH (Mobile Health)', 'url': 'https://doi.org/10.24432/C5TW22',
          'licence': 'CC BY 4.0',
          'citation': 'Banos, Garcia, Holgado-Terriza, Damas, Pomares, Rojas, Saez, Villalonga, '
                      '"mHealthDroid: a novel framework for agile development of mobile health '
                      'applications", IWAAL 2014'}


def read_log(path):
    """One mHealth_subjectN.log -> signal (T, 21) in standard units, labels (T,) (-1 = null)."""
    data = read_numeric(path, sep='\t', n_cols=N_COLS)
    codes = data[:, -1]
    bad = np.flatnonzero((codes != np.round(codes)) | (codes < 0) | (codes > len(LABELS)))
    if len(bad):
        raise ConversionError(f'{path}: line {line_of_row(path, bad[0])}: label {codes[bad[0]]:g} '
                              f'does not exist (expected 0..{len(LABELS)}, 0 = null)')
    signal = data[:, CHANNEL_COLS]
    signal[:, GYRO] *= np.pi / 180.0                       # deg/s -> rad/s, as documented
    return signal, codes.astype(np.int64) - 1              # 0 (null) -> -1


def subject_files(root):
    """[(subject id, path)] in numeric subject order (subject10 after subject9)."""
    return sorted((int(m.group(1)), p) for p in root.glob('mHealth_subject*.log')
                  if (m := re.fullmatch(r'mHealth_subject(\d+)\.log', p.name)))


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw MHEALTH (folder or zip) into `out_root/mhealth`. `subjects`: optional subset of ids 1..10."""
    wanted = None if subjects is None else {str(s) for s in subjects}
    keep = lambda name: name.endswith('.log')                                    # noqa: E731
    with raw_folder(raw, out_root, keep, MARKER) as folder:
        root = find_root(folder, MARKER)
        with PreparedWriter(out_root, NAME, LABELS, [LAYOUT], SOURCE, rate_hz) as w:
            for subject, path in subject_files(root):
                if wanted is None or str(subject) in wanted:
                    signal, labels = read_log(path)
                    w.add_recording(signal, labels, subject=subject, rate_hz=RATE_HZ, where=str(path))
    return w.meta
