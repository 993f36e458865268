"""pamap2: PAMAP2 Physical Activity Monitoring (Reiss & Stricker 2012), three Colibri IMUs.

Raw layout (the extracted `PAMAP2_Dataset` folder or any folder up to three levels above it; or
the UCI download `pamap2+physical+activity+monitoring.zip` itself, whose nested
`PAMAP2_Dataset.zip` is unpacked to a temporary folder):
    Protocol/subject101.dat .. subject109.dat     the protocol sessions
    Optional/subject101.dat, ...                  optional activities (converted too, if present)
Each .dat file: 54 space-separated columns, no header, one row per 0.01 s (100 Hz), the literal
text `NaN` for missing values. Columns: timestamp (s), activityID, heart rate (bpm, ~9 Hz, mostly
NaN), then three 17-column IMU blocks (hand = wrist of the dominant arm, chest, ankle of the
dominant side), each: temperature, acc +-16 g (m/s^2), acc +-6 g (m/s^2), gyroscope (rad/s),
magnetometer (uT), orientation (4, invalid).

We keep per IMU the +-16 g accelerometer (the readme recommends it: the +-6 g one saturates),
gyroscope and magnetometer: 3 x 9 = 27 channels. Heart rate, temperature, the +-6 g accelerometer
and orientation are dropped. Subject ids come from the file name (101..109). Activity 0 (transient,
between activities) becomes unlabelled (-1). A file is split into recordings where its timestamp
steps back or jumps by more than 1 s (counted). Wireless drop-outs leave NaN in IMU columns;
`add_recording` interpolates them linearly (counted); a recording in which some IMU channel has no
value at all is dropped (counted), since there is nothing to interpolate from.
"""
import re

import numpy as np
import pandas as pd

from datasets.common import file_lines, find_root, first_bad_line, line_of_row, raw_folder, table_check
from datasets.format import ConversionError, PreparedWriter, triad

NAME = 'pamap2'
RATE_HZ = 100.0
N_COLS = 54
SEP = r'\s+'                     # single spaces in the files; any whitespace accepted
MAX_GAP_S = 1.0
IMUS = ['wrist', 'chest', 'ankle']              # placements of the hand, chest and ankle blocks
CODES = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 24]   # activityID -> LABELS index
LABELS = [
    ('lying', 'lying down still'),
    ('sitting', 'sitting still on a chair'),
    ('standing', 'standing still upright'),
    ('walking', 'walking on flat ground'),
    ('running', 'running or jogging'),
    ('cycling', 'riding a bicycle'),
    ('nordic walking', 'walking briskly with Nordic walking poles'),
    ('watching tv', 'sitting and watching television'),
    ('computer work', 'sitting at a desk working on a computer'),
    ('car driving', 'driving a car'),
    ('ascending stairs', 'walking up a flight of stairs'),
    ('descending stairs', 'walking down a flight of stairs'),
    ('vacuum cleaning', 'vacuum cleaning a floor'),
    ('ironing', 'ironing clothes'),
    ('folding laundry', 'folding laundry'),
    ('house cleaning', 'cleaning a house, such as dusting and wiping'),
    ('playing soccer', 'playing soccer'),
    ('rope jumping', 'jumping with a skipping rope'),
]
LAYOUT = sum(([*triad('acc', 'm/s^2', p, 'colibri imu', gravity=True),
               *triad('gyro', 'rad/s', p, 'colibri imu'),
               *triad('mag', 'uT', p, 'colibri imu')] for p in IMUS), [])
IMU_COLS = [3 + 17 * b + k for b in range(3) for k in (1, 2, 3, 7, 8, 9, 10, 11, 12)]  # 0-based
SOURCE = {'title': 'PAMAP2 Physical Activity Monitoring', 'url': 'https://doi.org/10.24432/C5NW2H',
          'licence': 'CC BY 4.0',
          'citation': 'Reiss & Stricker, "Introducing a New Benchmarked Dataset for Activity '
                      'Monitoring", ISWC 2012'}
_LUT = np.full(max(CODES) + 1, -2, np.int64)     # activityID -> label index (-1 transient, -2 unknown)
_LUT[0] = -1
_LUT[CODES] = np.arange(len(CODES))


def read_dat(path):
    """One subjectNNN.dat -> float64 (rows, 54) with NaN where the file says `NaN`.

    Unlike `common.read_numeric`, only the literal `NaN` counts as missing: a short row is an
    error naming its line, not silently NaN-filled.
    """
    try:
        df = pd.read_csv(path, sep=SEP, header=None, engine='c', dtype=np.float64,
                         keep_default_na=False, na_values=['NaN'], index_col=False)
    except FileNotFoundError:
        raise ConversionError(f'{path}: file not found') from None
    except (ValueError, pd.errors.ParserError) as e:
        raise ConversionError(f'{path}: {first_bad_line(file_lines(path), table_check(N_COLS, SEP)) or e}') from None
    if df.shape[1] != N_COLS:
        raise ConversionError(f'{path}: expected {N_COLS} space-separated columns, found {df.shape[1]}')
    return df.to_numpy()


def labels_of(path, codes):
    """activityID column (rows,) float -> label indices (rows,); an unknown id names its line."""
    ok = (codes == np.round(codes)) & (codes >= 0) & (codes < len(_LUT))
    labels = np.where(ok, _LUT[np.where(ok, codes, 0).astype(np.int64)], -2)
    if (labels == -2).any():
        i = int(np.flatnonzero(labels == -2)[0])
        raise ConversionError(f'{path}: line {line_of_row(path, i)}: activityID {codes[i]:g} does not '
                              f'exist (expected 0 or one of {", ".join(map(str, CODES))})')
    return labels


def pieces(t):
    """Row ranges (lo, hi) between timestamp steps that go back or exceed MAX_GAP_S. t: (rows,)"""
    step = np.diff(t)
    cuts = np.flatnonzero(~((step > 0) & (step <= MAX_GAP_S))) + 1     # NaN steps cut too
    return list(zip(np.r_[0, cuts], np.r_[cuts, len(t)]))


def subject_files(root):
    """[(subject id, path)] of Protocol then Optional, in subject order."""
    files = []
    for folder in ('Protocol', 'Optional'):
        found = sorted((int(m.group(1)), p) for p in (root / folder).glob('subject*.dat')
                       if (m := re.fullmatch(r'subject(\d+)\.dat', p.name)))
        if folder == 'Protocol' and not found:
            raise ConversionError(f'{root / folder}: no subjectNNN.dat files')
        files += found
    return files


def convert(raw, out_root, rate_hz=50.0, subjects=None):
    """Convert raw PAMAP2 (folder or outer zip) into `out_root/pamap2`. `subjects`: optional subset of 101..109."""
    wanted = None if subjects is None else {str(s) for s in subjects}
    keep = lambda name: name.lower().endswith(('.zip', '.dat'))                  # noqa: E731
    with raw_folder(raw, out_root, keep, 'Protocol') as folder:
        root = find_root(folder, 'Protocol')
        with PreparedWriter(out_root, NAME, LABELS, [LAYOUT], SOURCE, rate_hz) as w:
            for subject, path in subject_files(root):
                if wanted is not None and str(subject) not in wanted:
                    continue
                data = read_dat(path)
                labels = labels_of(path, data[:, 1])
                parts = pieces(data[:, 0])
                w.count('recordings split at timestamp gaps', len(parts) - 1)
                for lo, hi in parts:
                    signal = data[lo:hi, IMU_COLS]
                    if np.isnan(signal).all(0).any():
                        w.count('recordings with an IMU channel entirely NaN dropped')
                        continue
                    w.add_recording(signal, labels[lo:hi], subject=subject, rate_hz=RATE_HZ,
                                    where=f'{path} rows {lo + 1}..{hi}')
    return w.meta
