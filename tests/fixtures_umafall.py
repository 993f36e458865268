"""Tiny UMAFall fixtures, written like the release: UMAFall_Dataset/UMAFall_Subject_<SS>_<ADL|Fall>_
<Activity>_<trial>_<date>.csv, a 41-line `%` header padded to 83 characters (blank lines 84
spaces), then `;`-separated rows in blocks: the phone's accelerometer, then per tag (CHEST,
WAIST, WRIST, ANKLE) its accelerometer, gyroscope and magnetometer. The zip has bzip2 members.

Trials are 1.2 s long. Signals encode what the tests check:
  - the still trial holds the phone at STILL_PHONE g, every tag accelerometer at STILL_TAG g
    (counts of 1/4096 g), the gyroscopes at GYRO_DEG deg/s and the magnetometers at MAG;
  - the phone's stamps come in batches (BACKLOG samples share the first stamp; every
    BATCH_EVERY-th stamp carries BATCH samples), tags tick every 50 ms;
  - the walking trial's chest accelerometer has QUARTER rows written at a quarter of their scale
    (one of them on the coarse grid on all three axes), its wrist magnetometer LEADING_ZEROS
    rows of 0, 0, 0;
  - Subject_13's file is spreadsheet-mangled like the real ones (CRLF, `;;;;;;;` filler, a
    trailing `;`, values >= 1 with dots as thousands separators, one `-6,10E+10`).
"""
import re
import zipfile
from pathlib import Path

import numpy as np

FIRST_ROW = '179;1;-0.1715855300426483;0.9238576889038086;-0.1732254475355148;0;0'   # SOURCE.md
DURATION_S = 1.2
PHONE_HZ, TAG_HZ = 200, 20
BACKLOG = 6                     # phone samples sharing the first stamp
BATCH, BATCH_EVERY = 3, 10      # every 10th phone stamp carries 3 samples
STILL_PHONE = (0.0, 1.0, 0.0)                                        # g
STILL_TAG = (4093 / 4096, 0.0, 0.0)                                  # g, on the 1/4096 g grid
GYRO_DEG = (45.0, -90.0, 0.0078125)                                  # deg/s, multiples of 1/128
MAG = (48.16666793823242, -61.5, 12.25)                              # as given (uT)
QUARTER = 5                     # chest accelerometer rows 0..4 of the walking trial at quarter scale
LEADING_ZEROS = 3               # wrist magnetometer rows of the walking trial reading 0, 0, 0
POSITIONS = ['RIGHTPOCKET', 'CHEST', 'WAIST', 'WRIST', 'ANKLE']
MACS = ['f8:95:c7:f3:ba:82', 'C4:BE:84:70:64:8A', 'C4:BE:84:71:A5:02', 'C4:BE:84:70:0E:80',
        'B0:B4:48:B8:77:03']
PHONES = {'lg': ('LGE-lge-LG-H815-5.1', 'lge-LG-H815-5.1', 'LGE Accelerometer - Vendor: BOSCH',
                 '5000us - 65535000us', '16.000000263891405', '1.2136514986004396E-4'),
          'samsung': ('samsung-samsung-SM-G900F-5.0', 'samsung-SM-G900F-5.0',
                      'MPU6500 Acceleration Sensor - Vendor: Invensense', '5000us - 200000us',
                      '2.0000000329864256', '6.103515725666582E-5')}
# name, phone, kind of signal, header IDs, IDs with rows, subject's age/height/weight/gender
FILES = [
    ('UMAFall_Subject_01_ADL_Walking_1_2017-04-14_23-25-52.csv', 'lg', 'moving', [0, 4, 2, 1, 3],
     [0, 1, 2, 3, 4], (67, 156, 76, 'F')),
    ('UMAFall_Subject_01_ADL_Aplausing_1_2017-04-14_23-38-23.csv', 'lg', 'still', [0, 2, 1, 3],
     [0, 1, 3], (67, 156, 76, 'F')),
    ('UMAFall_Subject_02_Fall_forwardFall_1_2016-06-13_20-43-52.csv', 'samsung', 'moving', [0, 4, 2, 1, 3],
     [0, 1, 2, 3, 4], (26, 180, 81, 'M')),
    ('UMAFall_Subject_10_ADL_Jogging_1_2016-06-06_15-39-20.csv', 'samsung', 'still', [0, 4, 2, 1, 3],
     [0, 1, 2, 3, 4], (27, 173, 65, 'M')),
    ('UMAFall_Subject_13_ADL_Bending_1_2016-06-06_16-37-56.csv', 'samsung', 'mangled', [0, 3, 4, 1, 2],
     [0, 1, 3, 4], (18, 159, 50, 'F')),
]
WALKING, STILL, FALL, JOGGING, MANGLED = (f[0] for f in FILES)
MANGLED_ROWS = {7: (1.01259815692901, 0.5, -6.103515625e-05),     # -> '101.259.815.692.901', '-6,10E+10'
                8: (-1.5, 0.5, 1.25)}                              # -> '-15', '0.5', '125'


NAME_RE = re.compile(r'UMAFall_Subject_(\d+)_(ADL|Fall)_(.+)_(\d+)_(\d{4}-\d\d-\d\d)_(\d\d)-(\d\d)-(\d\d)\.csv')


def header_lines(name, phone, listed, person, mangled=False):
    """The 41 header lines of one file, without line endings; `mangled`: as after the spreadsheet."""
    subject, kind, activity, trial, day, hh, mm, ss = NAME_RE.fullmatch(name).groups()
    age, height, weight, gender = person
    model, device, accel, delay, max_range, resolution = PHONES[phone]
    table = [(f'%{MACS[i]};{i}; {POSITIONS[i]}; {device if i == 0 else "SensorTag"}' if mangled else
              f'%{MACS[i]}; {i}; {POSITIONS[i]}; {device if i == 0 else "SensorTag"}') for i in listed]
    lines = [
        '% Universidad de Malaga - ETSI de Telecomunicacion (Spain)', f'% Date: {day}_{hh}:{mm}:{ss}',
        f'% ID: Subject_{subject}_{kind}_{activity}_{trial}', f'% Name: Subject_{subject}',
        f'% Age: {age}', f'% Height(cm): {height}', f'% Weight(Kg): {weight}', f'% Gender: {gender}', '',
        f'% Type of Movement: {kind.upper()}', f'% Type of Movement: {"TRUE" if kind == "Fall" else "FALSE"}',
        f'% Description of the movement: {activity}', f'% Trial: {trial}', '',
        f'% Number of Sensors: {len(listed)}', '',
        f'% Used Smartphone: {model}', f"% Smartphone's Accelerometer: {accel}", '% --> Version: 1',
        f'% --> Min - Max Delay: {delay}', f'% --> Maximum Range: {max_range} G',
        f'% --> Resolution: {resolution} G', '',
        "% SensorTag's Accelerometer: MPU-9250 MEMS MotionTracking Device - Invensense",
        '% --> Maximum Range: 16 G', '% --> Resolution: 0.00024 G', '',
        '% MAC Address; Sensor_ID; Position; Device Model', *table,
        '', '% Sensor_Type:', '% Accelerometer = 0', '% Gyroscope = 1', '% Magnetometer = 2', '', '',
        '% TimeStamp; Sample No; X-Axis; Y-Axis; Z-Axis; Sensor Type; Sensor ID;']
    out = []
    for line in lines:
        if not mangled or line.startswith('% TimeStamp'):
            out.append(line.ljust(83) if line else ' ' * 84)
        elif line in table:
            out.append(line.ljust(82) + ';;;;')
        else:
            out.append((line.ljust(83) if line else ' ' * 84) + (';;;;' if line.startswith('% MAC') else ';;;;;;;'))
    return out


def phone_stamps(t0=179):
    """Phone time stamps (ms) for DURATION_S at 200 Hz: BACKLOG samples at t0, then one sample
    per 5 ms except every BATCH_EVERY-th stamp, which carries BATCH samples 5 * BATCH ms later."""
    stamps, t = [t0] * BACKLOG, t0
    n = int(DURATION_S * PHONE_HZ)
    k = 0
    while len(stamps) < n:
        k += 1
        if k % BATCH_EVERY == 0:
            t += 5 * BATCH
            stamps += [t] * BATCH
        else:
            t += 5
            stamps.append(t)
    return stamps[:n]


def expected_phone_repairs():
    """(backlog samples dropped, samples spread) for one phone stream of phone_stamps()."""
    stamps = np.array(phone_stamps())
    distinct = len(np.unique(stamps))
    return BACKLOG - 1, len(stamps) - (BACKLOG - 1) - distinct


def tag_stamps(point, sensor, t0=523):
    """Tag time stamps (ms): every 50 ms with +-1 ms jitter, sensors 2 ms apart, tags 7 ms apart."""
    n = int(DURATION_S * TAG_HZ)
    jitter = np.array([0, 1, -1, 0, 1])[np.arange(n) % 5]
    return (t0 + 7 * point + 2 * sensor + 50 * np.arange(n) + jitter).tolist()


def signal(kind, point, sensor, n, seed):
    """(n, 3) values in the file's units (g, deg/s, uT)."""
    if kind == 'still':
        base = {0: STILL_PHONE if point == 0 else STILL_TAG, 1: GYRO_DEG, 2: MAG}[sensor]
        return np.tile(np.array(base, np.float64), (n, 1))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / (PHONE_HZ if point == 0 else TAG_HZ)
    wave = np.sin(2 * np.pi * 1.8 * t)[:, None] * [1.0, 0.5, 0.25]
    if sensor == 0:
        x = np.array(STILL_PHONE if point == 0 else STILL_TAG) + 0.4 * wave + 0.01 * rng.standard_normal((n, 3))
        return np.round(x * 4096) / 4096 if point else x.astype(np.float32).astype(np.float64)
    if sensor == 1:
        return np.round((np.array(GYRO_DEG) + 120 * wave) * 128) / 128
    return (np.array(MAG) + 3 * wave).astype(np.float32).astype(np.float64)


def data_rows(kind, with_rows, seed):
    """[(stamp, sample no, x, y, z, type, id)] in the release's block order."""
    rows = []
    stamps = phone_stamps()
    if 0 in with_rows:
        x = signal(kind, 0, 0, len(stamps), seed)
        rows += [(t, k + 1, *v, 0, 0) for k, (t, v) in enumerate(zip(stamps, x))]
    for point in (1, 2, 3, 4):
        if point not in with_rows:
            continue
        for sensor in (0, 1, 2):
            ts = tag_stamps(point, sensor)
            x = signal(kind, point, sensor, len(ts), seed + 10 * point + sensor)
            if kind == 'moving' and seed == 0 and point == 1 and sensor == 0:
                x[:QUARTER] = np.round(x[:QUARTER] * 4096 + 1) / 16384      # odd counts: off the coarse grid
                x[2] = (4092 / 16384, 0.0, 0.0)                             # on the coarse grid, inside the run
            if kind == 'moving' and seed == 0 and point == 3 and sensor == 2:
                x[:LEADING_ZEROS] = 0.0
            first = 0 if sensor == 0 else 1
            rows += [(t, k + first, *v, sensor, point) for k, (t, v) in enumerate(zip(ts, x))]
    return rows


def text(v):
    """A value as the release prints it."""
    return repr(float(v)) if v != int(v) else f'{float(v)}'


def spreadsheet_text(v):
    """A value after the spreadsheet round trip: under 1 unchanged; from 1 on, its digits as an
    integer with dots every three digits; a tiny one as '-6,10E+10'."""
    if v != 0 and abs(v) < 1e-4:
        return f'{"-" if v < 0 else ""}{abs(v) * 1e5:.2f}'.replace('.', ',') + 'E+10'
    if abs(v) < 1:
        return text(v)
    digits = repr(abs(float(v))).replace('.', '').lstrip('0')
    if len(digits) > 15:                                   # the spreadsheet keeps 15 significant digits
        digits = str(round(int(digits), 15 - len(digits)))
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return ('-' if v < 0 else '') + '.'.join(groups)


def write_file(path, phone, kind, listed, with_rows, person, seed, mangled=None):
    """One trial file; kind 'mangled' is a moving trial (with two rows set to MANGLED_ROWS)
    written as the spreadsheet left it, unless `mangled` is False."""
    rows = data_rows('moving' if kind == 'mangled' else kind, with_rows, seed)
    if kind == 'mangled':
        for i, xyz in MANGLED_ROWS.items():
            rows[i] = (*rows[i][:2], *xyz, *rows[i][5:])
    mangled = kind == 'mangled' if mangled is None else mangled
    lines = header_lines(path.name, phone, listed, person, mangled)
    if not mangled:
        body = [f'{t};{k};{text(x)};{text(y)};{text(z)};{typ};{sid}' for t, k, x, y, z, typ, sid in rows]
        if path.name == WALKING:
            body[0] = FIRST_ROW
        path.write_text('\n'.join(lines + body) + '\n')
        return
    body = [f'{t};{k};' + ';'.join(spreadsheet_text(v) for v in (x, y, z)) + f';{typ};{sid};'
            for t, k, x, y, z, typ, sid in rows]
    path.write_bytes(('\r\n'.join(lines + body) + '\r\n').encode('ascii'))


def write_umafall(base):
    """The unpacked release under `base` (created): returns `base`, which holds UMAFall_Dataset/."""
    base = Path(base)
    root = base / 'UMAFall_Dataset'
    root.mkdir(parents=True, exist_ok=True)
    for seed, (name, phone, kind, listed, with_rows, person) in enumerate(FILES):
        write_file(root / name, phone, kind, listed, with_rows, person, seed)
    return base


def write_clean_twin(raw):
    """Rewrite Subject_13's file under `raw` as a clean file with the same values (LF, no filler,
    no trailing ';', plain numbers)."""
    seed, (name, phone, kind, listed, with_rows, person) = next(
        (i, f) for i, f in enumerate(FILES) if f[0] == MANGLED)
    write_file(Path(raw) / 'UMAFall_Dataset' / name, phone, kind, listed, with_rows, person, seed, mangled=False)


def umafall_zip(tmp):
    """The release as distributed: a zip of UMAFall_Dataset/... with bzip2 members, in `tmp`."""
    tmp = Path(tmp)
    src = write_umafall(tmp / 'umafall-src')
    out = tmp / 'UMAFall_ADL.zip'
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_BZIP2) as z:
        for p in sorted((src / 'UMAFall_Dataset').iterdir()):
            z.write(p, p.relative_to(src).as_posix())
    return out


def break_umafall(raw):
    """Corrupt line 60 of the still trial (a value becomes text); -> expected message fragments."""
    path = Path(raw) / 'UMAFall_Dataset' / STILL
    lines = path.read_text().split('\n')
    fields = lines[59].split(';')
    fields[3] = 'abc'
    lines[59] = ';'.join(fields)
    path.write_text('\n'.join(lines))
    return [STILL, 'line 60']
