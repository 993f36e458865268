"""The prepared format: one folder per dataset, written by a converter, read by the loader.

    <root>/<name>/
        meta.json      rate, channel layouts, label vocabulary, subjects, repairs, source
        signals.bin    float32, shape (n_samples, n_channels), row-major; memory-mapped when read
        segments.npy   int64 (n_segments, 5): start, length, label, subject, layout (columns: Seg)

A *segment* is a run of samples with one label (-1 = unlabelled, null or transient) from one
recording of one subject. Continuous sessions become several segments; pre-windowed datasets
(UCI HAR, UniMiB) give one segment per window. Segments never cross recordings, so a
window cut from a segment never spans two sessions.

Every dataset is stored at one rate (`rate_hz`, 50 Hz unless `--rate` says otherwise) and in
standard units: accelerometer m/s^2, gyroscope rad/s, magnetometer as the source gives it
(unit recorded). A dataset may hold several channel *layouts* (e.g. HHAR's phone and watch
streams, UMAFall's accelerometer-only phone beside its 9-channel tags); each segment names its
layout. `n_channels` is the widest layout's count: a narrower layout fills the first channels of
a row and the rest stay zero (never read: the loader masks them).

Writing goes to a temporary folder that replaces the old one only when complete, so a failed
conversion leaves any earlier prepared copy untouched. The output is a pure function of the
raw input: converting twice gives byte-identical files.
"""
import functools
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

FORMAT_VERSION = 1
DEFAULT_RATE_HZ = 50.0
G = 9.80665  # standard gravity, m/s^2
STANDARD_UNITS = {'acc': 'm/s^2', 'gyro': 'rad/s'}
# a channel's sensor as the model sees it (a batch's channel_type holds these ids)
SENSOR_TYPES = ('acc', 'gyro', 'mag')     # channel_type ids 0, 1, 2
ACC_TYPE, GYRO_TYPE, MAG_TYPE = range(len(SENSOR_TYPES))
PAD_TYPE = len(SENSOR_TYPES)              # channel_type of a padding channel


class Seg:
    """Columns of segments.npy (S, 5) int64; loader.cut_windows adds SEGMENT, the row of the
    segment a window was cut from."""
    START, LENGTH, LABEL, SUBJECT, LAYOUT, SEGMENT = range(6)


class Triad:
    """Columns of a triad table (G, 5) int64 (loader: a layout's triads, a batch's 'triads'):
    the channels holding x, y and z of one sensor of one device, the device's number within
    its layout (its triads turn together) and the sensor type (SENSOR_TYPES); -1 pads a row."""
    X, Y, Z, DEVICE, SENSOR = range(5)
    AXES = slice(X, Z + 1)


class ConversionError(Exception):
    """Raised for raw input a converter cannot use; the message names the file (and line)."""


@dataclass(frozen=True)
class Channel:
    sensor: str            # 'acc' | 'gyro' | 'mag'
    axis: str              # 'x' | 'y' | 'z'
    unit: str              # unit of the stored values
    placement: str         # body position, e.g. 'waist', 'left ankle'
    device: str            # sensor unit, e.g. 'smartphone', 'shimmer'
    gravity: bool | None = None   # accelerometer only: does the signal include gravity?

    @property
    def name(self):
        return f'{self.placement.replace(" ", "_")}_{self.sensor}_{self.axis}'

    @property
    def description(self):
        """One sentence that Stage 2 embeds as the channel's text."""
        kind = {'acc': 'accelerometer', 'gyro': 'gyroscope', 'mag': 'magnetometer'}[self.sensor]
        text = f'{self.device} {kind} on the {self.placement}, {self.axis} axis, in {self.unit}'
        if self.sensor == 'acc' and self.gravity is not None:
            text += ', gravity included' if self.gravity else ', gravity removed'
        return text


def triad(sensor, unit, placement, device, gravity=None):
    """The three channels x, y, z of one sensor."""
    return [Channel(sensor, a, unit, placement, device, gravity) for a in 'xyz']


def acc_gyro(placement, device, gravity=True):
    """The six channels of a device with an accelerometer (m/s^2) and a gyroscope (rad/s)."""
    return (triad('acc', 'm/s^2', placement, device, gravity=gravity)
            + triad('gyro', 'rad/s', placement, device))


def label_text(raw):
    """Canonical label text: 'WALKING_UPSTAIRS', 'Walking-upstairs' -> 'walking upstairs'."""
    text = re.sub(r'([a-z])([A-Z])', r'\1 \2', str(raw).strip())   # CamelCase -> words
    text = re.sub(r'[_\-\s]+', ' ', text).strip().lower()
    return text


# ---------------------------------------------------------------------------- resampling

def resample(x, rate_in, rate_out, axis=0):
    """Polyphase resampling along `axis` (anti-aliased, edges extrapolated linearly).
    x: (T, ...) -> (ceil(T * out / in), ...) for axis=0"""
    if abs(rate_in - rate_out) < 1e-9:
        return np.asarray(x, dtype=np.float32)
    frac = Fraction(rate_out / rate_in).limit_denominator(1000)
    up, down = frac.numerator, frac.denominator
    y = resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=axis, padtype='line',
                      window=_polyphase_filter(up, down))
    return y.astype(np.float32)


@functools.lru_cache(maxsize=64)
def _polyphase_filter(up, down, half_len=10, beta=5.0):
    """Kaiser low-pass FIR for resample_poly with every polyphase branch normalised to unit
    gain, so a constant (gravity) passes without ripple when upsampling by a non-integer ratio."""
    from scipy.signal import firwin
    m = max(up, down)
    h = firwin(2 * half_len * m + 1, 1.0 / m, window=('kaiser', beta))
    for p in range(up):
        h[p::up] /= h[p::up].sum()
    h = h / up                          # resample_poly multiplies by `up` again
    h.setflags(write=False)             # cached: shared by every call
    return h


def resample_labels(labels, rate_in, rate_out, n_out=None):
    """Nearest-sample label resampling. labels: (T,) -> (n_out or round(T * out / in),)"""
    n_out = int(round(len(labels) * rate_out / rate_in)) if n_out is None else n_out
    if n_out == len(labels):
        return np.asarray(labels)
    src = np.minimum((np.arange(n_out) * rate_in / rate_out).round().astype(np.int64), len(labels) - 1)
    return np.asarray(labels)[src]


def uniform_from_timestamps(t, x, rate_hz, max_gap_s=1.0):
    """Interpolate an irregularly sampled stream onto a uniform grid, split at gaps.

    t: (T,) seconds, increasing (duplicates are dropped); x: (T, C).
    Returns a list of (start_index, values (T_i, C)) pieces, one per gap-free run, on a grid at
    `rate_hz` starting at each run's first timestamp. The caller resamples further if needed.
    """
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    keep = t > np.maximum.accumulate(np.r_[-np.inf, t[:-1]])  # drop stamps not after every earlier one
    t, x = t[keep], x[keep]
    cuts = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    pieces = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(t)]):
        if hi - lo < 2:
            continue
        grid = np.arange(t[lo], t[hi - 1], 1.0 / rate_hz)
        vals = np.stack([np.interp(grid, t[lo:hi], x[lo:hi, c]) for c in range(x.shape[1])], 1)
        pieces.append((lo, vals.astype(np.float32)))
    return pieces


def interpolate_nans(x):
    """Linear interpolation over NaN runs per column (edges held). x: (T, C) -> (x, n_filled)"""
    x = np.array(x, dtype=np.float32, copy=True)
    bad = np.isnan(x)
    n = int(bad.sum())
    if n == 0:
        return x, 0
    idx = np.arange(len(x))
    for c in np.flatnonzero(bad.any(0)):
        ok = ~bad[:, c]
        if not ok.any():
            x[:, c] = 0.0
            continue
        x[bad[:, c], c] = np.interp(idx[bad[:, c]], idx[ok], x[ok, c])
    return x, n


def runs(labels):
    """Constant-label runs. labels: (T,) -> starts (R,), lengths (R,), values (R,)"""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), labels[:0]
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.r_[0, change]
    lengths = np.diff(np.r_[starts, len(labels)])
    return starts, lengths, labels[starts]


# ---------------------------------------------------------------------------- writing

class PreparedWriter:
    """Streams recordings of one dataset into the prepared format, atomically.

        with PreparedWriter(out_root, 'hapt', labels=[('walking', 'walking on flat ground'), ...],
                            layouts=[triad('acc', ...) + triad('gyro', ...)], source={...}) as w:
            w.add_recording(signal, per_sample_labels, subject='1', rate_hz=50)
            w.count('malformed lines dropped', 3)
    """

    def __init__(self, out_root, name, labels, layouts, source=None, rate_hz=DEFAULT_RATE_HZ):
        self.final = Path(out_root) / name
        self.tmp = Path(out_root) / f'.{name}.partial-{os.getpid()}'
        self.name, self.rate_hz = name, float(rate_hz)
        self.labels = [(label_text(n), d) for n, d in labels]
        names = [n for n, _ in self.labels]
        if len(set(names)) != len(names):
            raise ValueError(f'{name}: duplicate label names {names}')
        self.layouts = [list(l) for l in layouts]
        if not self.layouts or not all(self.layouts):
            raise ValueError(f'{name}: every layout needs at least one channel')
        self.n_channels = max(len(l) for l in self.layouts)    # narrower layouts are zero-filled to it
        self.source = source or {}
        self.subjects, self.segments, self.repairs = {}, [], {}
        self.n_samples = 0

    def __enter__(self):
        from tqdm import tqdm
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self._bin = open(self.tmp / 'signals.bin', 'wb')
        # progress: recordings and hours converted so far (shown on a terminal only)
        self._bar = tqdm(desc=f'converting {self.name}', unit=' recordings', leave=False,
                         disable=not sys.stderr.isatty())
        return self

    def count(self, what, n=1):
        """Record a documented repair (dropped line, interpolated NaN...), reported in the summary."""
        if n:
            self.repairs[what] = self.repairs.get(what, 0) + int(n)

    def add_recording(self, signal, labels, subject, rate_hz, layout=0, where=''):
        """signal: (T, C) in standard units at `rate_hz`, C the layout's channel count;
        labels: (T,) ints (-1 unlabelled) or one int."""
        signal = np.asarray(signal, dtype=np.float32)
        if not 0 <= layout < len(self.layouts):
            raise ConversionError(f'{where}: layout {layout} does not exist')
        width = len(self.layouts[layout])
        if signal.ndim != 2 or signal.shape[1] != width:
            raise ConversionError(f'{where or self.name}: expected {width} channels, '
                                  f'got array of shape {signal.shape}')
        labels = np.full(len(signal), labels, np.int64) if np.ndim(labels) == 0 else np.asarray(labels, np.int64)
        if len(labels) != len(signal):
            raise ConversionError(f'{where}: {len(labels)} labels for {len(signal)} samples')
        bad = labels[(labels < -1) | (labels >= len(self.labels))]
        if len(bad):
            raise ConversionError(f'{where}: label index {bad[0]} outside 0..{len(self.labels) - 1}')
        if np.isnan(signal).any():
            signal, n = interpolate_nans(signal)
            self.count('NaN values interpolated', n)
        signal = resample(signal, rate_hz, self.rate_hz)
        labels = resample_labels(labels, rate_hz, self.rate_hz, n_out=len(signal))
        if len(signal) == 0:
            return
        if width < self.n_channels:
            signal = np.pad(signal, ((0, 0), (0, self.n_channels - width)))
        subj = self.subjects.setdefault(str(subject), len(self.subjects))
        starts, lengths, values = runs(labels)
        seg = np.stack([starts + self.n_samples, lengths, values,
                        np.full_like(starts, subj), np.full_like(starts, layout)], 1)
        self.segments.append(seg)
        self._bin.write(np.ascontiguousarray(signal).tobytes())
        self.n_samples += len(signal)
        self._bar.update(1)
        self._bar.set_postfix(hours=f'{self.n_samples / self.rate_hz / 3600:.2f}', refresh=False)

    def __exit__(self, exc_type, exc, tb):
        self._bin.close()
        self._bar.close()
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        try:
            self._finish()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return False

    def _finish(self):
        if self.n_samples == 0:
            raise ConversionError(f'{self.name}: no samples were converted')
        segments = np.concatenate(self.segments).astype(np.int64)
        np.save(self.tmp / 'segments.npy', segments)
        labels = segments[:, Seg.LABEL]
        counts = np.bincount(labels[labels >= 0], minlength=len(self.labels))
        meta = {
            'format_version': FORMAT_VERSION,
            'name': self.name,
            'rate_hz': self.rate_hz,
            'n_samples': self.n_samples,
            'n_channels': self.n_channels,
            'layouts': [[dict(asdict(c), name=c.name, description=c.description) for c in l]
                        for l in self.layouts],
            'labels': [{'name': n, 'description': d, 'segments': int(k)}
                       for (n, d), k in zip(self.labels, counts)],
            'subjects': list(self.subjects),
            'repairs': dict(sorted(self.repairs.items())),
            'source': self.source,
        }
        with open(self.tmp / 'meta.json', 'w') as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        old = self.final.parent / f'.{self.name}.old-{os.getpid()}'
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        shutil.rmtree(old, ignore_errors=True)
        self.meta = meta


# ---------------------------------------------------------------------------- reading

class PreparedDataset:
    """Read side of the format: metadata in memory, signals memory-mapped (never loaded whole).
    `PreparedDataset.from_arrays` serves windows held in memory the same way (no files)."""

    def __init__(self, path):
        path = Path(path)
        meta_path = path / 'meta.json'
        if not meta_path.exists():
            raise FileNotFoundError(f'{path}: not a prepared dataset (no meta.json)')
        with open(meta_path) as f:
            self.meta = json.load(f)
        if self.meta.get('format_version') != FORMAT_VERSION:
            raise ValueError(f'{meta_path}: format_version {self.meta.get("format_version")}, '
                             f'expected {FORMAT_VERSION}; prepare the dataset again')
        self.path = path
        self.name = self.meta['name']
        self.rate_hz = float(self.meta['rate_hz'])
        shape = (self.meta['n_samples'], self.meta['n_channels'])
        self.signals = np.memmap(path / 'signals.bin', dtype=np.float32, mode='r', shape=shape)
        self.segments = np.load(path / 'segments.npy')
        self.labels = [l['name'] for l in self.meta['labels']]
        self.subjects = self.meta['subjects']
        self.layouts = [[Channel(**{k: c[k] for k in ('sensor', 'axis', 'unit', 'placement', 'device', 'gravity')})
                         for c in l] for l in self.meta['layouts']]

    @classmethod
    def from_arrays(cls, name, signals, segments, labels, layouts, subjects, rate_hz):
        """A dataset over arrays in memory, read like a prepared folder: signals (n, C) float32 in
        standard units, segments (S, 5) (columns Seg), labels [(name, description)], layouts
        [[Channel]], subjects [str]."""
        ds = cls.__new__(cls)
        ds.path, ds.name, ds.rate_hz = Path(f'<memory>/{name}'), name, float(rate_hz)
        ds.signals = np.ascontiguousarray(signals, np.float32)
        ds.segments = np.asarray(segments, np.int64)
        ds.labels, ds.subjects, ds.layouts = [n for n, _ in labels], list(subjects), [list(l) for l in layouts]
        ds.meta = {'format_version': FORMAT_VERSION, 'name': name, 'rate_hz': ds.rate_hz,
                   'n_samples': len(ds.signals), 'n_channels': ds.signals.shape[1],
                   'labels': [{'name': n, 'description': d} for n, d in labels], 'subjects': ds.subjects}
        return ds

    def read_windows(self, starts, lengths, width):
        """Windows of `width` rows from `starts`, rows past each `length` repeating its last real
        row. -> (n, width, C) float32. Reads with pread into the batch array rather than
        fancy-indexing the memmap, whose page faults map neighbouring pages too, so resident
        memory stays flat however large the dataset is."""
        C = self.meta['n_channels']
        out = np.empty((len(starts), width, C), np.float32)
        in_memory = not isinstance(self.signals, np.memmap)
        fd = None if in_memory else self._file()
        for k, (start, n) in enumerate(zip(np.asarray(starts).tolist(), np.asarray(lengths).tolist())):
            n = min(n, width)
            if in_memory:
                out[k, :n] = self.signals[start:start + n]
            elif os.preadv(fd, [out[k, :n]], start * 4 * C) != n * 4 * C:
                raise OSError(f'{self.path / "signals.bin"}: short read at sample {start} (file truncated?)')
            out[k, n:] = out[k, n - 1]
        return out

    def _file(self):
        """A file descriptor of signals.bin owned by this process (DataLoader workers fork)."""
        if getattr(self, '_fd_pid', None) != os.getpid():
            self._fd = os.open(self.path / 'signals.bin', os.O_RDONLY)
            self._fd_pid = os.getpid()
        return self._fd

    def __repr__(self):
        return (f'PreparedDataset({self.name}: {self.meta["n_samples"]} samples x '
                f'{self.meta["n_channels"]} ch at {self.rate_hz:g} Hz, {len(self.segments)} segments, '
                f'{len(self.labels)} labels, {len(self.subjects)} subjects)')
