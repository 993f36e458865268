"""Tiny UTD-MHAD inertial fixtures, written like the real download: `Inertial/a<k>_s<j>_t<i>_inertial.mat`,
compressed MATLAB v5 MAT-files with the Windows MATLAB header text, one float64 N x 6 variable
`d_iner` (acc g, gyro deg/s) quantised as the real data are (1/4096 g, 4/131 deg/s, 6 decimals),
and the zip as distributed (deflated members under `Inertial/`, sorted by name, no folder entries).

Every file starts still (STILL rows, |acc| = 1 g exactly, gyro 0), then turns at a known gyroscope
count (TURN rows), then moves. a1_s1_t1 starts with the real first row quoted in SOURCE.md;
a1_s1_t2 holds the source's clipping values (gyro +-1000.5 deg/s, acc -8 g).
"""
import io
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

HEADER = 'MATLAB 5.0 MAT-file, Platform: PCWIN64, Created on: Mon Dec 22 21:07:21 2014'
FIRST_ROW = (-0.9595, -0.1777, -0.1929, 5.2214, 1.5267, 0.1527)     # a1_s1_t1 row 1, SOURCE.md
ACC_LSB, GYRO_LSB = 1 / 4096, 4 / 131                             # g, deg/s per count
GYRO_CLIP = (1000.519084, -1000.549618)                           # the source's gyro limits, deg/s
ACC_CLIP = -8.0                                                   # g
STILL, TURN = 25, 10                                              # rows still, rows turning
GYRO_COUNTS = (2948, -1474, 0)                                    # while turning: 90.015, -45.008, 0 deg/s
STILL_ACC = {0: (-1.0, 0.0, 0.0), 1: (0.0, 0.0, 1.0)}             # g, wrist (layout 0) / thigh (layout 1)
FILES = [(1, 1, 1, 110), (1, 1, 2, 120), (8, 2, 1, 115), (24, 1, 1, 130), (27, 8, 3, 107)]
# (action, subject, trial, rows); actions 22..27 are thigh (layout 1)


def file_name(action, subject, trial):
    return f'a{action}_s{subject}_t{trial}_inertial.mat'


def gyro_deg(counts):
    return np.round(np.asarray(counts, np.float64) * GYRO_LSB, 6)


def d_iner(action, subject, trial, rows):
    """The N x 6 array of one file (g, deg/s), quantised like the real data."""
    t = np.arange(rows) / 50.0
    phase = action + 10 * subject + 100 * trial
    acc = np.tile(STILL_ACC[int(action >= 22)], (rows, 1))
    gyro = np.zeros((rows, 3))
    gyro[STILL:STILL + TURN] = gyro_deg(GYRO_COUNTS)
    move = slice(STILL + TURN, rows)
    acc[move] += 0.4 * np.sin(2 * np.pi * 1.5 * t[move, None] + phase + np.arange(3))
    gyro[move] = 200.0 * np.sin(2 * np.pi * 1.0 * t[move, None] + phase + np.arange(3))
    x = np.concatenate([np.round(np.round(acc / ACC_LSB) * ACC_LSB, 6),
                        np.round(np.round(gyro / GYRO_LSB) * GYRO_LSB, 6)], 1)
    if (action, subject, trial) == (1, 1, 1):
        x[0] = FIRST_ROW
    if (action, subject, trial) == (1, 1, 2):
        x[60, 3], x[61, 5], x[62, 1] = GYRO_CLIP[0], GYRO_CLIP[1], ACC_CLIP
    return x


def write_mat(path, variables, header=HEADER):
    """A compressed MATLAB v5 MAT-file with MATLAB's own header text (deterministic bytes)."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, variables, do_compression=True, format='5')
    data = bytearray(buf.getvalue())
    data[:116] = header.ljust(116).encode('ascii')
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def write_utd_mhad(base):
    """base/Inertial/a*_s*_t*_inertial.mat -> the Inertial folder (what --raw points at)."""
    folder = Path(base) / 'Inertial'
    for action, subject, trial, rows in FILES:
        write_mat(folder / file_name(action, subject, trial), {'d_iner': d_iner(action, subject, trial, rows)})
    return folder


def zip_folder(folder, target, extra=None):
    """Zip `folder` as the distributed archive: members `<folder name>/<file>`, sorted, deflated."""
    folder, target = Path(folder), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, 'w', zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, f'{folder.name}/{p.name}')
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return target


def utd_mhad_zip(tmp):
    """tmp/UTD_MHAD_Inertial.zip, holding Inertial/a*_s*_t*_inertial.mat."""
    return zip_folder(write_utd_mhad(Path(tmp) / 'build'), Path(tmp) / 'UTD_MHAD_Inertial.zip')


def break_utd_mhad(raw):
    """Put a NaN in row 5 of a8_s2_t1's d_iner; -> fragments the ConversionError must contain."""
    x = d_iner(8, 2, 1, 115)
    x[4, 1] = np.nan
    write_mat(Path(raw) / file_name(8, 2, 1), {'d_iner': x})
    return [file_name(8, 2, 1), 'row 5']
