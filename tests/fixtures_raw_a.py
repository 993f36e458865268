"""Tiny raw fixtures, formatted like the real downloads, for uci_har, hhar, mhealth, pamap2 and wisdm.

Each writer builds a few KB of files under a given folder and returns the folder a user would
point --raw at. Signals encode what the tests check: still windows hold gravity (1 g or 9.81
m/s^2), gyroscopes hold known constants, and labels follow a fixed script.

For the converter contract (test_convert_contract.py) each dataset also has `<name>_zip(tmp)`
(the download as a zip, where the converter reads zips) and `break_<name>(raw)`, which corrupts
one line of the fixture under `raw` and returns the fragments the ConversionError must contain.
"""
import io
import zipfile
from pathlib import Path

import numpy as np

G = 9.80665


# ---------------------------------------------------------------------------- generic helpers

def replace_line(path, lineno, text):
    """Replace 1-based line `lineno` of a text file (keeps the other lines byte for byte)."""
    lines = Path(path).read_text().split('\n')
    lines[lineno - 1] = text
    Path(path).write_text('\n'.join(lines))


def line(path, lineno):
    """1-based line `lineno` of a text file."""
    return Path(path).read_text().split('\n')[lineno - 1]


def zip_bytes(folder, junk=True):
    """A zip of `folder` (members named `<folder name>/...`), with a __MACOSX entry like UCI's."""
    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob('*')):
            if p.is_file():
                z.write(p, p.relative_to(folder.parent).as_posix())
        if junk:
            z.writestr(f'__MACOSX/{folder.name}/._README.txt', b'\x00\x05\x16\x07junk')
    return buf.getvalue()


def nested_zip(outer, inner_name, folder, extra=None):
    """Write the UCI distribution shape: `outer` holds `inner_name` (a zip of `folder`) and `extra` files."""
    outer = Path(outer)
    outer.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(outer, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr(inner_name, zip_bytes(folder))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return outer


def folder_bytes(path):
    """{file name: bytes} of a prepared dataset folder."""
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir())}


# ---------------------------------------------------------------------------- UCI HAR

UCI_ROWS = {'train': [(1, 5), (1, 1), (3, 6), (3, 2)],     # (subject, activity code) per window
            'test': [(2, 4), (2, 3)]}
UCI_WINDOW = 128


def uci_sci(v):
    """UCI's fixed 16-character field: '  1.0128170e+000', ' -2.5000000e-001'."""
    mantissa, exp = f'{v:.7e}'.split('e')
    return f'{mantissa}e{int(exp):+04d}'.rjust(16)


def uci_signals(index, code):
    """The 9 Inertial Signals rows of one window: dict name -> (128,). Window `index` in gyro x."""
    t = np.arange(UCI_WINDOW) / 50.0
    moving = code in (1, 2, 3)
    total = np.stack([1.0 + (0.3 * np.sin(2 * np.pi * 2 * t) if moving else 0.0 * t),
                      (0.2 * np.cos(2 * np.pi * 2 * t) if moving else 0.0 * t) - 0.05,
                      0.1 + 0.0 * t])
    total[0, 0] = 1.0128170 if index == 0 else total[0, 0]
    gyro = np.stack([0.5 + 0.1 * index + 0.0 * t, 0.2 * np.sin(2 * np.pi * t), 0.0 * t])
    body = total - np.array([[1.0], [-0.05], [0.1]])
    out = {}
    for kind, values in (('body_acc', body), ('body_gyro', gyro), ('total_acc', total)):
        for a, row in zip('xyz', values):
            out[f'{kind}_{a}'] = row
    return out


def write_uci_har(base):
    """base/UCI HAR Dataset/{train,test}/... -> the dataset folder."""
    root = Path(base) / 'UCI HAR Dataset'
    for split, rows in UCI_ROWS.items():
        folder = root / split / 'Inertial Signals'
        folder.mkdir(parents=True)
        offset = 0 if split == 'train' else len(UCI_ROWS['train'])
        windows = [uci_signals(offset + i, code) for i, (_, code) in enumerate(rows)]
        for name in windows[0]:
            text = ''.join(''.join(uci_sci(v) for v in w[name]) + '\n' for w in windows)
            (folder / f'{name}_{split}.txt').write_text(text)
        (root / split / f'y_{split}.txt').write_text(''.join(f'{c}\n' for _, c in rows))
        (root / split / f'subject_{split}.txt').write_text(''.join(f'{s}\n' for s, _ in rows))
    (root / 'activity_labels.txt').write_text('1 WALKING\n2 WALKING_UPSTAIRS\n3 WALKING_DOWNSTAIRS\n'
                                              '4 SITTING\n5 STANDING\n6 LAYING\n')
    (root / 'README.txt').write_text('Human Activity Recognition Using Smartphones Dataset\n')
    return root


def uci_har_zip(tmp):
    """The UCI download: outer zip with `UCI HAR Dataset.names` and the nested `UCI HAR Dataset.zip`."""
    folder = write_uci_har(Path(tmp) / 'build')
    return nested_zip(Path(tmp) / 'human+activity+recognition+using+smartphones.zip',
                      'UCI HAR Dataset.zip', folder, {'UCI HAR Dataset.names': b'names\n'})


def break_uci_har(raw):
    """A malformed number on line 2 of a test-split file (read after the train split was written)."""
    path = Path(raw) / 'test' / 'Inertial Signals' / 'body_gyro_z_test.txt'
    replace_line(path, 2, line(path, 2).replace('e+000', 'e+0x0', 1))
    return ['body_gyro_z_test.txt', 'line 2']


# ---------------------------------------------------------------------------- HHAR

HHAR_HEADER = 'Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt'
# (user, device, model, rate Hz, script of (gt or None for a gap, seconds))
HHAR_PHONES = [('a', 'nexus4_1', 'nexus4', 200, [('stand', 1.5), ('null', 0.5), ('walk', 1.5)]),
               ('a', 'samsungold_1', 'samsungold', 50, [('sit', 2.0)]),
               ('b', 's3mini_1', 's3mini', 100, [('bike', 1.0), (None, 1.5), ('bike', 1.0)])]
HHAR_WATCHES = [('a', 'gear_1', 'gear', 100, [('stairsup', 1.0), ('null', 0.5), ('stand', 1.0)]),
                ('b', 'lgwatch_1', 'lgwatch', 200, [('stairsdown', 1.5)])]
HHAR_GYRO = (0.5, -0.25, 0.0)        # rad/s while standing
HHAR_T0 = 1424696631913248572        # ns


def hhar_stream(rate, script, sensor, seed):
    """-> t_ns (T,) int64, xyz (T, 3), gt (T,) for one device and sensor, with jittered stamps."""
    rng = np.random.default_rng(seed)
    t, gt, start = [], [], 0.0
    for label, seconds in script:
        n = int(round(seconds * rate))
        if label is not None:
            t.append(start + np.arange(n) / rate)
            gt += [label] * n
        start += n / rate
    t = np.concatenate(t)
    if sensor == 'gyro':                                   # later start, earlier end, other phase
        keep = (t > 0.003) & (t < t[-1] - 0.003)
        t, gt = t[keep] + 0.0013, [g for g, k in zip(gt, keep) if k]
    t = t + rng.uniform(-0.1, 0.1, len(t)) / rate
    moving = np.array([g not in ('stand', 'sit', 'null') for g in gt])
    wave = np.sin(2 * np.pi * 1.5 * t)[:, None] * moving[:, None]
    if sensor == 'acc':
        xyz = np.array([0.3, 0.2, 9.79]) + wave * [2.0, 1.0, 3.0]
    else:
        xyz = np.array(HHAR_GYRO) + wave * [1.0, 0.5, 0.2]
    return (HHAR_T0 + np.round(t * 1e9)).astype(np.int64), xyz, np.array(gt)


def hhar_rows(devices, sensor):
    """CSV body rows (without Index) of several devices, in device order."""
    rows = []
    for k, (user, device, model, rate, script) in enumerate(devices):
        if sensor == 'gyro' and model == 'samsungold':
            continue
        t, xyz, gt = hhar_stream(rate, script, sensor, seed=k + (100 if sensor == 'gyro' else 0))
        for ti, (x, y, z), g in zip(t, xyz, gt):
            rows.append(f'{ti // 1_000_000 + 1995},{ti},{x:.7g},{y:.7g},{z:.7g},{user},{model},{device},{g}')
    return rows


def write_hhar(base):
    """base/Activity recognition exp/{Phones,Watch}_{accelerometer,gyroscope}.csv -> the folder.

    Quirks: nexus4_1's accelerometer has one repeated timestamp and two rows out of order;
    samsungold_1 has no gyroscope rows; s3mini_1 has a 1.5 s gap inside one bike run.
    """
    root = Path(base) / 'Activity recognition exp'
    root.mkdir(parents=True)
    for prefix, devices in (('Phones', HHAR_PHONES), ('Watch', HHAR_WATCHES)):
        for sensor, name in (('acc', 'accelerometer'), ('gyro', 'gyroscope')):
            rows = hhar_rows(devices, sensor)
            if prefix == 'Phones' and sensor == 'acc':
                fields = rows[10].split(',')
                rows[11] = ','.join(fields[:2] + rows[11].split(',')[2:])       # repeated Creation_Time
                rows[20], rows[21] = rows[21], rows[20]                          # out of order
            text = HHAR_HEADER + '\n' + ''.join(f'{i},{r}\n' for i, r in enumerate(rows))
            (root / f'{prefix}_{name}.csv').write_text(text)
    return root


def hhar_zip(tmp):
    """The UCI download: outer zip with `Activity recognition exp.zip` and `Still exp.zip`."""
    folder = write_hhar(Path(tmp) / 'build')
    still = Path(tmp) / 'still' / 'Still exp'
    still.mkdir(parents=True)
    (still / 'Phones_accelerometer.csv').write_text(HHAR_HEADER + '\n')
    return nested_zip(Path(tmp) / 'heterogeneity+activity+recognition.zip', 'Activity recognition exp.zip',
                      folder, {'Still exp.zip': zip_bytes(still)})


def break_hhar(raw):
    """A watch accelerometer row cut to 6 fields on line 9."""
    path = Path(raw) / 'Watch_accelerometer.csv'
    replace_line(path, 9, ','.join(line(path, 9).split(',')[:6]))
    return ['Watch_accelerometer.csv', 'line 9', 'found 6']


# ---------------------------------------------------------------------------- MHEALTH

MHEALTH_FIRST_ROW = ('-9.8184\t0.009971\t0.29563\t0.0041863\t0.0041863\t2.1849\t-9.6967\t0.63077\t'
                     '0.1039\t-0.84053\t-0.68762\t-0.37\t-0.36327\t0.29963\t-8.6499\t-4.5781\t0.18776\t'
                     '-0.44902\t-1.0103\t0.034483\t-2.35\t-1.6102\t-0.030899\t0')
MHEALTH_SCRIPT = {1: [(0, 40), (1, 100), (0, 20), (5, 90)],      # subject -> [(label, rows)]
                  2: [(0, 10), (2, 40)],
                  10: [(0, 10), (12, 60), (3, 50)]}
MHEALTH_GYRO_DEG = 90.0                                           # left-ankle gyro x while standing


def mhealth_rows(subject):
    """(T, 24) values of one subject's log following MHEALTH_SCRIPT."""
    labels = np.concatenate([np.full(n, c) for c, n in MHEALTH_SCRIPT[subject]])
    t = np.arange(len(labels)) / 50.0
    x = np.zeros((len(labels), 24))
    x[:, 0:3] = [-9.8184, 0.009971, 0.29563]                       # chest acc, gravity on x
    x[:, 3:5] = np.sin(2 * np.pi * 1.2 * t)[:, None]               # ECG
    x[:, 5:8] = [2.1849, -9.6967, 0.63077]
    x[:, 8:11] = [MHEALTH_GYRO_DEG, -45.0, 0.0]                    # deg/s
    x[:, 11:14] = [-0.37, -0.36327, 0.29963]
    x[:, 14:17] = [-8.6499, -4.5781, 0.18776]
    x[:, 17:20] = [-0.44902, -1.0103, 0.034483]
    x[:, 20:23] = [-2.35, -1.6102, -0.030899]
    x[:, 5] += 0.5 * np.sin(2 * np.pi * 2 * t) * (labels == 5)
    x[:, 23] = labels
    return x


def write_mhealth(base):
    """base/MHEALTHDATASET/mHealth_subject{1,10}.log (tabs, no header) -> the folder."""
    root = Path(base) / 'MHEALTHDATASET'
    root.mkdir(parents=True)
    for subject in MHEALTH_SCRIPT:
        rows = ['\t'.join(f'{v:.5g}' for v in r[:-1]) + f'\t{int(r[-1])}' for r in mhealth_rows(subject)]
        if subject == 1:
            rows[0] = MHEALTH_FIRST_ROW                              # the real first row: data, not header
        (root / f'mHealth_subject{subject}.log').write_text('\n'.join(rows) + '\n')
    (root / 'README.txt').write_text('MHEALTH dataset\n')
    return root


def mhealth_zip(tmp):
    """The UCI download: a zip of MHEALTHDATASET/ (with a __MACOSX entry)."""
    folder = write_mhealth(Path(tmp) / 'build')
    path = Path(tmp) / 'mhealth+dataset.zip'
    path.write_bytes(zip_bytes(folder))
    return path


def break_mhealth(raw):
    """Text in a number on line 3 of the last subject's log (read after subjects 1 and 2 were written)."""
    path = Path(raw) / 'mHealth_subject10.log'
    replace_line(path, 3, line(path, 3).replace('\t', '\tabc\t', 1).replace('\t', '', 1))
    return ['mHealth_subject10.log', 'line 3']


# ---------------------------------------------------------------------------- PAMAP2

# (folder, subject) -> [(activityID, rows)]; None = a 5 s timestamp gap
PAMAP2_SCRIPT = {('Protocol', 101): [(0, 30), (1, 80), (0, 20), None, (4, 80)],
                 ('Protocol', 102): [(0, 20), (24, 100)],
                 ('Optional', 101): [(0, 10), (20, 60), None, (20, 40)]}
PAMAP2_DROPOUT = range(50, 55)       # rows of Protocol/subject101 where the hand IMU block is NaN
PAMAP2_GYRO = (0.1, 0.2, 0.3)        # rad/s, hand / chest / ankle gyro x


def pamap2_rows(folder, subject):
    """(T, 54) values of one .dat file, NaN where the file holds `NaN`."""
    rows, t = [], 8.38
    for part in PAMAP2_SCRIPT[(folder, subject)]:
        if part is None:
            t += 5.0
            continue
        code, n = part
        for _ in range(n):
            r = np.full(54, np.nan)
            r[0], r[1] = t, code
            r[2] = 104.0 if len(rows) % 11 == 0 else np.nan               # heart rate, ~9 Hz
            for b in range(3):
                base = 3 + 17 * b
                r[base] = 31.8125                                           # temperature
                r[base + 1:base + 4] = [2.37223, 8.60074, 3.51048]          # acc +-16 g, |a| ~ 9.6
                r[base + 4:base + 7] = [2.43954, 8.76165, 3.35465]          # acc +-6 g
                r[base + 7:base + 10] = [PAMAP2_GYRO[b], -0.0158445, 0.0]
                r[base + 10:base + 13] = [14.6806, -69.2128, -5.58905]
                r[base + 13:base + 17] = [1, 0, 0, 0]                       # orientation
            rows.append(r)
            t = round(t + 0.01, 2)
    x = np.array(rows)
    if (folder, subject) == ('Protocol', 101):
        x[list(PAMAP2_DROPOUT), 3:20] = np.nan
    if (folder, subject) == ('Optional', 101):
        x[70:, 3:20] = np.nan                                               # hand IMU lost after the gap
    return x


def pamap2_text(x):
    """Space-separated, '%g'-style numbers, literal NaN."""
    return ''.join(' '.join('NaN' if np.isnan(v) else f'{v:g}' for v in r) + '\n' for r in x)


def write_pamap2(base):
    """base/PAMAP2_Dataset/{Protocol,Optional}/subjectNNN.dat -> the folder."""
    root = Path(base) / 'PAMAP2_Dataset'
    for folder, subject in PAMAP2_SCRIPT:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f'subject{subject}.dat').write_text(pamap2_text(pamap2_rows(folder, subject)))
    (root / 'readme.pdf').write_bytes(b'%PDF-1.4\n')
    return root


def pamap2_zip(tmp):
    """The UCI download: outer zip with readme.pdf and the nested `PAMAP2_Dataset.zip`."""
    folder = write_pamap2(Path(tmp) / 'build')
    return nested_zip(Path(tmp) / 'pamap2+physical+activity+monitoring.zip', 'PAMAP2_Dataset.zip',
                      folder, {'readme.pdf': b'%PDF-1.4\n'})


def break_pamap2(raw):
    """An unknown activityID on line 40 of Optional/subject101.dat (read after the Protocol files)."""
    path = Path(raw) / 'Optional' / 'subject101.dat'
    fields = line(path, 40).split(' ')
    replace_line(path, 40, ' '.join(fields[:1] + ['8'] + fields[2:]))
    return ['Optional/subject101.dat', 'line 40', 'activityID 8']


# ---------------------------------------------------------------------------- WISDM 2019

WISDM_SUBJECTS = (1600, 1601)
WISDM_SCRIPT = [('A', 3.0), ('D', 2.0)]                 # activity code, seconds, per stream
WISDM_T0 = {'phone': 252207666810782, 'watch': 90426708196641}
WISDM_GYRO = (0.25, -0.5, 0.125)                        # rad/s during D (sitting)
WISDM_STILL_ACC = (-0.36476135, 9.693503, 1.0550842)   # m/s^2 during D, |a| = 9.76
WISDM_KEY = ('walking = A\njogging = B\nstairs = C\nsitting = D\nstanding = E\ntyping = F\n'
             'teeth = G\nsoup = H\nchips = I\npasta = J\ndrinking = K\nsandwich = L\nkicking = M\n'
             'catch = O\ndribbling = P\nwriting = Q\nclapping = R\nfolding = S\n')


def wisdm_lines(subject, sensor, device):
    """Lines of one 2019 file: `subject,code,timestamp,x,y,z;`, ~20 Hz, jittered, not time-sorted."""
    rng = np.random.default_rng(subject + (7 if sensor == 'gyro' else 0) + (3 if device == 'watch' else 0))
    lines, start = [], WISDM_T0[device] + (17_000_000 if sensor == 'gyro' else 0)
    for code, seconds in WISDM_SCRIPT:
        n = int(seconds * 20)
        t = start + np.round((np.arange(n) + rng.uniform(-0.1, 0.1, n)) * 50_354_004).astype(np.int64)
        for k, ti in enumerate(t):
            if sensor == 'accel':
                x, y, z = WISDM_STILL_ACC if code == 'D' else (4 * np.sin(k / 3), 9.8, 1.0)
            else:
                x, y, z = WISDM_GYRO if code == 'D' else (np.sin(k / 3), 0.1, 0.2)
            lines.append(f'{subject},{code},{ti},{x:.8g},{y:.8g},{z:.8g};')
        start = t[-1] + 400_000_000
    lines[5], lines[6] = lines[6], lines[5]                      # not sorted by time
    lines.insert(9, lines[8])                                    # a duplicate timestamp
    return lines


def write_wisdm_2019(base, doubled=False):
    """base/wisdm-dataset/[wisdm-dataset/]raw/{phone,watch}/{accel,gyro}/data_*.txt -> the dataset folder."""
    root = Path(base) / 'wisdm-dataset'
    if doubled:
        root = root / 'wisdm-dataset'
    for device in ('phone', 'watch'):
        for sensor in ('accel', 'gyro'):
            folder = root / 'raw' / device / sensor
            folder.mkdir(parents=True)
            for s in WISDM_SUBJECTS:
                text = '\n'.join(wisdm_lines(s, sensor, device)) + '\n'
                (folder / f'data_{s}_{sensor}_{device}.txt').write_text(text)
    (root / 'activity_key.txt').write_text(WISDM_KEY)
    (root / 'README.txt').write_text('WISDM Smartphone and Smartwatch Activity and Biometrics Dataset\n')
    return root


def wisdm_2019_zip(tmp):
    """The UCI download: outer zip with the description PDF and the nested `wisdm-dataset.zip`."""
    folder = write_wisdm_2019(Path(tmp) / 'build')
    return nested_zip(Path(tmp) / 'wisdm+smartphone+and+smartwatch+activity+and+biometrics+dataset.zip',
                      'wisdm-dataset.zip', folder, {'WISDM-dataset-description.pdf': b'%PDF-1.4\n'})


def break_wisdm_2019(raw):
    """Line 20 of subject 1601's watch gyroscope file loses its last value."""
    path = Path(raw) / 'raw' / 'watch' / 'gyro' / 'data_1601_gyro_watch.txt'
    replace_line(path, 20, line(path, 20).rsplit(',', 1)[0] + ';')
    return ['data_1601_gyro_watch.txt', 'line 20', 'found 5']


# ---------------------------------------------------------------------------- WISDM v1.1

def wisdm_v11_text():
    """WISDM_ar_v1.1_raw.txt with every documented quirk; see WISDM_V11_EXPECT for what it holds."""
    def rec(user, act, k, t0, xyz):
        return f'{user},{act},{t0 + k * 50_000_000},{xyz[0]:.8g},{xyz[1]:.8g},{xyz[2]:.8g};'
    jog = [rec(33, 'Jogging', k, 49105962326000, (-0.6946377 + np.sin(k), 12.680544, 0.50395286))
           for k in range(40)]
    sit = [rec(19, 'Sitting', k, 131623531465000, (1.2, 9.6, 0.3)).replace(',', ', ') for k in range(30)]
    walk = [rec(20, 'Walking', k, 1_000_000_000_000, (0.5, 9.7, 1.0 + 0.1 * k)) for k in range(30)]
    lines = jog[:10] + [''.join(jog[10:13])] + jog[13:]          # 3 records on one line
    lines.insert(20, jog[19])                                    # identical duplicate record
    lines.insert(25, jog[24].replace('12.680544', '12.5'))       # same timestamp, other values
    lines.insert(30, '33,Jogging,49106062269000,-0.1;')          # missing fields
    lines += sit[:15] + ['20,Walking,0,0,0,0.0;'] + sit[15:]      # timestamp-0 row (inside a run)
    lines.insert(len(lines) - 5, '19,Sitting,131625031465000,1.2,9.6,0.3,7;')    # a field too many
    lines += walk[:10] + ['20,Walking,1000000550000000,0.5,9.7,;'] + walk[10:]   # empty z
    return '\n'.join(lines) + '\n\n\n'                           # trailing blank lines


WISDM_V11_EXPECT = {'malformed records dropped': 3, 'zero-timestamp records dropped': 1,
                    'duplicate records dropped': 1, 'duplicate timestamps dropped': 1}


def write_wisdm_v11(base):
    """base/WISDM_ar_v1.1/WISDM_ar_v1.1_raw.txt (+ readme) -> the folder."""
    root = Path(base) / 'WISDM_ar_v1.1'
    root.mkdir(parents=True)
    (root / 'WISDM_ar_v1.1_raw.txt').write_text(wisdm_v11_text())
    (root / 'readme.txt').write_text('WISDM Activity Prediction v1.1\n')
    return root


def break_wisdm_v11(raw):
    """An activity name that is not one of the six on line 5."""
    path = Path(raw) / 'WISDM_ar_v1.1_raw.txt'
    replace_line(path, 5, line(path, 5).replace('Jogging', 'Running'))
    return ['WISDM_ar_v1.1_raw.txt', 'line 5', 'activity "Running"']
