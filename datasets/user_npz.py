"""A user's own windowed dataset, from one .npz file, without writing a converter.

    python -m datasets.prepare my_data --npz my_data.npz

The .npz holds:
    X                 (N, T, C) float   N windows of T samples of C channels
    y                 (N,) str          label name per window, e.g. 'walking'
    sampling_rate_hz  scalar            samples per second
    channels          (C,) str          one description per channel, e.g. 'acc_x', 'gyro_z',
                                        'wrist accelerometer x (m/s^2)', 'phone gyroscope z (deg/s)'
    subjects          (N,) optional     subject id per window; without it every window gets
                                        subject 'unknown' (evaluation then sees one subject)
Each window becomes one recording (one segment). Labels are the distinct y strings in canonical
form (`label_text`), described by their own text. NaN values are interpolated (counted);
a window with a channel that is NaN throughout is dropped (counted).

Channel descriptions: one sensor word (acc / accel / accelerometer / acceleration, gyro /
gyroscope, mag / magnetometer), one axis (x, y or z), optionally a unit in parentheses or as a
word, and any other words as the body placement (e.g. 'left wrist'); 'phone' / 'watch' name the
device. Accelerometer values are taken as m/s^2 and gyroscope values as rad/s unless the unit
says g (or mg) or deg/s, which are converted (and noted in the source).
The file is loaded without pickle, so arrays of Python objects (e.g. labels holding None) are
refused: save labels as strings.
"""
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from datasets.format import G, STANDARD_UNITS, Channel, ConversionError, PreparedWriter, label_text

REQUIRED = ('X', 'y', 'sampling_rate_hz', 'channels')
SENSOR_WORDS = {'acc': 'acc', 'accel': 'acc', 'accelerometer': 'acc', 'acceleration': 'acc',
                'gyro': 'gyro', 'gyr': 'gyro', 'gyroscope': 'gyro',
                'mag': 'mag', 'magnetometer': 'mag', 'magn': 'mag'}
DEVICE_WORDS = {'phone': 'smartphone', 'smartphone': 'smartphone', 'watch': 'smartwatch',
                'smartwatch': 'smartwatch', 'imu': 'imu'}
# unit spelling -> (sensor, stored unit, factor to it); magnetometer values are not rescaled
UNITS = [(r'm\s*/\s*s\s*(\^\s*2|²|2)|m\s*s\s*(\^\s*)?-\s*2', 'acc', 'm/s^2', 1.0),
         (r'mg', 'acc', 'm/s^2', G / 1000.0),
         (r'g', 'acc', 'm/s^2', G),
         (r'rad\s*/\s*s|rad\s*s\s*(\^\s*)?-\s*1|rads', 'gyro', 'rad/s', 1.0),
         (r'deg\s*/\s*s|°\s*/\s*s|dps|degrees?\s*/\s*s|degrees?\s+per\s+second', 'gyro', 'rad/s',
          math.pi / 180.0),
         (r'[uµμ]\s*t|micro\s*teslas?', 'mag', 'uT', 1.0),
         (r'gauss', 'mag', 'gauss', 1.0),
         (r'a\.?u\.?', 'mag', 'a.u.', 1.0)]
ACCEPTED = ("accepted forms: 'acc_x', 'gyro_z', 'mag_y', 'accX', 'wrist accelerometer x (m/s^2)', "
            "'phone gyroscope z (deg/s)'; one sensor word (acc, accel, accelerometer, gyro, gyroscope, "
            "mag, magnetometer), one axis (x, y, z), optional unit (m/s^2, g, mg, rad/s, deg/s; "
            "for mag uT or gauss), other words are taken as the placement")


def find_unit(text):
    """The first unit spelled in `text` -> ((sensor, stored unit, factor), match) or (None, None)."""
    for pattern, sensor, std, factor in UNITS:
        m = re.search(rf'(?<![a-z0-9]){pattern}(?![a-z0-9])', text, flags=re.IGNORECASE)
        if m:
            return (sensor, std, factor), m
    return None, None


def parse_channel(text):
    """'wrist accelerometer x (g)' -> (Channel, factor to standard units). Raises ValueError."""
    text = str(text).strip()
    bracketed = ' '.join(re.findall(r'[(\[]([^)\]]*)[)\]]', text)).strip()
    rest = re.sub(r'[(\[][^)\]]*[)\]]', ' ', text)
    if bracketed:
        unit, m = find_unit(bracketed)
        if unit is None:
            raise ValueError(f'unknown unit "{bracketed}"')
    else:
        unit, m = find_unit(rest)
        if m:
            rest = rest[:m.start()] + ' ' + rest[m.end():]
    rest = re.sub(r'([a-z])([A-Z])', r'\1 \2', rest).lower()          # accX -> acc x
    sensors, axes, devices, placement = [], [], [], []
    for word in re.split(r'[^a-z0-9]+', rest):
        glued = re.fullmatch(r'([a-z]+?)([xyz])', word)
        if word in SENSOR_WORDS:
            sensors.append(SENSOR_WORDS[word])
        elif word in ('x', 'y', 'z'):
            axes.append(word)
        elif glued and glued.group(1) in SENSOR_WORDS:              # accx, gyroz
            sensors.append(SENSOR_WORDS[glued.group(1)])
            axes.append(glued.group(2))
        elif word in DEVICE_WORDS:
            devices.append(DEVICE_WORDS[word])
        elif word and word != 'axis':
            placement.append(word)
    if len(set(sensors)) != 1:
        raise ValueError('no sensor word' if not sensors else f'several sensors {sorted(set(sensors))}')
    if len(axes) != 1:
        raise ValueError('no axis x, y or z' if not axes else f'several axes {axes}')
    sensor = sensors[0]
    if unit is None:
        unit = (sensor, 'a.u.' if sensor == 'mag' else STANDARD_UNITS[sensor], 1.0)
    elif unit[0] != sensor:
        raise ValueError(f'unit "{m.group(0)}" does not fit a {sensor} channel')
    channel = Channel(sensor, axes[0], unit[1], ' '.join(placement) or 'body',
                      devices[0] if devices else 'imu')
    return channel, unit[2]


def load(path):
    """The .npz as a dict of arrays (no pickle)."""
    if not path.exists():
        raise ConversionError(f'{path}: file not found')
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            data = {}
            for key in keys:
                try:
                    data[key] = z[key]
                except ValueError:
                    raise ConversionError(f'{path}: key "{key}" holds Python objects (e.g. None); '
                                          f'save it as a numeric or string array') from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ConversionError(f'{path}: not a readable .npz file ({e})') from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ConversionError(f'{path}: missing key "{missing[0]}" (required: {", ".join(REQUIRED)}; '
                              f'optional: subjects; found: {", ".join(sorted(data)) or "none"})')
    return data


def validate(path, data):
    """Check shapes and values; returns X (float32), y (str), rate, channel texts, subjects or None."""
    X = data['X']
    if X.ndim != 3 or not np.issubdtype(X.dtype, np.number):
        raise ConversionError(f'{path}: key "X" must be a numeric (N, T, C) array, got {X.dtype} {X.shape}')
    if X.size == 0:
        raise ConversionError(f'{path}: key "X" is empty, shape {X.shape}')
    X = X.astype(np.float32)
    if np.isnan(X).all():
        raise ConversionError(f'{path}: key "X" holds only NaN')
    if np.isinf(X).any():
        raise ConversionError(f'{path}: key "X" holds infinite values')
    n, _, c = X.shape
    y = data['y']
    if y.ndim != 1 or len(y) != n:
        raise ConversionError(f'{path}: key "y" must have one label per window ({n}), got shape {y.shape}')
    if y.dtype.kind not in 'US':
        raise ConversionError(f'{path}: key "y" must hold label names as strings (e.g. "walking"), '
                              f'got {y.dtype}; map label codes to names first')
    y = y.astype(str)
    bad = [i for i, v in enumerate(y) if not label_text(v) or v in ('None', 'nan')]
    if bad:
        raise ConversionError(f'{path}: key "y": label of window {bad[0]} is missing ("{y[bad[0]]}")')
    rate = data['sampling_rate_hz']
    if rate.size != 1 or not np.issubdtype(rate.dtype, np.number) or not np.isfinite(rate) \
            or float(rate.ravel()[0]) <= 0:
        raise ConversionError(f'{path}: key "sampling_rate_hz" must be one positive number, got {rate!r}')
    channels = data['channels']
    if channels.ndim != 1 or len(channels) != c:
        raise ConversionError(f'{path}: key "channels" must describe each of the {c} channels of X, '
                              f'got shape {channels.shape}')
    subjects = data.get('subjects')
    if subjects is not None:
        if subjects.ndim != 1 or len(subjects) != n:
            raise ConversionError(f'{path}: key "subjects" must have one id per window ({n}), '
                                  f'got shape {subjects.shape}')
        subjects = [str(s) for s in subjects.tolist()]
        if any(not s.strip() for s in subjects):
            raise ConversionError(f'{path}: key "subjects": empty subject id')
    return X, y, float(rate.ravel()[0]), [str(t) for t in channels], subjects


def parse_channels(descriptions, where):
    """Channel descriptions (C,) -> Channels (C,), factors to standard units (C,) float32, and
    notes on the conversions. Errors name `where`, the channel and the accepted forms."""
    channels, factors, notes = [], [], []
    for c, text in enumerate(descriptions):
        try:
            channel, factor = parse_channel(text)
        except ValueError as e:
            raise ConversionError(f'{where}: channels[{c}] "{text}": {e}; {ACCEPTED}') from None
        if factor != 1.0:
            notes.append(f'channels[{c}] "{text}": converted to {channel.unit} (x {factor:.6g})')
        channels.append(channel)
        factors.append(factor)
    names = [ch.name for ch in channels]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConversionError(f'{where}: channels: several channels describe the same sensor axis '
                              f'{dup}; add a placement word to tell them apart')
    return channels, np.asarray(factors, np.float32), notes


def convert_npz(npz_path, out_root, name, rate_hz=50.0):
    """Convert a user's .npz (see the module docstring) into `out_root/name`."""
    path = Path(npz_path)
    if not re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.-]*', str(name)):
        raise ConversionError(f'dataset name "{name}": use letters, digits, "_", "-" or "."')
    data = load(path)
    X, y, rate, descriptions, subjects = validate(path, data)
    channels, scale, notes = parse_channels(descriptions, path)
    texts = [label_text(v) for v in y]
    vocabulary = sorted(set(texts))
    index = {t: i for i, t in enumerate(vocabulary)}
    if subjects is None:
        notes.append('no subjects key: every window has subject "unknown" (one subject)')
        subjects = ['unknown'] * len(X)
    source = {'title': f'user dataset {name}', 'url': '', 'licence': 'unknown (user data)',
              'citation': '', 'file': path.name, 'notes': notes}
    with PreparedWriter(out_root, name, [(t, t) for t in vocabulary], [channels], source, rate_hz) as w:
        for i, window in enumerate(X):
            if np.isnan(window).all(0).any():
                w.count('windows dropped: a channel is NaN throughout')
                continue
            w.add_recording(window * scale, index[texts[i]], subject=subjects[i], rate_hz=rate,
                            where=f'{path}: X[{i}]')
    return w.meta
