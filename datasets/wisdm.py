"""wisdm: WISDM activity data, either the 2019 phone + watch dataset or the 2012 v1.1 release.

The version is told apart by which file exists under --raw (up to three levels down); either way
the prepared dataset is called 'wisdm', with that version's labels and layouts.

2019 (Weiss 2019, "Smartphone and Smartwatch Activity and Biometrics"): the extracted
`wisdm-dataset` folder (a doubled `wisdm-dataset/wisdm-dataset` is fine) or any folder above it,
or the UCI download zip itself, whose nested `wisdm-dataset.zip` is unpacked to a temporary folder:
    raw/{phone,watch}/{accel,gyro}/data_<subject>_<accel|gyro>_<phone|watch>.txt
    activity_key.txt    optional; lines '<name> = <code>', checked against our codes if present
Lines are `subject,code,timestamp,x,y,z;` (no header, trailing `;`), 20 Hz, code A..S without N,
timestamp in ns of a device clock, accelerometer m/s^2 (gravity included), gyroscope rad/s.
Files are not sorted by time and the four streams are not aligned: per (subject, device,
activity) each stream is sorted by time (repeated stamps dropped, counted), the accelerometer is
put on a uniform 20 Hz grid (split at gaps > 1 s) and the gyroscope is interpolated onto it where
it has no gap (grid samples without a gyroscope neighbour are dropped, counted). Layout 0 is the
phone (trouser pocket), layout 1 the watch (wrist), each acc + gyro = 6 channels. A stream whose
median timestamp step is not 10..200 ms is an error (the timestamps would not be ns at 20 Hz).

v1.1 (Kwapisz, Weiss & Moore 2010): the folder holding `WISDM_ar_v1.1_raw.txt` (or a folder above):
    WISDM_ar_v1.1_raw.txt   `user,activity,timestamp,x,y,z;` records, accelerometer only (m/s^2,
                            gravity included), 6 activity names, 20 Hz, timestamp "generally"
                            the phone's uptime in ns
The file is messy; these are repaired and counted, not fatal: several records on one line
(split at `;`), records with a missing or empty field or too many fields (dropped), timestamp-0
rows (dropped), identical duplicate records (dropped), different records with the same timestamp
(the first is kept), spaces after commas, blank lines. A field that is not a number or an unknown
activity name is an error naming the line (no such record is known in the real file); a file
with no valid record is an error. Each run of consecutive records of one (user, activity)
in file order is put on a uniform 20 Hz grid (split at gaps > 1 s); runs whose median timestamp
step is not 10..200 ms are dropped (counted). One layout: phone accelerometer, 3 channels.
"""
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.common import align, find_root, first_bad_line, median_rate, raw_folder, sort_dedupe
from datasets.format import ConversionError, PreparedWriter, acc_gyro, triad, uniform_from_timestamps

NAME = 'wisdm'
RATE_HZ = 20.0
MAX_GAP_S = 1.0
STEP_RANGE_S = (0.01, 0.2)          # plausible median timestamp steps of a 20 Hz stream

# ---------------------------------------------------------------------------- 2019
DEVICES = ['phone', 'watch']        # layout 0, 1
CODES = list('ABCDEFGHIJKLMOPQRS')  # no N; code -> LABELS_2019 index
LABELS_2019 = [
    ('walking', 'walking on flat ground'),
    ('jogging', 'jogging at a moderate pace'),
    ('climbing stairs', 'walking up and down a flight of stairs'),
    ('sitting', 'sitting still on a chair'),
    ('standing', 'standing still upright'),
    ('typing', 'typing on a computer keyboard while seated'),
    ('brushing teeth', 'brushing the teeth with a toothbrush'),
    ('eating soup', 'eating soup with a spoon'),
    ('eating chips', 'eating chips with the hand'),
    ('eating pasta', 'eating pasta with a fork'),
    ('drinking from a cup', 'drinking from a cup'),
    ('eating a sandwich', 'eating a sandwich'),
    ('kicking a soccer ball', 'kicking a soccer ball'),
    ('playing catch', 'playing catch with a tennis ball'),
    ('dribbling a basketball', 'dribbling a basketball'),
    ('writing', 'writing with a pen on paper while seated'),
    ('clapping', 'clapping the hands'),
    ('folding clothes', 'folding clothes'),
]
LAYOUTS_2019 = [acc_gyro('trouser pocket', 'smartphone'),
                acc_gyro('wrist', 'smartwatch')]
COLS_2019 = ['subject', 'code', 't', 'x', 'y', 'z']
DTYPES_2019 = {'subject': np.int64, 'code': 'category', 't': np.int64,
               'x': np.float64, 'y': np.float64, 'z': np.float64}
SOURCE_2019 = {'title': 'WISDM Smartphone and Smartwatch Activity and Biometrics Dataset',
               'url': 'https://doi.org/10.24432/C5HK59', 'licence': 'CC BY 4.0',
               'citation': 'Weiss, Yoneda, Hayajneh, "Smartphone and Smartwatch-Based Biometrics '
                           'Using Activities of Daily Living", IEEE Access 7 (2019)'}

# ---------------------------------------------------------------------------- v1.1
V11_FILE = 'WISDM_ar_v1.1_raw.txt'
ACTIVITIES_V11 = ['Walking', 'Jogging', 'Upstairs', 'Downstairs', 'Sitting', 'Standing']
LABELS_V11 = [
    ('walking', 'walking on flat ground'),
    ('jogging', 'jogging at a moderate pace'),
    ('walking upstairs', 'walking up a flight of stairs'),
    ('walking downstairs', 'walking down a flight of stairs'),
    ('sitting', 'sitting still on a chair'),
    ('standing', 'standing still upright'),
]
LAYOUTS_V11 = [triad('acc', 'm/s^2', 'trouser pocket', 'smartphone', gravity=True)]
COLS_V11 = ['user', 'activity', 't', 'x', 'y', 'z']
DTYPES_V11 = {'user': np.float64, 'activity': 'category', 't': np.float64,
              'x': np.float64, 'y': np.float64, 'z': np.float64}
SOURCE_V11 = {'title': 'WISDM Activity Prediction v1.1', 'url': 'https://www.cis.fordham.edu/wisdm/dataset.php',
              'licence': 'none stated; cite the paper and keep readme.txt with any redistribution',
              'citation': 'Kwapisz, Weiss, Moore, "Activity Recognition using Cell Phone '
                          'Accelerometers", SensorKDD 2010'}


def locate(raw):
    """-> ('2019', folder holding raw/) or ('v1.1', folder holding WISDM_ar_v1.1_raw.txt)."""
    if not Path(raw).exists():
        raise ConversionError(f'{raw}: raw folder does not exist')
    for version, marker in (('2019', 'raw/phone/accel'), ('v1.1', V11_FILE)):
        try:
            hit = find_root(raw, marker)
        except ConversionError:
            continue
        return version, (hit.parent.parent if version == '2019' else hit)
    raise ConversionError(f'{raw}: expected raw/phone/accel/data_<subject>_accel_phone.txt (WISDM 2019) '
                          f'or {V11_FILE} (WISDM v1.1) in it or in a sub-folder')


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw WISDM (2019 or v1.1; folder, or the 2019 outer zip) into `out_root/wisdm`.

    `subjects`: optional subset of subject ids (1600..1650 for 2019, 1..36 for v1.1).
    """
    wanted = None if subjects is None else {str(s) for s in subjects}
    keep = lambda name: name.lower().endswith(('.zip', '.txt')) and '/arff' not in name  # noqa: E731
    with raw_folder(raw, out_root, keep, ('accel', V11_FILE)) as folder:
        version, root = locate(folder)
        if version == '2019':
            return convert_2019(root, out_root, rate_hz, wanted)
        return convert_v11(root / V11_FILE, out_root, rate_hz, wanted)


# ---------------------------------------------------------------------------- 2019: reading

def check_activity_key(path):
    """activity_key.txt, if present: every '<name> = <code>' line must use one of our codes."""
    if not path.exists():
        return
    for i, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
        m = re.fullmatch(r'\s*(.*?)\s*=\s*(\S+)\s*', line)
        if m and m.group(2) not in CODES:
            raise ConversionError(f'{path}: line {i}: activity code "{m.group(2)}" is not one of '
                                  f'{", ".join(CODES)}')


def read_2019(path, subject):
    """One data_<subject>_<sensor>_<device>.txt -> label index (T,), t_ns (T,) int64, xyz (T, 3).

    Every `;` becomes a line break before pandas' C parser reads the records, so the trailing `;`
    leaves no empty 7th field (and a line holding two records would still parse).
    """
    if not path.exists():
        raise ConversionError(f'{path}: file not found (every subject needs accel and gyro files)')
    text = path.read_text(errors='replace')
    try:
        df = pd.read_csv(io.StringIO(text.replace(';', '\n')), header=None, names=COLS_2019, engine='c',
                         dtype=DTYPES_2019, na_filter=False, skipinitialspace=True, index_col=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise ConversionError(f'{path}: {diagnose_2019(text, subject) or e}') from None
    categories = list(df['code'].cat.categories)
    if set(categories) - set(CODES) or (df['subject'].to_numpy() != subject).any():
        raise ConversionError(f'{path}: {diagnose_2019(text, subject) or "unknown activity code or subject"}')
    lut = np.array([CODES.index(c) for c in categories], np.int64)
    labels = lut[df['code'].cat.codes.to_numpy(np.int64)]
    return labels, df['t'].to_numpy(), df[['x', 'y', 'z']].to_numpy(np.float64)


def diagnose_2019(text, subject):
    """The first invalid record of a 2019 file's text, described with its line (error path only)."""
    def check(line):
        for rec in line.split(';'):
            if not rec.strip():
                continue
            fields = rec.split(',')
            if len(fields) != len(COLS_2019):
                return (f'expected {len(COLS_2019)} comma-separated fields '
                        f'(subject,code,timestamp,x,y,z;), found {len(fields)}: {line[:100]!r}')
            try:
                int(fields[0]), int(fields[2]), [float(v) for v in fields[3:]]
            except ValueError:
                return f'expected numbers in subject, timestamp, x, y, z: {line[:100]!r}'
            if fields[1].strip() not in CODES:
                return (f'activity code "{fields[1].strip()}" does not exist '
                        f'(expected one of {", ".join(CODES)})')
            if int(fields[0]) != subject:
                return f'subject {int(fields[0])}, but the file name says {subject}'
        return None
    return first_bad_line(text.split('\n'), check)


def data_files(folder, sensor, device):
    """{subject: path} of data_<subject>_<sensor>_<device>.txt in `folder`."""
    pattern = re.compile(rf'data_(\d+)_{sensor}_{device}\.txt')
    return {int(m.group(1)): p for p in folder.glob('data_*.txt') if (m := pattern.fullmatch(p.name))}


# ---------------------------------------------------------------------------- 2019: converting

def seconds(t_ns, t0, where):
    """ns timestamps -> seconds from t0, after checking they step at about 20 Hz. t_ns: (T,) sorted."""
    t = (t_ns - t0) * 1e-9
    step = 1.0 / median_rate(t)
    if not STEP_RANGE_S[0] <= step <= STEP_RANGE_S[1]:
        raise ConversionError(f'{where}: median timestamp step {step:.3g} s, expected '
                              f'{STEP_RANGE_S[0]}..{STEP_RANGE_S[1]} s (ns timestamps at 20 Hz)')
    return t


def add_subject_device(w, acc, gyro, subject, layout, where):
    """Align one (subject, device)'s accel and gyro per activity and add the aligned pieces."""
    (la, ta, xa), (lb, tb, xb) = acc, gyro
    w.count('activity streams without both sensors dropped', len(np.setdiff1d(lb, la)))
    for label in np.unique(la):
        t1, x1, n1 = sort_dedupe(ta[la == label], xa[la == label])
        t2, x2, n2 = sort_dedupe(tb[lb == label], xb[lb == label])
        w.count('duplicate timestamps dropped', n1 + n2)
        if len(t1) < 2 or len(t2) < 2:
            w.count('activity streams without both sensors dropped')
            continue
        t0 = min(t1[0], t2[0])
        here = f'{where}: subject {subject}, activity {CODES[label]}'
        pieces, dropped = align(seconds(t1, t0, here + ' (accel)'), x1,
                                seconds(t2, t0, here + ' (gyro)'), x2, RATE_HZ, MAX_GAP_S)
        w.count('grid samples without both sensors dropped', dropped)
        for piece in pieces:
            w.add_recording(piece, int(label), subject=subject, rate_hz=RATE_HZ, layout=layout, where=here)


def convert_2019(root, out_root, rate_hz, wanted):
    """WISDM 2019 rooted at `root` (holding raw/) -> out_root/wisdm."""
    check_activity_key(root / 'activity_key.txt')
    with PreparedWriter(out_root, NAME, LABELS_2019, LAYOUTS_2019, SOURCE_2019, rate_hz) as w:
        for layout, device in enumerate(DEVICES):
            folders = {s: root / 'raw' / device / s for s in ('accel', 'gyro')}
            files = {s: data_files(f, s, device) for s, f in folders.items()}
            if not files['accel']:
                raise ConversionError(f'{folders["accel"]}: no data_<subject>_accel_{device}.txt files')
            for subject in sorted(set(files['accel']) | set(files['gyro'])):
                if wanted is not None and str(subject) not in wanted:
                    continue
                paths = {s: folders[s] / f'data_{subject}_{s}_{device}.txt' for s in folders}
                acc, gyro = (read_2019(paths[s], subject) for s in ('accel', 'gyro'))
                add_subject_device(w, acc, gyro, subject, layout, where=str(paths['accel']))
    return w.meta


# ---------------------------------------------------------------------------- v1.1

def read_v11(path, w):
    """WISDM_ar_v1.1_raw.txt -> DataFrame user, label, t (ns, float64), x, y, z in file order.

    Records end with `;` and several may share a line, so every `;` becomes a line break before
    pandas' C parser reads the records. Records with a missing or empty field (NaN) or with too
    many fields (skipped by the parser) are dropped; repairs are counted on the writer `w`.
    A field that is not a number, or an unknown activity, is an error naming its line.
    """
    try:
        text = Path(path).read_text(errors='replace')
    except FileNotFoundError:
        raise ConversionError(f'{path}: file not found') from None
    records = text.replace(';', '\n')
    n_records = sum(1 for r in records.split('\n') if r.strip())
    try:
        df = pd.read_csv(io.StringIO(records), header=None, names=COLS_V11, dtype=DTYPES_V11, engine='c',
                         skipinitialspace=True, on_bad_lines='skip', index_col=False)
    except (ValueError, pd.errors.ParserError):
        raise ConversionError(f'{path}: {diagnose_v11(text)}') from None
    ok = df.notna().all(axis=1) & (df['user'] == df['user'].round())
    w.count('malformed records dropped', n_records - int(ok.sum()))
    df = df[ok]
    if not df['activity'].isin(ACTIVITIES_V11).all():
        raise ConversionError(f'{path}: {diagnose_v11(text)}')
    zero = df['t'] == 0
    w.count('zero-timestamp records dropped', int(zero.sum()))
    df = df[~zero]
    dup = df.duplicated()
    w.count('duplicate records dropped', int(dup.sum()))
    df = df[~dup]
    return df.assign(user=df['user'].astype(np.int64),
                     label=df['activity'].map({a: i for i, a in enumerate(ACTIVITIES_V11)}).astype(np.int64))


def diagnose_v11(text):
    """The first v1.1 record with a non-numeric field or an unknown activity, described (error path only)."""
    def check(line):
        for rec in line.split(';'):
            fields = [f.strip() for f in rec.split(',')]
            if not rec.strip() or len(fields) > len(COLS_V11):
                continue
            try:
                [float(fields[k]) for k in (0, 2, 3, 4, 5) if k < len(fields) and fields[k]]
            except ValueError:
                return f'expected numbers in user, timestamp, x, y, z: {rec[:100]!r}'
            if len(fields) > 1 and fields[1] and fields[1] not in ACTIVITIES_V11:
                return f'activity "{fields[1]}" is not one of {", ".join(ACTIVITIES_V11)}'
        return None
    return first_bad_line(text.split('\n'), check) or 'no valid `user,activity,timestamp,x,y,z;` record'


def convert_v11(path, out_root, rate_hz, wanted):
    """WISDM v1.1 file `path` -> out_root/wisdm."""
    with PreparedWriter(out_root, NAME, LABELS_V11, LAYOUTS_V11, SOURCE_V11, rate_hz) as w:
        df = read_v11(path, w)
        if df.empty:
            raise ConversionError(f'{path}: no valid `user,activity,timestamp,x,y,z;` record')
        if wanted is not None:
            df = df[df['user'].astype(str).isin(wanted)]
        if df.empty:
            raise ConversionError(f'{path}: no records of subjects {sorted(wanted)}')
        key = df['user'].to_numpy() * len(ACTIVITIES_V11) + df['label'].to_numpy()
        cuts = np.flatnonzero(np.diff(key)) + 1
        t_all, x_all = df['t'].to_numpy(), df[['x', 'y', 'z']].to_numpy()
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(key)]):
            t, x, n = sort_dedupe((t_all[lo:hi] - t_all[lo:hi].min()) * 1e-9, x_all[lo:hi])
            w.count('duplicate timestamps dropped', n)
            if len(t) < 2 or not STEP_RANGE_S[0] <= 1.0 / median_rate(t) <= STEP_RANGE_S[1]:
                w.count('runs with too few samples or implausible timestamps dropped')
                continue
            user, label = int(df['user'].iat[lo]), int(df['label'].iat[lo])
            for _, piece in uniform_from_timestamps(t, x, RATE_HZ, MAX_GAP_S):
                w.add_recording(piece, label, subject=user, rate_hz=RATE_HZ, where=f'{path} user {user}')
    return w.meta
