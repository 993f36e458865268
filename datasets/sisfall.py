"""sisfall: SisFall, a fall and movement dataset (Sucerquia, López & Vargas-Bonilla, Sensors 2017).
Not one of the ten: an extra training dataset.

Raw layout (the distributed zip, the unpacked `SisFall_dataset` folder, any folder up to three
levels above it, or a folder holding the zip):
    SisFall_dataset/Readme.txt                          the authors' description (not read)
    SisFall_dataset/<subject>/<code>_<subject>_R<trial>.txt
subject SA01..SA23 (adults 19-30 years) or SE01..SE15 (60-75 years), code D01..D19 (activities
of daily living) or F01..F15 (falls; the complete release has them, they are labels like any
other), trial R01..R05. One file is one trial of one activity: its code is the label of every
sample (there are no per-sample boundaries, although a trial is often a sequence, e.g. D07 is
stand, sit down slowly, stay seated, stand up, all within 12 s).

Each file is text without a header, CRLF line endings (LF is accepted too), one row per sample at
200 Hz: 9 comma-separated integers padded with spaces and closed by ';', e.g.
`  17,-179, -99, -18,-504,-352,  76,-697,-279;`. The columns are raw ADC counts of one device worn
at the waist (belt buckle): ADXL345 accelerometer x, y, z; ITG3200 gyroscope x, y, z; MMA8451Q
accelerometer x, y, z. Conversion, from the Readme, value = (2 * range / 2^resolution) * counts:
    ADXL345   +-16 g, 13 bit:       g     = counts * 32 / 8192     -> * G for m/s^2
    ITG3200   +-2000 deg/s, 16 bit: deg/s = counts * 4000 / 65536  -> rad/s
(The ITG3200 datasheet gives 14.375 counts per deg/s rather than 65536/4000 = 16.384; the
Readme's factor is used, as the dataset's authors direct.) Counts outside a sensor's ADC range
are refused.

Kept: one 6-channel layout, ADXL345 + ITG3200, placement 'waist'. Dropped: the MMA8451Q
(columns 7-9). Two accelerometers on one device and placement would be ambiguous for the
rotation augmentation, which groups triads by device and placement; the ADXL345 has the wider
range (+-16 g against +-8 g, which the MMA8451Q reaches in the data) and is the one paired with
the gyroscope. The two chips' axes are taken as printed; the dataset does not say whether the
ADXL345 and ITG3200 axes are aligned with each other.

Parsing: the file's bytes with every `;` line ending turned into a plain newline go to pandas'
C parser as integers; anything else (a missing `;`, a stray character, a short or long row)
sends the error path to the first bad line, named with its file and line number.

Repairs (counted):
  - 'file name names another subject; folder used': the subject is taken from the FOLDER. The
    distributed data has `SA15/D17_SE15_R0x.txt`, SA15's own D17 trials misnamed (they differ
    from `SE15/D17_SE15_R0x.txt`). A folder holding the same code and trial twice (once under
    its own name, once under another) is refused as ambiguous.
  - 'whitespace-only fragment after the last row ignored': a few files end with a line of
    spaces without a line ending (5 in the ADL subset, all SE07 / SE08).
Refused: an unknown code, a .txt file in a subject folder not named <code>_<subject>_R<trial>.txt
(other files there are ignored, as the zip path extracts .txt members only), an empty file, any
malformed row or count outside its sensor's ADC range.
"""
import io
import re

import numpy as np
import pandas as pd

from datasets.common import file_lines, find_root, first_bad_line, line_of_row, raw_folder
from datasets.format import G, ConversionError, PreparedWriter, acc_gyro

NAME = 'sisfall'
RATE_HZ = 200.0
N_COLS = 9
ACC_G_PER_COUNT = 2 * 16 / 2 ** 13               # ADXL345: +-16 g, 13 bit
GYRO_DEG_PER_COUNT = 2 * 2000 / 2 ** 16          # ITG3200: +-2000 deg/s, 16 bit
ADC_LIMITS = [(-2 ** 12, 2 ** 12 - 1)] * 3 + [(-2 ** 15, 2 ** 15 - 1)] * 3 + [(-2 ** 13, 2 ** 13 - 1)] * 3
SUBJECT_DIR = 'S[AE][0-9][0-9]'                  # glob for find_root
SUBJECT_RE = re.compile(r'S[AE]\d\d')
FILE_RE = re.compile(r'([DF]\d\d)_(S[AE]\d\d)_R(\d\d)\.txt')
ROW_RE = re.compile(r' *-?\d+(?: *, *-?\d+){%d};' % (N_COLS - 1))

LABELS = {  # code -> (text, description)
    'D01': ('walking slowly', 'walking at a slow pace on flat ground for 100 seconds'),
    'D02': ('walking quickly', 'walking at a brisk pace on flat ground for 100 seconds'),
    'D03': ('jogging slowly', 'jogging at an easy pace for 100 seconds'),
    'D04': ('jogging quickly', 'jogging at a fast pace for 100 seconds'),
    'D05': ('walking up and down stairs slowly', 'climbing a flight of stairs and coming back down at a slow pace'),
    'D06': ('walking up and down stairs quickly', 'climbing a flight of stairs and coming back down at a fast pace'),
    'D07': ('sitting down slowly in a half height chair and getting up',
            'slowly sitting down on a chair of medium height, resting a moment and slowly standing up again'),
    'D08': ('sitting down quickly in a half height chair and getting up',
            'quickly sitting down on a chair of medium height, resting a moment and quickly standing up again'),
    'D09': ('sitting down slowly in a low chair and getting up',
            'slowly sitting down on a low chair, resting a moment and slowly standing up again'),
    'D10': ('sitting down quickly in a low chair and getting up',
            'quickly sitting down on a low chair, resting a moment and quickly standing up again'),
    'D11': ('collapsing back into a chair while trying to get up',
            'sitting for a moment, attempting to stand up and dropping back onto the chair'),
    'D12': ('lying down slowly from sitting and sitting up again',
            'sitting for a moment, slowly lying down, staying down a moment and sitting up again'),
    'D13': ('lying down quickly from sitting and sitting up again',
            'sitting for a moment, quickly lying down, staying down a moment and sitting up again'),
    'D14': ('rolling from the back onto the side and back while lying',
            'lying on the back, turning onto one side, waiting a moment and turning back onto the back'),
    'D15': ('crouching down by bending the knees and getting up',
            'from standing, slowly squatting down by bending the knees and then standing up again'),
    'D16': ('bending over with straight knees and getting up',
            'from standing, slowly bending forward at the waist without bending the knees and straightening up again'),
    'D17': ('getting into and out of a car',
            'standing beside a car, getting in, staying seated for a while and getting out again'),
    'D18': ('stumbling while walking', 'tripping or stumbling while walking and recovering without falling'),
    'D19': ('jumping gently', 'jumping lightly on the spot as if reaching for a high object, without falling'),
    'F01': ('falling forward after slipping while walking', 'a forward fall caused by a slip during walking'),
    'F02': ('falling backward after slipping while walking', 'a backward fall caused by a slip during walking'),
    'F03': ('falling sideways after slipping while walking', 'a sideways fall caused by a slip during walking'),
    'F04': ('falling forward after tripping while walking', 'a forward fall caused by tripping during walking'),
    'F05': ('falling forward after tripping while jogging', 'a forward fall caused by tripping during jogging'),
    'F06': ('collapsing straight down after fainting while walking',
            'a vertical fall while walking, as when someone faints and drops to the ground'),
    'F07': ('fainting while walking and breaking the fall on a table',
            'a fall while walking caused by fainting, softened by catching oneself with the hands on a table'),
    'F08': ('falling forward while trying to get up', 'a forward fall while attempting to stand up from a seat'),
    'F09': ('falling sideways while trying to get up', 'a sideways fall while attempting to stand up from a seat'),
    'F10': ('falling forward while trying to sit down', 'a forward fall while attempting to sit down on a seat'),
    'F11': ('falling backward while trying to sit down', 'a backward fall while attempting to sit down on a seat'),
    'F12': ('falling sideways while trying to sit down', 'a sideways fall while attempting to sit down on a seat'),
    'F13': ('falling forward from sitting after fainting or falling asleep',
            'a seated person falling forward because they faint or doze off'),
    'F14': ('falling backward from sitting after fainting or falling asleep',
            'a seated person falling backward because they faint or doze off'),
    'F15': ('falling sideways from sitting after fainting or falling asleep',
            'a seated person falling to the side because they faint or doze off'),
}
CODES = list(LABELS)                             # code -> label index
LAYOUT = acc_gyro('waist', 'sisfall belt device')
SOURCE = {'title': 'SisFall: A Fall and Movement Dataset',
          'url': 'https://doi.org/10.3390/s17010198',
          'licence': 'not stated (research use; cite the paper)',
          'citation': 'Sucerquia, López, Vargas-Bonilla, "SisFall: A Fall and Movement Dataset", '
                      'Sensors 17(1):198 (2017)',
          'notes': ['one label per file (trial); a trial is often a sequence of postures and has no '
                    'per-sample boundaries',
                    'kept ADXL345 accelerometer and ITG3200 gyroscope; MMA8451Q accelerometer dropped',
                    'conversion from the Readme: ADXL345 32/8192 g per count, ITG3200 4000/65536 deg/s per count']}


# ---------------------------------------------------------------------------- locating the raw data

# ---------------------------------------------------------------------------- reading

def check_row(line):
    """first_bad_line check: 9 integers, comma-separated, padded with spaces, closed by ';'."""
    if ROW_RE.fullmatch(line):
        return None
    return f"expected {N_COLS} comma-separated integers ending in ';', found {line[:80]!r}"


def read_file(path):
    """One trial file -> (counts (T, 9) int64, trailing whitespace fragment ignored: bool)."""
    data = path.read_bytes()
    end = data.rfind(b'\n') + 1
    fragment = data[end:]
    tail_ignored = bool(fragment) and not fragment.strip()
    body = data[:end] if tail_ignored else data
    n_closed = body.count(b';')
    body = body.replace(b';\r\n', b'\n').replace(b';\n', b'\n')
    if body.endswith(b';'):                          # last row without a line ending
        body = body[:-1]

    def bad(reason):
        where = first_bad_line(file_lines(path), check_row)
        return ConversionError(f'{path}: {where or reason}')

    if not body.strip():
        raise ConversionError(f'{path}: empty file (expected rows of {N_COLS} integers)')
    if b';' in body or b'\r' in body:
        raise bad("';' or a carriage return inside a row")
    try:
        df = pd.read_csv(io.BytesIO(body), sep=',', header=None, engine='c', dtype=np.int64,
                         skipinitialspace=True, index_col=False)
    except (ValueError, OverflowError, pd.errors.ParserError) as e:
        raise bad(str(e)) from None
    if df.shape[1] != N_COLS:
        raise bad(f'expected {N_COLS} columns, found {df.shape[1]}')
    counts = df.to_numpy()
    if len(counts) != n_closed:                      # some row lacks its ';' (LF files)
        raise bad(f"{len(counts)} rows but {n_closed} ';'")
    lo, hi = np.array(ADC_LIMITS).T
    out = (counts < lo) | (counts > hi)
    if out.any():
        row, col = np.argwhere(out)[0]
        raise ConversionError(f'{path}: line {line_of_row(path, row)}: column {col + 1} holds '
                              f'{counts[row, col]}, outside the ADC range {lo[col]}..{hi[col]}')
    return counts, tail_ignored


def to_units(counts):
    """Raw counts (T, 9) -> (T, 6): ADXL345 m/s^2, ITG3200 rad/s."""
    acc = counts[:, 0:3] * (ACC_G_PER_COUNT * G)
    gyro = np.deg2rad(counts[:, 3:6] * GYRO_DEG_PER_COUNT)
    return np.concatenate([acc, gyro], 1)


def trial_files(root, wanted):
    """-> [(subject, code, path, named_subject)] in subject, code, trial order."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and SUBJECT_RE.fullmatch(p.name))
    if not folders:
        raise ConversionError(f'{root}: no subject folders SA01.. / SE01..')
    found = []
    for folder in folders:
        if wanted is not None and folder.name not in wanted:
            continue
        seen = {}
        for path in sorted(folder.glob('*.txt')):        # other files (the zip path skips them too) are ignored
            if path.name.startswith('.') or not path.is_file():
                continue
            m = FILE_RE.fullmatch(path.name)
            if m is None:
                raise ConversionError(f'{path}: unexpected file; expected <code>_{folder.name}_R<trial>.txt '
                                      f'with code D01..D19 or F01..F15')
            code, named, trial = m.groups()
            if code not in LABELS:
                raise ConversionError(f'{path}: unknown activity code {code} (expected D01..D19 or F01..F15)')
            if (code, trial) in seen:
                raise ConversionError(f'{path}: {folder.name} already has {code} trial R{trial} in '
                                      f'{seen[(code, trial)].name}; which one is {folder.name}\'s is ambiguous')
            seen[(code, trial)] = path
            found.append((folder.name, code, trial, path, named))
    return [(s, c, p, n) for s, c, _, p, n in sorted(found, key=lambda f: f[:3])]


def subject_id(subject):
    """'sa01', 'SA01' -> 'SA01'."""
    return str(subject).strip().upper()


# ---------------------------------------------------------------------------- converting

def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw SisFall (zip, folder, or folder holding the zip) into `out_root/sisfall`.
    `subjects`: optional subset of ids 'SA01'..'SE15'."""
    wanted = None if subjects is None else {subject_id(s) for s in subjects}
    keep = lambda name: name.lower().endswith('.txt')                          # noqa: E731
    with raw_folder(raw, out_root, keep, SUBJECT_DIR) as folder:
        root = find_root(folder, SUBJECT_DIR)
        files = trial_files(root, wanted)
        if not files:
            raise ConversionError(f'{root}: no trial files for subjects {sorted(wanted or [])}')
        labels = [LABELS[c] for c in CODES]
        with PreparedWriter(out_root, NAME, labels, [LAYOUT], SOURCE, rate_hz) as w:
            for subject, code, path, named in files:
                counts, tail_ignored = read_file(path)
                w.count('whitespace-only fragment after the last row ignored', int(tail_ignored))
                w.count('file name names another subject; folder used', int(named != subject))
                w.add_recording(to_units(counts), CODES.index(code), subject=subject,
                                rate_hz=RATE_HZ, where=str(path))
    return w.meta
