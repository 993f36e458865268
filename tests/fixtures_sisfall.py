"""Tiny SisFall fixtures, written like the real release: SisFall_dataset/<subject>/<code>_<subject>_R<trial>.txt,
no header, CRLF line endings, 9 integers per row right-aligned in 4 characters and closed by ';'
(ADXL345 x y z, ITG3200 x y z, MMA8451Q x y z, raw ADC counts), a Readme.txt beside the subject
folders, and a zip with bzip2-compressed members and no directory entries.

Signals encode what the tests check: still trials hold ADXL345 (0, -256, 0) counts = exactly
-1 g on y, the gyroscope holds GYRO_COUNTS (8192 counts = 500 deg/s), and each file's gyro z
holds a per-file tag so that a test can tell which file a segment came from.
"""
import zipfile
from pathlib import Path

import numpy as np

FIRST_ROW = '  17,-179, -99, -18,-504,-352,  76,-697,-279;'   # first row of SA01/D01_SA01_R01.txt
STILL_ACC = (0, -256, 0)                 # ADXL345 counts: -256 * 32 / 8192 = -1 g
GYRO_COUNTS = (8192, -2048)              # ITG3200 x, y: 500 and -125 deg/s
MMA_STILL = (0, -1024, 0)                # MMA8451Q counts for -1 g (dropped by the converter)
README = ('\r\n---- SisFall test fixture ----\r\n\r\n'
          'File name format:\r\n<ADL OR FALL_CODE>_<SUBJECT_ID>_<TRIAL_NO>.txt\r\n')
# (folder, file name, rows, kind, tag); tag goes into gyro z so a segment's file can be recognised
FILES = [
    ('SA01', 'D01_SA01_R01.txt', 96, 'moving', 1),
    ('SA01', 'D07_SA01_R01.txt', 80, 'still', 2),
    ('SA01', 'F01_SA01_R01.txt', 60, 'moving', 3),     # a fall: only in the complete release
    ('SA15', 'D17_SE15_R01.txt', 64, 'still', 4),      # misnamed: SA15's own D17 trial
    ('SE06', 'D05_SE06_R02.txt', 48, 'moving', 5),
    ('SE06', 'F08_SE06_R01.txt', 40, 'still', 6),
    ('SE15', 'D17_SE15_R01.txt', 72, 'still', 7),      # ends with a whitespace-only fragment, like SE07's files
]
WHITESPACE_TAIL = 'SE15/D17_SE15_R01.txt'
RAW_ROWS = {(folder, name): rows for folder, name, rows, _, _ in FILES}


def rows_of(n, kind, tag, first=None):
    """n rows of 9 ints. 'still': ADXL345 at -1 g and the constant gyro; 'moving': a wobble."""
    t = np.arange(n)
    counts = np.zeros((n, 9), np.int64)
    counts[:, 0:3] = STILL_ACC
    counts[:, 6:9] = MMA_STILL
    counts[:, 3:5] = GYRO_COUNTS
    counts[:, 5] = tag
    if kind == 'moving':
        counts[:, 0] += np.round(60 * np.sin(2 * np.pi * t / 40)).astype(np.int64)
        counts[:, 2] += np.round(40 * np.cos(2 * np.pi * t / 40)).astype(np.int64)
        counts[:, 3] = np.round(300 * np.sin(2 * np.pi * t / 50)).astype(np.int64)
    lines = [','.join(f'{v:4d}' for v in row) + ';' for row in counts]
    if first is not None:
        lines[0] = first
    return lines


def write_trial(path, lines, newline='\r\n', tail=''):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(lines) + newline + tail).encode('ascii'))


def write_sisfall(base):
    """The unpacked release under `base` (created): returns `base`, which holds SisFall_dataset/."""
    base = Path(base)
    root = base / 'SisFall_dataset'
    root.mkdir(parents=True, exist_ok=True)
    (root / 'Readme.txt').write_bytes(README.encode('latin-1'))
    for folder, name, n, kind, tag in FILES:
        first = FIRST_ROW if name == 'D01_SA01_R01.txt' else None
        tail = '  ' if f'{folder}/{name}' == WHITESPACE_TAIL else ''
        write_trial(root / folder / name, rows_of(n, kind, tag, first), tail=tail)
    return base


def sisfall_zip(tmp):
    """The release as a zip (bzip2 members `SisFall_dataset/...`, no directory entries) in `tmp`."""
    tmp = Path(tmp)
    src = write_sisfall(tmp / 'sisfall-src')
    out = tmp / 'SisFall_dataset.zip'
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_BZIP2) as z:
        for p in sorted((src / 'SisFall_dataset').rglob('*')):
            if p.is_file():
                z.write(p, p.relative_to(src).as_posix())
    return out


def break_sisfall(raw):
    """Corrupt line 5 of SA01/D07_SA01_R01.txt (a row loses its last value); -> expected message fragments."""
    path = Path(raw) / 'SisFall_dataset' / 'SA01' / 'D07_SA01_R01.txt'
    lines = path.read_bytes().decode('ascii').split('\r\n')
    lines[4] = lines[4].rsplit(',', 1)[0] + ';'
    path.write_bytes('\r\n'.join(lines).encode('ascii'))
    return ['D07_SA01_R01.txt', 'line 5']
