"""utd_mhad: UTD Multimodal Human Action Dataset, inertial part (Chen, Jafari & Kehtarnavaz, ICIP
2015). 8 subjects, 27 short actions, 4 trials each, one wearable 6-axis IMU. Not one of the ten.

Raw layout (the `Inertial` folder, any folder up to three levels above it, the distributed zip, or
a folder holding that zip):
    Inertial/a<action>_s<subject>_t<trial>_inertial.mat    action 1..27, subject 1..8, trial 1..4
Each file is a MATLAB v5 MAT-file (read with scipy.io.loadmat) holding `d_iner`, a float64 array
of N x 6: accelerometer x, y, z in g, then gyroscope x, y, z in deg/s, at 50 Hz. One file is one
segmented action performed once: one recording, one segment, its label from the file name. The
complete release has 861 files (864 less the three sequences the authors removed as corrupted:
a8_s1_t4, a23_s6_t4, a27_s8_t4); any subset converts.

Layouts: the IMU was worn on the right wrist for actions 1-21 (layout 0) and on the right thigh
for actions 22-27 (layout 1). The authors describe a low-cost wireless 9-axis MEMS sensor built
in their lab (magnetometer not released) without naming the chip in the pages read, so the
device is 'wearable imu'. Units: accelerometer g x 9.80665 -> m/s^2 (gravity included),
gyroscope deg/s x pi/180 -> rad/s. Subject ids '1'..'8' from the file name.

Quirks, kept as they are (nothing is repaired): the gyroscope clips at its +-1000 deg/s range
(the source holds the 16-bit limits, +1000.519084 and -1000.549618 deg/s, in fast throws and
swings) and the accelerometer at -8 g; both counts are written to the source notes. Values are
quantised to 1/4096 g and 4/131 deg/s.

Refused (ConversionError naming the file): a file that is not a readable MAT-file, has no
`d_iner`, a `d_iner` that is not a real N x 6 array or has no rows, non-finite values (the
message names the row, 1-based, and the column); a .mat file in the data folder whose name is
not a<k>_s<j>_t<i>_inertial.mat or whose action, subject or trial is out of range, and two files
for the same action, subject and trial. Files that do not end in .mat (a README, .DS_Store) and
hidden files are skipped. From a zip only the members ending in .zip and the .mat members whose
path mentions 'inertial' are extracted, so a zip that also holds other modalities works.
"""
import re

import numpy as np
import scipy.io

from datasets.common import find_root, raw_folder
from datasets.format import G, ConversionError, PreparedWriter, acc_gyro

NAME = 'utd_mhad'
RATE_HZ = 50.0
VARIABLE = 'd_iner'
COLUMNS = ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z']   # g, g, g, deg/s x3
FILE_NAME = re.compile(r'a(\d+)_s(\d+)_t(\d+)_inertial\.mat')
MARKER = 'a*_s*_t*_inertial.mat'          # find_root glob for the data folder
N_SUBJECTS, N_TRIALS = 8, 4
LABELS = [  # action a1..a27 -> (text, description)
    ('swiping left with the right arm', 'swiping the right arm across in front of the body to the left'),
    ('swiping right with the right arm', 'swiping the right arm across in front of the body to the right'),
    ('waving the right hand', 'waving the raised right hand from side to side'),
    ('clapping with both hands in front', 'clapping the two hands together in front of the body'),
    ('throwing with the right arm', 'making a throwing motion with the right arm'),
    ('crossing the arms on the chest', 'folding both arms across the chest'),
    ('shooting a basketball', 'making the motion of shooting a basketball at a hoop'),
    ('drawing an x with the right hand', 'drawing the letter x in the air with the right hand'),
    ('drawing a circle clockwise', 'drawing a clockwise circle in the air with the right hand'),
    ('drawing a circle counter clockwise', 'drawing a counter-clockwise circle in the air with the right hand'),
    ('drawing a triangle', 'drawing a triangle in the air with the right hand'),
    ('bowling', 'swinging the right arm forward as if rolling a bowling ball'),
    ('boxing', 'throwing punches straight ahead in front of the body'),
    ('baseball swing', 'swinging an imaginary baseball bat from the right side'),
    ('tennis forehand swing', 'making a tennis forehand stroke with the right hand'),
    ('arm curl', 'bending both arms at the elbow to curl the forearms up and lowering them again'),
    ('tennis serve', 'making the overhead motion of a tennis serve'),
    ('pushing with both hands', 'pushing forward with both hands in front of the body'),
    ('knocking on a door', 'knocking on a door with the right hand'),
    ('catching an object', 'reaching out to catch an object with the right hand'),
    ('picking up and throwing an object', 'picking an object up with the right hand and throwing it'),
    ('jogging in place', 'jogging on the spot without moving forward'),
    ('walking in place', 'walking on the spot without moving forward'),
    ('sit to stand', 'standing up from sitting on a chair, a postural transition'),
    ('stand to sit', 'sitting down on a chair from standing, a postural transition'),
    ('forward lunge', 'stepping forward into a lunge with the left foot and coming back'),
    ('squat', 'squatting down and rising again with both arms stretched out in front'),
]
THIGH_FROM = 22                           # actions 22..27 wore the IMU on the right thigh
LAYOUTS = [acc_gyro('right wrist', 'wearable imu'), acc_gyro('right thigh', 'wearable imu')]
GYRO_CLIP_DEG_S = 1000.0                  # |value| at or above this sits at the gyroscope's limit
ACC_CLIP_G = 7.999                        # ... at the accelerometer's +-8 g limit
SOURCE = {'title': 'UTD-MHAD: A Multimodal Dataset for Human Action Recognition Utilizing a Depth '
                   'Camera and a Wearable Inertial Sensor (inertial part)',
          'url': 'http://www.utdallas.edu/~kehtar/UTD-MHAD.html',
          'licence': 'not stated; the authors call it a freely available public-domain dataset and '
                     'ask users to cite the paper',
          'citation': 'Chen, Jafari, Kehtarnavaz, IEEE ICIP 2015, pp. 168-172'}


def data_files(folder):
    """{(subject, action, trial): path} for the .mat files of `folder`; refuses unexpected names."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith('.') or not path.is_file() or path.suffix.lower() != '.mat':
            continue
        m = FILE_NAME.fullmatch(path.name)
        if m is None:
            raise ConversionError(f'{path}: unexpected file; expected a<action>_s<subject>_t<trial>'
                                  f'_inertial.mat')
        action, subject, trial = map(int, m.groups())
        for what, value, top in (('action', action, len(LABELS)), ('subject', subject, N_SUBJECTS),
                                 ('trial', trial, N_TRIALS)):
            if not 1 <= value <= top:
                raise ConversionError(f'{path}: {what} {value} does not exist (expected 1..{top})')
        key = (subject, action, trial)
        if key in found:
            raise ConversionError(f'{path}: the same action, subject and trial as {found[key].name}')
        found[key] = path
    return found


def read_file(path):
    """One a*_s*_t*_inertial.mat -> float64 (N, 6) in g and deg/s, as stored."""
    try:
        mat = scipy.io.loadmat(path, variable_names=[VARIABLE])
    except Exception as e:         # scipy raises many types on a corrupt file: name the file instead
        raise ConversionError(f'{path}: not a readable MATLAB v5 MAT-file ({e})') from None
    if VARIABLE not in mat:
        raise ConversionError(f'{path}: no variable "{VARIABLE}" in the MAT-file')
    x = mat[VARIABLE]
    if x.dtype.kind not in 'iuf':
        raise ConversionError(f'{path}: "{VARIABLE}" holds {x.dtype} values, expected real numbers')
    if x.ndim != 2 or x.shape[1] != len(COLUMNS):
        raise ConversionError(f'{path}: "{VARIABLE}" has shape {x.shape}, expected rows x '
                              f'{len(COLUMNS)} columns ({", ".join(COLUMNS)})')
    if len(x) == 0:
        raise ConversionError(f'{path}: "{VARIABLE}" has no rows')
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ConversionError(f'{path}: row {row + 1}: {COLUMNS[col]} is {x[row, col]}, expected a '
                              f'finite number')
    return x


def subject_number(subject):
    """3, '3', 's3' -> 3."""
    return int(str(subject).strip().lstrip('sS'))


def wanted_member(name):
    """Zip members worth extracting: nested zips and the inertial .mat files."""
    name = name.lower()
    return name.endswith('.zip') or (name.endswith('.mat') and 'inertial' in name)


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert UTD-MHAD inertial (folder, zip or folder holding the zip) into `out_root/utd_mhad`.

    `subjects`: optional subset of 1..8 (or '1', 's1')."""
    wanted = None if subjects is None else {subject_number(s) for s in subjects}
    with raw_folder(raw, out_root, wanted_member, MARKER) as folder:
        root = find_root(folder, MARKER)
        files = data_files(root)
        gyro_clipped = acc_clipped = n_values = 0
        with PreparedWriter(out_root, NAME, LABELS, LAYOUTS, dict(SOURCE), rate_hz) as w:
            for (subject, action, trial), path in sorted(files.items()):
                if wanted is not None and subject not in wanted:
                    continue
                x = read_file(path)
                gyro_clipped += int((np.abs(x[:, 3:]) >= GYRO_CLIP_DEG_S).sum())
                acc_clipped += int((np.abs(x[:, :3]) >= ACC_CLIP_G).sum())
                n_values += x[:, 3:].size
                signal = np.concatenate([x[:, :3] * G, np.deg2rad(x[:, 3:])], 1)
                w.add_recording(signal, action - 1, subject=str(subject), rate_hz=RATE_HZ,
                                layout=int(action >= THIGH_FROM), where=str(path))
            w.source['notes'] = [
                f'gyroscope values at its +-1000 deg/s limit (clipped in the source, kept): '
                f'{gyro_clipped} of {n_values}',
                f'accelerometer values at its +-8 g limit (clipped in the source, kept): '
                f'{acc_clipped} of {n_values}']
    return w.meta
