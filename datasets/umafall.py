"""umafall: UMAFall (Casilari, Santoyo-Ramon & Cano-Garcia, Universidad de Malaga, 2017).
Not one of the ten. 19 subjects performed 12 scripted activities of daily living (ADLs) and 3
kinds of emulated fall, each trial about 15 s long, with five sensing points worn at once.

Raw layout (the `UMAFall_Dataset` folder, any folder up to three levels above it, the zip as
distributed, or a folder holding that zip):
    UMAFall_Subject_<SS>_<ADL|Fall>_<Activity>_<trial>_<YYYY-MM-DD_hh-mm-ss>.csv
One file per trial; the label is the file's activity (the 12 ADLs and backwardFall,
forwardFall, lateralFall), the subject the file name's number ('1'..'19').

Each file has a `%` comment header (subject, movement type and description, trial, the phone
model and its accelerometer's range, and a `MAC; Sensor_ID; Position; Device Model` table), a
`% TimeStamp; Sample No; X-Axis; Y-Axis; Z-Axis; Sensor Type; Sensor ID;` line, then
`;`-separated rows of all sensors interleaved. Sensor Type: 0 accelerometer, 1 gyroscope,
2 magnetometer. Sensor ID: 0 RIGHTPOCKET (the phone), 1 CHEST, 2 WAIST, 3 WRIST, 4 ANKLE; every
header's table must map the IDs this way (a file whose table differs is refused, naming the
line), and every ID in the rows must be listed there. The header's movement description, type
and subject name must agree with the file name. TimeStamp is in ms.

Layouts, one per sensing point (layout index = Sensor ID); each (file, sensing point) is its
own recording:
    0  smartphone in the right trouser pocket: accelerometer only (3 channels), ~200 Hz
    1-4  TI SensorTag (MPU-9250) on the chest, waist, wrist, ankle: accelerometer, gyroscope,
       magnetometer (9 channels), ~20 Hz
A sensing point without rows in a file (the ankle tag is not worn in 51 ADL files, the waist
tag is listed but empty in 110) is simply absent; the counts are in the source notes.

Units. Accelerometers are in g (|acc| ~ 1 at rest) -> x 9.80665 m/s^2, gravity included.
Gyroscopes are not labelled; they are deg/s: the values are multiples of 1/128 and clip at
about +-256 (a +-250 deg/s range), and walking gives peaks of 115-225 at chest and waist and
clipped 256 at wrist and ankle, which only deg/s makes plausible -> x pi/180 rad/s. The
magnetometer's unit is not stated either; it is stored as given and recorded as 'uT', which is
probably right (the MPU-9250's AK8963 reports uT; the norms, 30-230, are uncalibrated:
hard-iron offsets).

Timing. Each stream (sensing point x sensor) is put on a uniform grid from its own time stamps
(`uniform_from_timestamps` at 200 Hz for the phone, 20 Hz for the tags, split at gaps over 1 s,
counted). The phone delivers its samples in batches that share one stamp (up to 60% of a file's
rows); a batch's samples are spread back from its stamp, evenly over the time since the
previous stamp but at most one nominal step (5 ms) apart, so that a real gap stays a gap
(counted); the samples sharing a stream's first stamp but the last, a start-up backlog with no
earlier stamp, are dropped (counted). Stamps that go back in time are dropped (counted; none in
the ADL files). For a tag, the gyroscope and magnetometer are interpolated onto the
accelerometer's grid; grid samples outside a sensor's span or inside one of its gaps are dropped
(counted).

Other repairs, all counted:
  - Leading rows of exactly 0, 0, 0 in an accelerometer or magnetometer stream (the sensor had
    not produced a reading yet; some magnetometers read zero for seconds, six for a whole file)
    are dropped; a tag left with a sensor of fewer than two rows is dropped.
  - Quarter-scale tag accelerometer rows: the tags' values are counts of 1/4096 g, but in
    1.8% of the rows (runs of one row to a whole file, in 196 of 1929 tag streams) the
    counts were divided by 16384: the values sit on the 1/16384 g grid and |acc| reads ~0.25 g
    at rest. Those rows (found by their grid, see `quarter_scale`) are multiplied by 4; their
    |acc| then matches the rest (median 1.02 g).

Spreadsheet-mangled files (the 20 Subject_13 ADL files). They went through a spreadsheet: CRLF
line endings, `;;;;;;;` filler on blank lines (skipped, counted), a trailing `;` on every row,
and every value >= 1 rewritten as an integer with dots as thousands separators and its decimal
point lost (`1.012.598.156.929.010` for 1.0125981569...); a few tiny values became `-6,10E+10`.
A file is treated this way when its data rows end with `;` (elsewhere such values are refused).
  - Smartphone accelerometer: REPAIRED when the header gives the phone's range below 10 g (2 g
    for Subject_13's Samsung SM-G900F, whose values elsewhere never pass 2.0), because then
    every value has one digit before the point: the value is read as its digits with the point
    after the first (`-1.234.5` -> -1.2345; values below 1 keep their form and read the same).
    The `d,ddE+NN` values are under 1e-3 g in magnitude (the smallest plain value is 4e-4 g)
    and are set to 0. Rows repaired and values zeroed are counted; the repaired median |acc|
    is 1.00 g. With a range of 10 g or more, or none stated, the phone rows are dropped too.
  - SensorTags: DROPPED (rows counted). The gyroscope (up to +-256 deg/s) and magnetometer
    values have integer parts of one to three digits, so the digits alone do not fix the
    point: `-259.375` may be -2.59375 or -25.9375, and even values with one dot may be
    mangled. A tag needs all three sensors, so these files keep only the phone.
"""
import re
from collections import Counter

import numpy as np
import pandas as pd

from datasets.common import file_lines, find_root, line_of_row, named_files, raw_folder
from datasets.format import G, ConversionError, PreparedWriter, runs, triad, uniform_from_timestamps

NAME = 'umafall'
MARKER = 'UMAFall_Subject_*.csv'
FILE_RE = re.compile(r'UMAFall_Subject_(?P<subject>\d+)_(?P<kind>ADL|Fall)_(?P<activity>.+)_'
                     r'(?P<trial>\d+)_(?P<date>\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)\.csv')
ACTIVITIES = [  # (kind, name in the file name, label text, description), label index = position
    ('ADL', 'Aplausing', 'clapping hands', 'standing and clapping the hands together repeatedly'),
    ('ADL', 'Bending', 'bending', 'bending the trunk forward from standing and straightening up again'),
    ('ADL', 'GoDownstairs', 'walking downstairs', 'walking down a flight of stairs'),
    ('ADL', 'GoUpstairs', 'walking upstairs', 'walking up a flight of stairs'),
    ('ADL', 'HandsUp', 'raising hands', 'raising both hands up above the head and lowering them again'),
    ('ADL', 'Hopping', 'hopping', 'hopping, small jumps up and down in place'),
    ('ADL', 'Jogging', 'jogging', 'jogging, running at an easy pace'),
    ('ADL', 'LyingDown_OnABed', 'lying down on a bed and getting up',
     'lying down on a bed and then getting up from it again'),
    ('ADL', 'MakingACall', 'making a phone call', 'holding a phone to the ear and talking, as in a call'),
    ('ADL', 'OpeningDoor', 'opening a door', 'reaching for a door and opening it'),
    ('ADL', 'Sitting_GettingUpOnAChair', 'sitting down and getting up from a chair',
     'sitting down on a chair and standing up from it again'),
    ('ADL', 'Walking', 'walking', 'walking at a normal pace on level ground'),
    ('Fall', 'backwardFall', 'falling backward', 'an emulated fall backwards, landing on the back'),
    ('Fall', 'forwardFall', 'falling forward', 'an emulated fall forwards, landing on the front of the body'),
    ('Fall', 'lateralFall', 'falling sideways', 'an emulated fall to one side, landing on the side'),
]
LABELS = [(text, description) for _, _, text, description in ACTIVITIES]
ACTIVITY_INDEX = {name: i for i, (_, name, _, _) in enumerate(ACTIVITIES)}
POSITIONS = ['RIGHTPOCKET', 'CHEST', 'WAIST', 'WRIST', 'ANKLE']       # Sensor ID -> header position
PLACEMENTS = ['right trouser pocket', 'chest', 'waist', 'wrist', 'ankle']
PHONE, TAG = 'smartphone', 'sensortag'
LAYOUTS = ([triad('acc', 'm/s^2', PLACEMENTS[0], PHONE, gravity=True)]
           + [triad('acc', 'm/s^2', p, TAG, gravity=True) + triad('gyro', 'rad/s', p, TAG)
              + triad('mag', 'uT', p, TAG) for p in PLACEMENTS[1:]])
GRID_HZ = [200.0, 20.0, 20.0, 20.0, 20.0]        # nominal rate of each sensing point
SCALE = [G, np.pi / 180.0, 1.0]                   # Sensor Type 0 g -> m/s^2, 1 deg/s -> rad/s, 2 as given
MAX_GAP_S = 1.0
MAX_HEADER_LINES = 200
COLUMNS = ['TimeStamp', 'Sample No', 'X-Axis', 'Y-Axis', 'Z-Axis', 'Sensor Type', 'Sensor ID']
SOURCE = {'title': 'UMAFall: A Multisensor Dataset for the Research on Automatic Fall Detection',
          'url': 'https://webpersonal.uma.es/de/ECASILARI/Fall_ADL_Traces/UMA_FALL_ADL_dataset.html',
          'licence': 'not stated (the authors say the traces can be freely downloaded); cite the paper',
          'citation': 'Casilari, Santoyo-Ramon, Cano-Garcia, Procedia Computer Science 110 (2017) 32-39'}

MANGLED_RE = re.compile(r'-?\d+(\.\d+)*')                 # any digits-and-dots number
TINY_RE = re.compile(r'-?\d+,\d+E[+-]\d+')                 # '-6,10E+10': a value under 1e-3 in E notation
GROUPED_RE = re.compile(r'-?\d{1,3}(\.\d{3}){2,}|-?\d+,\d+E[+-]\d+')   # only a spreadsheet writes these


# ---------------------------------------------------------------------------- locating the raw files

def data_files(root, wanted):
    """[(subject, label index, path)] of the trial files under `root`, sorted by file name."""
    files = []
    for path, m in named_files(root, MARKER, FILE_RE,
                               'UMAFall_Subject_<SS>_<ADL|Fall>_<Activity>_<trial>_<YYYY-MM-DD_hh-mm-ss>.csv'):
        label = ACTIVITY_INDEX.get(m['activity'])
        if label is None or ACTIVITIES[label][0] != m['kind']:
            known = ', '.join(f'{k}_{n}' for k, n, _, _ in ACTIVITIES)
            raise ConversionError(f'{path}: activity {m["kind"]}_{m["activity"]} is not one of {known}')
        if wanted is None or int(m['subject']) in wanted:
            files.append((str(int(m['subject'])), label, path))
    return files


# ---------------------------------------------------------------------------- reading one file

def read_header(path, match):
    """The `%` header of one file, checked against its name (`match`, a FILE_RE match).

    Returns (number of lines up to the column line, the Sensor IDs listed, phone model, phone
    accelerometer range in g or None, filler lines seen)."""
    table, values, section, filler = {}, {}, None, 0
    with open(path, errors='replace') as f:
        for number, line in enumerate(f, 1):
            if number > MAX_HEADER_LINES:
                break
            text = line.rstrip('\r\n').rstrip()
            if text.endswith(';') and not text.rstrip(';').strip():
                filler += 1                                       # a blank line with ';;;;;;;'
            text = text.rstrip(';').rstrip()
            if text.startswith('% TimeStamp'):
                names = [n.strip() for n in text[1:].split(';')]
                if names != COLUMNS:
                    raise ConversionError(f'{path}: line {number}: expected the column line '
                                          f'"% {"; ".join(COLUMNS)};", found {text[:100]!r}')
                _check_header(path, match, values, table)
                phone = values.get('Used Smartphone', ('not stated', 0))[0]
                return number, set(table), phone, _phone_range(values), filler
            row = re.fullmatch(r'%\s*[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\s*;\s*(\d+)\s*;\s*([^;]*?)\s*;'
                               r'\s*([^;]*?)\s*', text)
            if row:
                sensor, position = int(row[1]), row[2]
                if sensor in table:
                    raise ConversionError(f'{path}: line {number}: Sensor_ID {sensor} is listed twice '
                                          f'(first on line {table[sensor][2]})')
                expected = POSITIONS[sensor] if sensor < len(POSITIONS) else None
                if position != expected:
                    mapping = ', '.join(f'{i} {p}' for i, p in enumerate(POSITIONS))
                    raise ConversionError(f'{path}: line {number}: Sensor_ID {sensor} is at {position}; '
                                          f'expected the mapping {mapping}')
                table[sensor] = (position, row[3], number)
                continue
            pair = re.fullmatch(r'%\s*([^:;]+?)\s*:\s*(.*)', text)
            if pair:
                key, value = pair[1], pair[2]
                if not key.startswith('-->'):
                    section = key
                elif key == '--> Maximum Range' and section == "Smartphone's Accelerometer":
                    key = 'phone range'
                values.setdefault(key, (value, number))
    raise ConversionError(f'{path}: no "% TimeStamp; Sample No; ..." column line in the first '
                          f'{MAX_HEADER_LINES} lines (is this a UMAFall trial file?)')


def _check_header(path, match, values, table):
    expected = {'Description of the movement': match['activity'], 'Type of Movement': match['kind'].upper(),
                'Name': f'Subject_{match["subject"]}'}
    if 'Description of the movement' not in values:
        raise ConversionError(f'{path}: the header has no "% Description of the movement:" line')
    for key, want in expected.items():
        value, number = values.get(key, (want, 0))
        if value.upper() != want.upper():
            raise ConversionError(f'{path}: line {number}: the header says "{key}: {value}", '
                                  f'but the file name says {want}')
    if not table:
        raise ConversionError(f'{path}: the header has no "MAC Address; Sensor_ID; Position; '
                              f'Device Model" table')


def _phone_range(values):
    """The phone accelerometer's range in g from '--> Maximum Range: 2.0000000329864256 G', or None."""
    m = re.fullmatch(r'([0-9.]+)\s*G', values.get('phone range', ('', 0))[0])
    try:
        return float(m[1]) if m else None
    except ValueError:
        return None


def read_rows(path, skip):
    """Data rows after the header -> (rows (N, 7) float64, line numbers (N,) or None,
    X/Y/Z texts of a spreadsheet export or None, filler lines skipped).

    The fast path is pandas' C parser. Anything it cannot take whole (an unparsable value, a
    short or long line, a trailing ';', filler lines) goes through `_read_rows_slowly`, which
    either reads the file (spreadsheet-mangled rows keep their text, see there) or names the line.
    """
    try:
        rows = pd.read_csv(path, sep=';', header=None, skiprows=skip, engine='c', dtype=np.float64).to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        rows = None
    if rows is not None and rows.shape[1] == len(COLUMNS) and np.isfinite(rows).all():
        return rows, None, None, 0
    return _read_rows_slowly(path, skip)


def _read_rows_slowly(path, skip):
    """Line by line: blank and filler lines skipped; 7 fields, or 8 with an empty last one on
    every row (a spreadsheet export). Returns (rows, line numbers, texts or None, filler lines):
    for a spreadsheet export the X/Y/Z columns of `rows` are NaN and `texts` holds them as text."""
    rows, numbers, texts, trailing, filler = [], [], [], None, 0
    for number, line in enumerate(file_lines(path)[skip:], skip + 1):
        fields = line.rstrip('\r\n').split(';')
        if not any(f.strip() for f in fields):
            filler += len(fields) > 1
            continue
        has_trailing = len(fields) == len(COLUMNS) + 1 and not fields[-1].strip()
        if len(fields) != len(COLUMNS) and not has_trailing:
            raise ConversionError(f'{path}: line {number}: expected {len(COLUMNS)} ;-separated values, '
                                  f'found {len(fields)}: {line[:80]!r}')
        if trailing is None:
            trailing = has_trailing
        elif has_trailing != trailing:
            raise ConversionError(f'{path}: line {number}: a row {"with" if has_trailing else "without"} '
                                  f'a trailing ";" among rows {"with" if trailing else "without"} one')
        fields = [f.strip() for f in fields[:len(COLUMNS)]]
        try:
            head = [float(fields[j]) for j in (0, 1, 5, 6)]
        except ValueError:
            raise ConversionError(f'{path}: line {number}: expected numbers in TimeStamp, Sample No, '
                                  f'Sensor Type and Sensor ID, found {line[:80]!r}') from None
        xyz = fields[2:5]
        if trailing:
            if not all(MANGLED_RE.fullmatch(v) or TINY_RE.fullmatch(v) for v in xyz):
                raise ConversionError(f'{path}: line {number}: expected numbers in X, Y, Z, found {line[:80]!r}')
            values = [np.nan] * 3
            texts.append(xyz)
        else:
            try:
                values = [float(v) for v in xyz]
            except ValueError:
                hint = (' (a spreadsheet-style number in a file whose rows do not end with ";")'
                        if any(GROUPED_RE.fullmatch(v) for v in xyz) else '')
                raise ConversionError(f'{path}: line {number}: expected numbers in X, Y, Z, '
                                      f'found {line[:80]!r}{hint}') from None
        if not np.isfinite(head).all() or not trailing and not np.isfinite(values).all():
            raise ConversionError(f'{path}: line {number}: expected finite numbers, found {line[:80]!r}')
        rows.append([head[0], head[1], *values, head[2], head[3]])
        numbers.append(number)
    if not rows:
        raise ConversionError(f'{path}: no data rows after the column line')
    return np.array(rows, np.float64), np.array(numbers, np.int64), texts if trailing else None, filler


def digits_as_units(text):
    """A value of a spreadsheet-mangled file whose magnitude is known to be under 10: its digits
    with the decimal point after the first. '1.012.598.156.929.010' -> 1.01259815692901,
    '-0.5' -> -0.5, '1' -> 1.0; '-6,10E+10' (a value under 1e-3 in E notation) -> 0.0."""
    if TINY_RE.fullmatch(text):
        return 0.0
    sign, digits = (-1.0, text[1:]) if text.startswith('-') else (1.0, text)
    digits = digits.replace('.', '')
    return sign * float(f'{digits[0]}.{digits[1:] or 0}')


# ---------------------------------------------------------------------------- streams

def line_number(path, skip, numbers, row):
    """1-based line of data row `row` (error paths only)."""
    return int(numbers[row]) if numbers is not None else line_of_row(path, row, header_lines=skip)


def check_rows(path, skip, rows, numbers, listed):
    """Sensor Type 0..2, Sensor ID listed in the header, only an accelerometer on the phone, finite stamps."""
    typ, sid = rows[:, 5], rows[:, 6]
    checks = [
        (~np.isin(typ, [0, 1, 2]), 'Sensor Type {} is not 0 (accelerometer), 1 (gyroscope) or 2 (magnetometer)', 5),
        (~np.isin(sid, sorted(listed)), 'Sensor ID {} is not listed in the header table (IDs ' +
         ', '.join(map(str, sorted(listed))) + ')', 6),
        ((sid == 0) & (typ != 0), 'Sensor Type {} on the smartphone (Sensor ID 0), which has only an '
                                  'accelerometer (Sensor Type 0)', 5),
        (~np.isfinite(rows[:, 0]), 'TimeStamp {} is not a number', 0),
    ]
    for bad, message, column in checks:
        hits = np.flatnonzero(bad)
        if len(hits):
            value = rows[hits[0], column]
            shown = int(value) if np.isfinite(value) and value == int(value) else value
            raise ConversionError(f'{path}: line {line_number(path, skip, numbers, hits[0])}: '
                                  + message.format(shown))


def quarter_scale(x):
    """Rows of a SensorTag accelerometer stream (g) written at a quarter of their scale. x: (T, 3) -> (T,) bool

    The tags' accelerometer counts are 1/4096 g (the +-8 g range); in some stretches the counts
    were divided by 16384 instead, so the values sit on the 1/16384 g grid and |acc| reads
    ~0.25 g at rest. A row with a value off the 1/4096 g grid is such a row; a row on it between
    two such rows is taken as one too (a quarter-scale row lands on the coarse grid on all three
    axes once in 64). Tolerance 0.05 count: some files print 9 decimals."""
    off = np.abs(x * 4096.0 - np.round(x * 4096.0)).max(1) > 0.05
    inside = np.r_[False, off[:-1]] & np.r_[off[1:], False]
    return off | inside


def clean_stream(t_ms, x, scale, sensor, step_ms, repairs):
    """One sensor's rows (file order) -> (t seconds (T,) strictly increasing, x (T, 3) scaled).

    Drops stamps that go back in time and, for accelerometers and magnetometers, leading rows of
    exactly 0, 0, 0. Samples delivered in a batch that shares one stamp are spread back from it
    evenly over the time since the previous stamp, at most `step_ms` apart (so a real gap before
    a batch stays a gap); the first batch keeps only its last sample (a start-up backlog)."""
    ahead = t_ms >= np.maximum.accumulate(np.r_[-np.inf, t_ms[:-1]])
    repairs['samples whose time stamp goes back dropped'] += int((~ahead).sum())
    t_ms, x = t_ms[ahead], x[ahead]
    if sensor in (0, 2):
        nonzero = np.flatnonzero((x != 0).any(1))
        lead = int(nonzero[0]) if len(nonzero) else len(x)
        repairs['leading accelerometer/magnetometer rows of 0, 0, 0 (no reading yet) dropped'] += lead
        t_ms, x = t_ms[lead:], x[lead:]
    if len(t_ms) < 2:
        return t_ms / 1000.0, x * scale
    last = np.r_[np.flatnonzero(np.diff(t_ms) > 0), len(t_ms) - 1]      # last sample of each batch
    first = int(last[0])
    repairs["samples sharing a stream's first time stamp dropped (start-up backlog)"] += first
    repairs['samples sharing a time stamp spread back from it'] += int(len(t_ms) - first - len(last))
    i = np.arange(first, len(t_ms))
    batch = np.searchsorted(last, i)                                      # last[batch] >= i
    end = t_ms[last[batch]]
    size = last[batch] - last[np.maximum(batch - 1, 0)]
    since = end - t_ms[last[np.maximum(batch - 1, 0)]]
    spacing = np.where(batch > 0, np.minimum(since / np.maximum(size, 1), step_ms), 0.0)
    t = end - (last[batch] - i) * spacing
    return t / 1000.0, x[first:] * scale


def align_streams(t_ref, x_ref, others, rate_hz, max_gap_s=MAX_GAP_S):
    """Put the reference stream on a uniform grid and interpolate the others onto it.

    t_ref: (T,) seconds, strictly increasing; x_ref: (T, C); others: [(t (Ti,), x (Ti, Ci))].
    Returns (pieces, n_dropped, n_splits): (T_k, C + sum Ci) float32 arrays where every stream is
    gap-free (no step over max_gap_s), the grid samples dropped where one was not, and the
    number of extra pieces the reference's own gaps made."""
    pieces, dropped = [], 0
    grids = uniform_from_timestamps(t_ref, x_ref, rate_hz, max_gap_s)
    for lo, values in grids:
        grid = t_ref[lo] + np.arange(len(values)) * (1.0 / rate_hz)
        ok = np.ones(len(grid), bool)
        columns = [values]
        for t, x in others:
            j = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)             # t[j-1] < grid <= t[j]
            ok &= (grid >= t[0]) & (grid <= t[-1]) & (t[j] - t[j - 1] <= max_gap_s)
            columns.append(np.stack([np.interp(grid, t, x[:, c]) for c in range(x.shape[1])], 1))
        joined = np.concatenate(columns, 1).astype(np.float32)
        for start, length, good in zip(*runs(ok)):
            if good and length >= 2:
                pieces.append(joined[start:start + length])
            else:
                dropped += int(length)
    return pieces, dropped, max(len(grids) - 1, 0)


# ---------------------------------------------------------------------------- converting

def convert_file(w, path, match, subject, label, repairs, notes):
    """Add the recordings of one trial file (one per sensing point with rows)."""
    skip, listed, phone, phone_range, header_filler = read_header(path, match)
    rows, numbers, spreadsheet, filler = read_rows(path, skip)
    check_rows(path, skip, rows, numbers, listed)
    notes['phones'][phone] += 1
    repairs['spreadsheet filler lines (;;;;;;;) skipped'] += header_filler + filler
    if spreadsheet is not None:
        repair_spreadsheet(rows, spreadsheet, phone_range, repairs)
    sid, typ = rows[:, 6].astype(np.int64), rows[:, 5].astype(np.int64)
    for point in range(len(POSITIONS)):
        mine = sid == point
        if not mine.any():
            absent = 'listed in the header but without rows' if point in listed else 'not listed'
            notes['absent'][f'{POSITIONS[point].lower()} {absent}'] += 1
            continue
        if spreadsheet is not None and np.isnan(rows[mine, 2:5]).any():
            what = 'SensorTag' if point else 'smartphone'
            repairs[f'{what} rows of spreadsheet-mangled files dropped (magnitudes not recoverable)'] \
                += int(mine.sum())
            continue
        streams = []
        for sensor in ([0] if point == 0 else [0, 1, 2]):
            part = rows[mine & (typ == sensor)]
            x = part[:, 2:5]
            if point > 0 and sensor == 0:
                quarter = quarter_scale(x)
                repairs['SensorTag accelerometer rows at a quarter of their scale (on the 1/16384 g '
                        'grid, not the 1/4096 g one) multiplied by 4'] += int(quarter.sum())
                x = np.where(quarter[:, None], 4.0 * x, x)
            t, x = clean_stream(part[:, 0], x, SCALE[sensor], sensor, 1000.0 / GRID_HZ[point], repairs)
            streams.append((t, x))
        if any(len(t) < 2 for t, _ in streams):
            repairs['recordings dropped: a sensor with fewer than 2 readings'] += 1
            continue
        pieces, dropped, splits = align_streams(*streams[0], streams[1:], GRID_HZ[point])
        repairs['SensorTag grid samples without all three sensors dropped'] += dropped
        repairs['recordings split at time gaps over 1 s'] += splits
        for piece in pieces:
            w.add_recording(piece, label, subject=subject, rate_hz=GRID_HZ[point], layout=point,
                            where=str(path))
        notes['recordings'][point] += len(pieces) > 0


def repair_spreadsheet(rows, texts, phone_range, repairs):
    """Fill in place the X/Y/Z of a spreadsheet-mangled file's phone rows by `digits_as_units`,
    when the phone's range (g) keeps every value under 10. Rows left NaN (the tags' always) are
    dropped by the caller."""
    if phone_range is None or phone_range >= 10.0:
        return
    changed = tiny = 0
    for i in np.flatnonzero(rows[:, 6] == 0):
        values = [digits_as_units(v) for v in texts[i]]
        tiny += sum(bool(TINY_RE.fullmatch(v)) for v in texts[i])
        changed += any(_plain(v) != u for v, u in zip(texts[i], values))
        rows[i, 2:5] = values
    repairs['smartphone rows of spreadsheet-mangled files re-read as d.ddd (values >= 1 g)'] += changed
    repairs['smartphone values of spreadsheet-mangled files in E notation (under 1e-3 g) set to 0'] += tiny


def _plain(text):
    try:
        return float(text)
    except ValueError:
        return None


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert UMAFall (`raw`: folder, zip, or folder holding the zip) into `out_root/umafall`.
    `subjects`: optional subset of subject numbers (1, '1' or '01')."""
    wanted = None if subjects is None else {int(s) for s in subjects}

    def keep(name):
        m = FILE_RE.fullmatch(name.rsplit('/', 1)[-1])
        return bool(m) and (wanted is None or int(m['subject']) in wanted)

    with raw_folder(raw, out_root, keep, MARKER) as folder:
        root = find_root(folder, MARKER)
        files = data_files(root, wanted)
        if not files:
            raise ConversionError(f'{root}: no trial files' + ('' if wanted is None else
                                                             f' for subjects {sorted(wanted)}'))
        repairs = Counter()
        notes = {'phones': Counter(), 'absent': Counter(), 'recordings': Counter()}
        source = dict(SOURCE)            # its notes are filled in before the writer saves meta.json
        with PreparedWriter(out_root, NAME, LABELS, LAYOUTS, source, rate_hz) as w:
            for subject, label, path in files:
                convert_file(w, path, FILE_RE.fullmatch(path.name), subject, label, repairs, notes)
            for what, n in sorted(repairs.items()):
                w.count(what, n)
            source['notes'] = [
                f'{len(files)} trial files: ' + ', '.join(
                    f'{kind} {sum(ACTIVITIES[l][0] == kind for _, l, _ in files)}' for kind in ('ADL', 'Fall')),
                'files with a recording per sensing point: ' + ', '.join(
                    f'{POSITIONS[p].lower()} {notes["recordings"][p]}' for p in range(len(POSITIONS))),
                'sensing points without rows (absent): ' + (', '.join(
                    f'{k} {v}' for k, v in sorted(notes['absent'].items())) or 'none'),
                'phones: ' + ', '.join(f'{k} {v}' for k, v in sorted(notes['phones'].items(), key=str)),
                'gyroscope read as deg/s (1/128 steps, clipping near 256), stored in rad/s; '
                'magnetometer stored as given, unit probably uT (not stated)',
                'each (file, sensing point) resampled from its own time stamps: phone on a 200 Hz grid, '
                'SensorTags on a 20 Hz grid with gyroscope and magnetometer put on the accelerometer grid',
            ]
    return w.meta
