"""hugadb: HuGaDB v1, the Human Gait Database (Chereshnev & Kertesz-Farkas, AIST 2017).

18 participants wear six IMUs (3-axis accelerometer + 3-axis gyroscope on one chip) on the right
and left foot, shin and thigh, plus two EMG electrodes; every row carries an activity label.

Raw layout (the unpacked tree, any folder up to three levels above `Data/`, the zip as
distributed, or a folder holding that zip):
    HuGaDB/Data/HuGaDB_v1_<activity>_<PP>_<CC>.txt    PP participant 01..18, CC counter
    HuGaDB/Data/ReadMe.txt                            (not read)
<activity> is `various` (multi-activity sequences), `walking`, `running`, `sitting`, `standing`,
`bicycling`, `sitting_in_car`, `down_by_elevator`, ...: it only names the session; the label is per
row. The complete release has 635 files; every one converts, whatever its activity part.

Each file: tab-separated, LF line endings, 4 header lines
    #Activity<TAB><names>    #ActivityID<TAB><ids>    #Date MM-DD-HH-MM    <39 column names>
then 39 integer columns: for each IMU rf, rs, rt, lf, ls, lt (right foot/shin/thigh, left
foot/shin/thigh) acc_x,y,z and gyro_x,y,z, then EMG_r, EMG_l and `act` (1..12). The column-name
row must match exactly; every row's `act` must be one of the file's #ActivityID values.

Units. Raw int16 counts; the ReadMe gives the ranges but not the scale. Accelerometer +-2 g over
the int16 span: 32768 / 2 = 16384 counts per g (x G -> m/s^2; a still IMU reads ~16,400 counts,
~9.8 m/s^2). Gyroscope +-2000 deg/s over the same span: 32768 / 2000 = 16.384 counts per deg/s
(within 0.1% of the 16.4 of MPU-60x0 datasheets) -> rad/s. EMG is dropped.

Rate. No timestamps. The authors' Table 1 gives 2,111,962 samples in 35,903 s, 58.82 Hz, and the
same ratio holds for every class in it; the usual "about 60 Hz" is a rounding. RATE_HZ = 58.8.

Layouts: ONE LAYOUT PER IMU, six layouts of 6 channels (acc + gyro) in the order right foot,
right shin, right thigh, left foot, left shin, left thigh, then six accelerometer-only layouts
(3 channels) for the same placements, for IMUs whose gyroscope is corrupted (below); each file
gives six recordings (one per IMU, same subject and labels). Every window is then one device on
one body part, like the phones and watches the model is applied to; the six IMUs are not
combined into one 36-channel window. The documentation does not name the chip, so the device is
'imu'.

Repairs and refusals:
  * Values outside int16 in the 36 IMU columns (transmission glitches, e.g. 4,312,046,944 in
    `bicycling_01_08`): set missing and linearly interpolated per channel, counted.
  * Corrupted gyroscopes: the authors' README ("Corrupted gyroscope data", github
    romanchereshnev/HuGaDB) lists files whose gyroscope data on some IMUs were amplified 10x and
    clipped. CORRUPTED_GYRO encodes that table; of the listed IMUs of those files only the
    accelerometer is kept, in the IMU's accelerometer-only layout (counted). About half of the
    IMU recordings are listed, all three `sitting_in_car` files among them. One cell of the table is blank
    (`sitting_05_01`, right shank): treated as corrupted. The table matches the data: listed
    IMUs sit at the int16 limit for up to ~70% of the samples in motion, or show ~10x
    the noise when still; unlisted ones do not.
  * Refused (ConversionError naming file and line): a wrong header or column-name row, a row
    that is not 39 integers, a label outside 1..12 or not in the file's #ActivityID line, an
    unexpected HuGaDB_v1_*.txt file name. A file with a header but no rows is skipped (counted).
"""
import re

import numpy as np
import pandas as pd

from datasets.common import file_lines, find_root, first_bad_line, line_of_row, named_files, raw_folder
from datasets.format import G, ConversionError, PreparedWriter, acc_gyro, interpolate_nans, triad

NAME = 'hugadb'

# ---------------------------------------------------------------------------- format
RATE_HZ = 58.8                          # Table 1: 2,111,962 samples / 35,903 s
ACC_COUNTS_PER_G = 32768 / 2.0          # +-2 g
GYRO_COUNTS_PER_DPS = 32768 / 2000.0    # +-2000 deg/s
INT16 = (-32768, 32767)
HEADER_LINES = 4
IMUS = [('rf', 'right foot'), ('rs', 'right shin'), ('rt', 'right thigh'),
        ('lf', 'left foot'), ('ls', 'left shin'), ('lt', 'left thigh')]   # column and layout order
COLUMNS = [f'{s}_{imu}_{a}' for imu, _ in IMUS for s in ('acc', 'gyro') for a in 'xyz'] + ['EMG_r', 'EMG_l', 'act']
FILE_RE = re.compile(r'HuGaDB_v1_(?P<activity>[a-z_]+?)_(?P<participant>\d{2})_(?P<counter>\d{2})\.txt')
MARKER = 'HuGaDB_v1_*.txt'

# ---------------------------------------------------------------------------- labels, layouts
LABELS = [  # act 1..12 -> (text, description)
    ('walking', 'walking and turning at various speeds on flat ground'),
    ('running', 'running at various paces'),
    ('going up stairs', 'climbing a flight of stairs at various speeds'),
    ('going down stairs', 'walking down a flight of stairs at various speeds'),
    ('sitting', 'sitting still on a chair'),
    ('sitting down', 'sitting down on a chair from standing'),
    ('standing up', 'standing up from a chair'),
    ('standing', 'standing still on a solid surface'),
    ('cycling', 'riding a bicycle at a regular pace'),
    ('going up in an elevator', 'standing in an elevator while it moves up'),
    ('going down in an elevator', 'standing in an elevator while it moves down'),
    ('sitting in a car', 'sitting as a passenger in a moving car'),
]
DEVICE = 'imu'
LAYOUTS = ([acc_gyro(placement, DEVICE) for _, placement in IMUS]               # 0..5: acc + gyro
           + [triad('acc', 'm/s^2', placement, DEVICE, gravity=True) for _, placement in IMUS])  # 6..11: acc only
SOURCE = {'title': 'HuGaDB: Human Gait Database for Activity Recognition from Wearable Inertial '
                   'Sensor Networks',
          'url': 'https://github.com/romanchereshnev/HuGaDB', 'licence': 'none stated',
          'citation': 'Chereshnev & Kertesz-Farkas, AIST 2017, LNCS 10716, '
                      'doi:10.1007/978-3-319-73013-4_12',
          'notes': ['one layout per IMU: each file gives one recording per foot/shin/thigh IMU',
                    f'no timestamps: nominal {RATE_HZ} Hz (Table 1: 2,111,962 samples in 35,903 s)',
                    'acc 16384 counts/g (+-2 g), gyro 16.384 counts/(deg/s) (+-2000 deg/s); EMG dropped',
                    "IMU recordings the authors' README lists with a corrupted gyroscope keep their "
                    'accelerometer only (layouts 6-11)',
                    'bicycling files: gyroscope amplitudes ~4x those of walking/running for the same '
                    'IMUs (a +-500 deg/s range?); not in the corrupted list, kept as is']}

# ---------------------------------------------------------------------------- corrupted gyroscopes
# The authors' README table "Corrupted gyroscope data", row by row: activity, participant,
# counters, then one flag per IMU in THE TABLE'S column order: right foot, left foot, right shank,
# left shank, right thigh, left thigh (C corrupted, . OK, ? blank in the table, taken as corrupted).
CORRUPTED_TABLE_ORDER = ['rf', 'lf', 'rs', 'ls', 'rt', 'lt']
CORRUPTED_GYRO_TABLE = """
various         03 00-24        C . C . C .
various         04 00-19        C C C C C C
various         05 00           C . C . . .
various         05 01-20        C C C . . .
various         07 00-24        C . C . . .
various         09 00-08        C C C C C C
various         09 13-20        . C . C . C
various         11 04-20        . C . . . .
various         12 00-18        C C C C C C
various         13 07-24        C C C C C C
various         14 00-21        C C C C C C
various         15 00-09,11     C C C C C C
various         16 00-19        C C C C C C
various         17 00-02,04-23  C C C C C C
various         18 00-16        C C C C . C
running         03 00-01        C . C . C .
running         07 00-02        C . C . . .
running         09 00-02        . C . C . C
sitting         03 00           C . . . C .
sitting         03 01-03        C . C . C .
sitting         04 00-02        C C C C C C
sitting         05 00           C C C C C C
sitting         05 01           . C ? . . .
sitting         06 04           C . C . . C
sitting         07 01           C . C . . .
sitting         07 02           C C C C C C
sitting         07 03-04        C . C . . .
sitting         08 00           C C C C C C
sitting         09 00-03        C C C C C C
sitting         10 00,04        C C C C C C
sitting         11 00           . C . . . .
sitting         11 01           . C . C C C
sitting         11 02           . C . . . .
sitting         11 03           . C C . C C
sitting         12 00-03        C C C C C C
sitting         13 00-06        C C C C C C
sitting         14 00-03        C C C C C C
sitting         15 00           C C . C C C
sitting         15 01           C C C C C C
sitting         15 02           C C . C C C
sitting         15 03           C C C C C C
sitting         16 00-05        C C C C C C
sitting         17 00-06        C C C C C C
sitting         18 00-01        C C C C C C
sitting         18 02-03        C C C C . C
sitting_in_car  01 00-06,08-14  C C C C C C
standing        01 00           . . C . C C
standing        01 03           . C . . . .
standing        03 00           C . C C C C
standing        04 00-03        C C C C C C
standing        05 00           C C C C C C
standing        05 01           C C C . . .
standing        06 00           . . . . C C
standing        07 00           C . C . C .
standing        07 01           . . . . C C
standing        07 03           C C C C C C
standing        08 00-01        . . . . C C
standing        08 02           . . C C C C
standing        08 03           C . . C C C
standing        09 00-03        . C . C . C
standing        09 04           . C C C C C
standing        10 01           . . C C C .
standing        10 03           . . C . . .
standing        11 00           . C . . C C
standing        11 01-02        . C C C C C
standing        11 03           . C . C C C
standing        11 04           . C . . . C
standing        12 00-04        C C C C C C
standing        13 00-03        C C C C C C
standing        15 00-04        C C C C C C
standing        16 00-04        C C C C C C
standing        17 00-03        C C C C C C
standing        18 00-04        C C C C C C
walking         03 00-01        C . C . C .
walking         04 00-05        C C C C C C
walking         05 00-03        C C C . . .
walking         06 03,05        . . . . C .
walking         07 00-04        C . C . . .
walking         09 00-03        C C C C C C
walking         11 00-03        . C . . . .
walking         12 00-06        C C C C C C
walking         13 00-03        C C C C C C
walking         14 00-04        C C C C C C
walking         15 00-10        C C C C C C
walking         16 00-04        C C C C C C
walking         17 00-06        C C C C C C
walking         18 00-03        C C C C . C
"""


def parse_corrupted_table(text):
    """The table above -> {file name: frozenset of IMU codes ('rf', ...) with a corrupted gyroscope}."""
    table = {}
    for row in text.strip().splitlines():
        activity, participant, counters, *flags = row.split()
        assert len(flags) == 6 and set(flags) <= set('C.?'), row
        bad = frozenset(imu for imu, f in zip(CORRUPTED_TABLE_ORDER, flags) if f in 'C?')
        for part in counters.split(','):
            first, _, last = part.partition('-')
            for c in range(int(first), int(last or first) + 1):
                name = f'HuGaDB_v1_{activity}_{participant}_{c:02d}.txt'
                assert name not in table, name
                table[name] = bad
    return table


CORRUPTED_GYRO = parse_corrupted_table(CORRUPTED_GYRO_TABLE)


# ---------------------------------------------------------------------------- reading

def check_row(line):
    """first_bad_line check for a data row: 39 tab-separated integers."""
    fields = line.split('\t')
    if len(fields) != len(COLUMNS):
        return f'expected {len(COLUMNS)} tab-separated values, found {len(fields)}: {line[:80]!r}'
    if not all(re.fullmatch(r'\s*[-+]?\d+\s*', f) for f in fields):
        return f'expected {len(COLUMNS)} integers, found {line[:80]!r}'
    return None


def read_header(path):
    """The 4 header lines -> the set of activity ids of the #ActivityID line."""
    with open(path, errors='replace') as f:
        head = [f.readline().rstrip('\r\n') for _ in range(HEADER_LINES)]
    expected = [('#Activity', '#Activity\t<names>'), ('#ActivityID', '#ActivityID\t<ids>'),
                ('#Date', '#Date MM-DD-HH-MM')]
    for i, (tag, form) in enumerate(expected):
        first = re.split(r'[\t ]', head[i], maxsplit=1)[0]
        if first != tag:
            raise ConversionError(f'{path}: line {i + 1}: expected "{form}", found {head[i][:80]!r}')
    ids = head[1].split()[1:]
    if not ids or not all(re.fullmatch(r'\d+', t) for t in ids):
        raise ConversionError(f'{path}: line 2: expected "#ActivityID" and activity ids, found {head[1][:80]!r}')
    names = [c.strip() for c in head[3].split('\t')]
    if names != COLUMNS:
        raise ConversionError(f'{path}: line 4: expected the {len(COLUMNS)} column names '
                              f'{" ".join(COLUMNS[:3])} ... act, found {head[3][:80]!r}')
    return {int(t) for t in ids}


def read_file(path):
    """One HuGaDB_v1_*.txt -> (int64 table (T, 39), the #ActivityID set). Errors name the line."""
    ids = read_header(path)
    try:
        table = pd.read_csv(path, sep='\t', skiprows=HEADER_LINES, header=None, engine='c',
                            dtype=np.int64, keep_default_na=False).to_numpy()
    except pd.errors.EmptyDataError:
        return np.zeros((0, len(COLUMNS)), np.int64), ids
    except (ValueError, OverflowError, pd.errors.ParserError) as e:
        where = first_bad_line(file_lines(path)[HEADER_LINES:], check_row, first_line=HEADER_LINES + 1)
        raise ConversionError(f'{path}: {where or e}') from None
    if table.shape[1] != len(COLUMNS):
        raise ConversionError(f'{path}: expected {len(COLUMNS)} columns, found {table.shape[1]}')
    act = table[:, -1]
    bad = np.flatnonzero((act < 1) | (act > len(LABELS)))
    if len(bad):
        raise ConversionError(f'{path}: line {line_of_row(path, bad[0], HEADER_LINES)}: activity '
                              f'{act[bad[0]]} does not exist (expected 1..{len(LABELS)})')
    bad = np.flatnonzero(~np.isin(act, sorted(ids)))
    if len(bad):
        raise ConversionError(f'{path}: line {line_of_row(path, bad[0], HEADER_LINES)}: activity '
                              f'{act[bad[0]]} is not in the #ActivityID line ({" ".join(map(str, sorted(ids)))})')
    return table, ids


def imu_signal(table, k):
    """IMU k's 6 columns in standard units -> ((T, 6) float32, number of glitch values interpolated)."""
    raw = table[:, 6 * k:6 * k + 6]
    glitch = (raw < INT16[0]) | (raw > INT16[1])
    x = raw.astype(np.float64)
    x[:, :3] *= G / ACC_COUNTS_PER_G
    x[:, 3:] *= np.pi / 180.0 / GYRO_COUNTS_PER_DPS
    n = int(glitch.sum())
    if n:
        x[glitch] = np.nan
        x, _ = interpolate_nans(x)
    return x.astype(np.float32), n


# ---------------------------------------------------------------------------- locating the raw files

def keep_member(name):
    """Zip members worth extracting: data files and nested zips."""
    return bool(FILE_RE.fullmatch(name.rsplit('/', 1)[-1])) or name.lower().endswith('.zip')


def data_files(root):
    """[(participant, path)] sorted by participant then file name; unexpected names refused."""
    files = named_files(root, MARKER, FILE_RE, 'HuGaDB_v1_<activity>_<PP>_<CC>.txt')
    return sorted(((m.group('participant'), path) for path, m in files), key=lambda f: (f[0], f[1].name))


# ---------------------------------------------------------------------------- converting

def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert HuGaDB (`raw`: folder, zip, or folder holding the zip) into `out_root/hugadb`.
    `subjects`: optional subset of participants (1, '1' or '01')."""
    wanted = None if subjects is None else {int(s) for s in subjects}
    with raw_folder(raw, out_root, keep_member, MARKER) as folder:
        root = find_root(folder, MARKER)
        files = data_files(root)
        with PreparedWriter(out_root, NAME, LABELS, LAYOUTS, SOURCE, rate_hz) as w:
            for participant, path in files:
                if wanted is not None and int(participant) not in wanted:
                    continue
                table, _ = read_file(path)
                if len(table) == 0:
                    w.count('files without data rows skipped')
                    continue
                labels = table[:, -1] - 1
                corrupted = CORRUPTED_GYRO.get(path.name, frozenset())
                for k, (imu, _) in enumerate(IMUS):
                    signal, n_glitch = imu_signal(table, k)
                    w.count('values outside int16 (glitches) interpolated', n_glitch)
                    layout = k
                    if imu in corrupted:
                        w.count("IMU recordings kept as accelerometer only: gyroscope corrupted (authors' list)")
                        signal, layout = signal[:, :3], len(IMUS) + k
                    w.add_recording(signal, labels, subject=participant, rate_hz=RATE_HZ,
                                    layout=layout, where=str(path))
    return w.meta
