"""Tiny raw HuGaDB fixtures, written like the real files: HuGaDB/Data/HuGaDB_v1_<act>_<PP>_<CC>.txt,
tab-separated, LF line endings, 4 header lines (the #Activity and #ActivityID lines end in a space,
#Date is space-separated), then 39 integer columns; the zip holds bzip2 members `HuGaDB/Data/...`
and no folder entries, like the real archive.

The signals encode what the tests check: still rows hold 1 g on one axis per IMU (16384 counts)
with zero-mean noise, `standing` rows hold a known gyroscope count on every IMU, and one
bicycling row holds the real out-of-int16 glitch value.
"""
import zipfile
from pathlib import Path

import numpy as np

# the real first data row of HuGaDB_v1_various_01_00.txt (label 5, sitting)
FIRST_ROW = ('-7684\t-1200\t13444\t16\t11\t-22\t-14464\t520\t-7480\t-6\t-2\t22\t-6528\t-1016\t15256\t35\t-7\t-6\t'
             '-6912\t5720\t13824\t34\t-7\t-22\t-15176\t408\t-7168\t12\t-24\t38\t-6064\t968\t15960\t37\t-10\t-21\t'
             '120\t127\t5')
COLUMN_ROW = '\t'.join([f'{s}_{imu}_{a}' for imu in ('rf', 'rs', 'rt', 'lf', 'ls', 'lt')
                        for s in ('acc', 'gyro') for a in 'xyz'] + ['EMG_r', 'EMG_l', 'act'])
STILL_ACC = [(0, 0, 16384), (-16384, 0, 0), (0, 16384, 0),        # counts, |a| = 1 g, per IMU
             (0, 0, -16384), (16384, 0, 0), (0, -16384, 0)]
STANDING_GYRO = (2048, -1024, 512)        # counts while standing: 125, -62.5, 31.25 deg/s
GLITCH = 4312046944                       # the value SOURCE.md quotes from bicycling_01_08
GLITCH_ROW, GLITCH_COL = 20, 4            # data row (0-based) and column (gyro_rf_y)
MOVING = {2, 6, 7, 1, 9}                  # running, sitting down, standing up, walking, cycling

# file name -> (#Activity names, #Date, [(act, rows)])
FILES = {
    'HuGaDB_v1_various_01_00.txt': ('sitting standing_up standing sitting_down sitting', '10-26-17-47',
                                    [(5, 40), (7, 20), (8, 40), (6, 20), (5, 40)]),
    'HuGaDB_v1_running_03_00.txt': ('running', '08-18-11-48', [(2, 60)]),          # rf rs rt corrupted
    'HuGaDB_v1_bicycling_01_08.txt': ('cycling', '10-10-12-53', [(9, 60)]),        # glitch, full release only
    'HuGaDB_v1_walking_02_00.txt': ('walking', '09-02-15-10', [(1, 60)]),          # full release only
}
CORRUPTED = {'HuGaDB_v1_running_03_00.txt': (0, 1, 2)}                             # IMU indices
README = ('Data were collected with next sensors setting:\n'
          'Range of the gyroscopes from -2000 to 2000 deg/sec.\n'
          'Range of the accelerometers from -2g to 2g. Where g is gravity acceleration\n')


def rows_of(name, seed):
    """The data rows of one fixture file, as int64 (T, 39)."""
    rng = np.random.default_rng(seed)
    script = FILES[name][2]
    acts = np.concatenate([np.full(n, a) for a, n in script])
    t = np.arange(len(acts)) / 58.8
    x = np.zeros((len(acts), 39), np.int64)
    for k in range(6):
        acc = np.array(STILL_ACC[k]) + rng.integers(-8, 9, (len(acts), 3))
        gyro = rng.integers(-3, 4, (len(acts), 3))
        moving = np.isin(acts, list(MOVING))
        wave = np.sin(2 * np.pi * 1.5 * t[:, None] + np.arange(3) + k)
        acc[moving] += (4000 * wave[moving]).astype(np.int64)
        gyro[moving] += (3000 * wave[moving]).astype(np.int64)
        if k in CORRUPTED.get(name, ()):                         # amplified 10x and clipped
            gyro = np.clip(gyro * 10, -32768, 32767)
        gyro[acts == 8] = STANDING_GYRO
        x[:, 6 * k:6 * k + 3], x[:, 6 * k + 3:6 * k + 6] = acc, gyro
    x[:, 36], x[:, 37], x[:, 38] = rng.integers(100, 140, len(acts)), 127, acts
    return x


def file_text(name, rows):
    activity, date, script = FILES[name]
    ids = ' '.join(str(a) for a, _ in script)
    head = [f'#Activity\t{activity} ', f'#ActivityID\t{ids} ', f'#Date {date}', COLUMN_ROW]
    return '\n'.join(head + ['\t'.join(map(str, r)) for r in rows]) + '\n'


def file_rows(name, seed):
    """Rows as written: the various file starts with the real first row, bicycling holds the glitch."""
    x = rows_of(name, seed)
    if name == 'HuGaDB_v1_various_01_00.txt':
        x[0] = [int(v) for v in FIRST_ROW.split('\t')]
    if name == 'HuGaDB_v1_bicycling_01_08.txt':
        x[GLITCH_ROW, GLITCH_COL] = GLITCH
    return x


def write_hugadb(base):
    """base/HuGaDB/Data/{ReadMe.txt, HuGaDB_v1_*.txt} -> base/HuGaDB (the folder to point --raw at)."""
    root = Path(base) / 'HuGaDB'
    data = root / 'Data'
    data.mkdir(parents=True, exist_ok=True)
    (data / 'ReadMe.txt').write_text(README)
    for seed, name in enumerate(FILES):
        (data / name).write_text(file_text(name, file_rows(name, seed)))
    return root


def hugadb_zip(tmp):
    """The archive: bzip2 members HuGaDB/Data/<file>, no folder entries, ReadMe first."""
    folder = write_hugadb(Path(tmp) / 'build')
    path = Path(tmp) / 'HuGaDB.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_BZIP2) as z:
        for p in [folder / 'Data' / 'ReadMe.txt'] + sorted((folder / 'Data').glob('HuGaDB_v1_*.txt')):
            z.write(p, p.relative_to(folder.parent).as_posix())
    return path


def break_hugadb(raw):
    """Truncate data line 10 of the walking file under `raw`; -> fragments the error must contain."""
    path = next(Path(raw).rglob('HuGaDB_v1_walking_02_00.txt'))
    lines = path.read_text().split('\n')
    lines[9] = '\t'.join(lines[9].split('\t')[:20])
    path.write_text('\n'.join(lines))
    return ['HuGaDB_v1_walking_02_00.txt', 'line 10']
