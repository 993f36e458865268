"""Helpers shared by the converters: locating raw folders and archives, fast strict table
reading, error messages that name the line, and aligning timestamped streams.

A converter imports from here and from `datasets.format`, never from another converter.
"""
import fnmatch
import io
from concurrent.futures import ThreadPoolExecutor
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.format import ConversionError, runs, uniform_from_timestamps


# ---------------------------------------------------------------------------- raw folders and archives


def find_root(raw, marker):
    """The folder under `raw` (itself, or up to three levels down) that contains `marker`.

    Lets users point --raw at the extracted archive, its parent, or the inner folder.
    """
    raw = Path(raw)
    if not raw.exists():
        raise ConversionError(f'{raw}: raw folder does not exist')
    for depth in range(4):
        pattern = '/'.join(['*'] * depth + [marker]) if depth else marker
        hits = sorted(p for p in raw.glob(pattern) if '__MACOSX' not in p.parts)
        if hits:
            return hits[0].parent
    raise ConversionError(f'{raw}: expected to find "{marker}" in it or in a sub-folder '
                          f'(is this the right folder for this dataset?)')


def archive_in(raw, marker):
    """`raw` itself, or, when `raw` is a folder without `marker` (a glob matching a file or folder
    of the unpacked dataset, or a tuple of such globs) in it or up to three levels down, the zip
    archive there that holds such a member (or a nested zip). Lets --raw name the folder a
    download was saved in. Several candidate zips are refused; with none, `raw` is returned (the
    converter then says what it expected)."""
    raw = Path(raw)
    markers = (marker,) if isinstance(marker, str) else tuple(marker)
    if not raw.is_dir():
        return raw
    for m in markers:
        try:
            find_root(raw, m)
            return raw
        except ConversionError:
            pass

    def holds(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
        return any(n.lower().endswith('.zip') or any(fnmatch.fnmatch(part, m) for part in n.split('/')
                                                      for m in markers)
                   for n in names if '__MACOSX' not in n)
    for depth in range(4):
        hits = [z for z in sorted(raw.glob('/'.join(['*'] * depth + ['*.zip'])))
                if '__MACOSX' not in z.parts and z.is_file() and holds(z)]
        if len(hits) > 1:
            raise ConversionError(f'{raw}: no unpacked "{markers[0]}", and several zip archives that could hold it: '
                                  f'{", ".join(str(z.relative_to(raw)) for z in hits)}; pass one of them')
        if hits:
            return hits[0]
    return raw


@contextmanager
def raw_folder(raw, out_root, keep=None, marker=None):
    """Yield `raw` as a folder: itself, or a temporary extraction when `raw` is a .zip file (or,
    given the dataset's `marker`, a folder that holds the zip instead of the files: archive_in).

    Zips inside the zip (UCI nests them) are unpacked in place, recursively. `keep(member_name)`
    selects the members worth extracting (zip members included); `__MACOSX` junk is skipped.
    The temporary folder lives under `out_root` (beside the prepared data, not in /tmp) and is
    removed afterwards; error messages name `<zip>!/<member>` instead of it.
    """
    raw = Path(raw) if marker is None else archive_in(raw, marker)
    if not raw.is_file():
        yield raw
        return
    if not zipfile.is_zipfile(raw):
        raise ConversionError(f'{raw}: expected a folder or a .zip archive')
    Path(out_root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='.raw-', dir=out_root) as tmp:
        _extract(raw, Path(tmp), keep, label=str(raw))
        try:
            yield Path(tmp)
        except ConversionError as e:
            raise ConversionError(str(e).replace(tmp, f'{raw}!')) from None


def _extract(source, dest, keep, label):
    """Extract zip `source` into `dest`, unpacking nested zips next to where they lie."""
    try:
        with zipfile.ZipFile(source) as z:
            for info in z.infolist():
                name = info.filename
                if info.is_dir() or '__MACOSX' in name.split('/') or (keep and not keep(name)):
                    continue
                path = Path(z.extract(info, dest))
                if name.lower().endswith('.zip'):
                    _extract(path, path.parent, keep, label=f'{label}!/{name}')
                    path.unlink()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ConversionError(f'{label}: cannot read the zip archive ({e})') from None



# ---------------------------------------------------------------------------- tables

def read_numeric(path, sep, n_cols=None, header=None, comment=None, names=None, na_values=None,
                 text=None):
    """Read a delimited numeric table with pandas' C parser; errors name the file and line.

    Returns a float64 array (rows, cols). `text` parses an in-memory string instead of `path`.
    """
    src = io.StringIO(text) if text is not None else path
    try:
        df = pd.read_csv(src, sep=sep, header=header, comment=comment, names=names, engine='c',
                         na_values=na_values, keep_default_na=False,
                         skipinitialspace=True, dtype=np.float64)
    except FileNotFoundError:
        raise ConversionError(f'{path}: file not found') from None
    except (ValueError, pd.errors.ParserError) as e:
        where = first_bad_line(file_lines(path, text), table_check(n_cols, sep))
        raise ConversionError(f'{path}: {where or e}') from None
    if n_cols is not None and df.shape[1] != n_cols:
        raise ConversionError(f'{path}: expected {n_cols} columns, found {df.shape[1]}')
    return df.to_numpy()


def file_lines(path, text=None):
    """The lines of a text file (or of `text`), without line endings; [] if unreadable.
    For error paths: the whole file is read."""
    try:
        return (text if text is not None else Path(path).read_text(errors='replace')).splitlines()
    except OSError:
        return []


def first_bad_line(lines, check, first_line=1):
    """For an error message: the first non-blank line that `check` complains about, as
    'line N: complaint', or None. lines: the file's lines (numbered from `first_line`);
    check(line) -> complaint str or None. Every converter names bad lines through this."""
    for i, line in enumerate(lines, first_line):
        line = line.rstrip('\r\n')
        if line.strip():
            complaint = check(line)
            if complaint:
                return f'line {i}: {complaint}'
    return None


def table_check(n_cols, sep=',', numeric=None, what='numbers'):
    """A `first_bad_line` check for a delimited table row: `n_cols` fields (any number if None)
    with numbers at the `numeric` positions (all if None). sep ' ' (or the regex for whitespace): any whitespace."""
    def check(line):
        fields = line.split() if sep in (r'\s+', ' ') else line.split(sep)
        if n_cols is not None and len(fields) != n_cols:
            return f'expected {n_cols} values, found {len(fields)}: {line[:80]!r}'
        try:
            [float(fields[j]) for j in (range(len(fields)) if numeric is None else numeric)]
        except ValueError:
            return f'expected {what}, found {line[:80]!r}'
        return None
    return check


def line_of_row(path, row, header_lines=0):
    """1-based line number of data row `row` (0-based) of a text file, skipping `header_lines`
    and blank lines as pandas does. Used on error paths only (reads the file line by line)."""
    with open(path, errors='replace') as f:
        seen = -1
        for i, line in enumerate(f, 1):
            if i <= header_lines or not line.strip():
                continue
            seen += 1
            if seen == row:
                return i
    return row + 1 + header_lines


def named_files(root, marker, pattern, expected):
    """The files of `root` matching the glob `marker`, each with its file-name match of the
    compiled regex `pattern`; a name that does not match is refused with `expected` (the
    naming scheme in words). -> [(path, match)] sorted by name"""
    files = []
    for path in sorted(Path(root).glob(marker)):
        m = pattern.fullmatch(path.name)
        if m is None:
            raise ConversionError(f'{path}: unexpected file name; expected {expected}')
        files.append((path, m))
    return files


def refuse_outside(path, codes, lo, hi, what, where=lambda i: f'line {i + 1}'):
    """Refuse the first of the integer `codes` (N,) outside lo..hi, naming its place: where(i),
    e.g. the file line of row i."""
    bad = np.flatnonzero((codes < lo) | (codes > hi))
    if len(bad):
        i = int(bad[0])
        raise ConversionError(f'{path}: {where(i)}: {what} {codes[i]} does not exist (expected {lo}..{hi})')


# ---------------------------------------------------------------------------- timestamped streams

def line_ranges(path, chunk_bytes, skip_lines=1):
    """(start, end) byte offsets that cut a text file, after its first skip_lines lines, into
    pieces of about chunk_bytes that each end at a line end (the last at the file's end)."""
    size = path.stat().st_size
    with open(path, 'rb') as f:
        for _ in range(skip_lines):
            f.readline()
        cuts = [f.tell()]
        while cuts[-1] + chunk_bytes < size:
            f.seek(cuts[-1] + chunk_bytes)
            f.readline()                                          # on to the next line end
            cuts.append(f.tell())
    cuts.append(size)
    return [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]


def read_range(path, lo, hi):
    """The bytes lo..hi of a file, as a binary stream."""
    with open(path, 'rb') as f:
        f.seek(lo)
        return io.BytesIO(f.read(hi - lo))


def ordered_map(fn, items, threads=2):
    """fn over items in `threads` threads, yielding the results in the items' order, with at most
    threads + 1 of them computed ahead (memory stays bounded). For work that releases the GIL
    (pandas' C parser, numpy and scipy on large arrays); the results are the same as a plain map."""
    with ThreadPoolExecutor(threads) as pool:
        ahead = []
        for x in items:
            ahead.append(pool.submit(fn, x))
            if len(ahead) > threads:
                yield ahead.pop(0).result()
        while ahead:
            yield ahead.pop(0).result()


def sort_dedupe(t, *arrays):
    """Sort a stream by time (stable) and drop repeated stamps, keeping the first.

    t: (T,) int64 or float; arrays: (T, ...) each. Returns (t, *arrays, n_dropped).
    """
    if len(t) < 2 or (np.diff(t) > 0).all():                     # the common case: already clean
        return (t, *arrays, 0)
    order = np.argsort(t, kind='stable')
    t = t[order]
    keep = np.r_[True, np.diff(t) > 0]
    pick = order[keep]                                            # one gather per array
    return (t[keep], *(a[pick] for a in arrays), int(len(t) - keep.sum()))


def median_rate(t_s):
    """Sampling rate (Hz) from the median step of increasing timestamps in seconds (nan if < 2)."""
    return 1.0 / float(np.median(np.diff(t_s))) if len(t_s) > 1 else float('nan')


def align(ta, xa, tb, xb, rate_hz, max_gap_s=1.0):
    """Put stream a on a uniform grid and interpolate stream b onto the same grid.

    ta: (Ta,), tb: (Tb,) seconds, strictly increasing; xa: (Ta, Ca), xb: (Tb, Cb).
    Returns (pieces, n_dropped): pieces is a list of (T_i, Ca + Cb) float32 arrays covering the
    times where both streams are gap-free (no step > max_gap_s), n_dropped the grid samples of a
    that had no b around them.
    """
    pieces, dropped = [], 0
    if len(tb) < 2:
        return pieces, sum(len(v) for _, v in uniform_from_timestamps(ta, xa, rate_hz, max_gap_s))
    for lo, va in uniform_from_timestamps(ta, xa, rate_hz, max_gap_s):
        grid = ta[lo] + np.arange(len(va)) * (1.0 / rate_hz)
        j = np.clip(np.searchsorted(tb, grid), 1, len(tb) - 1)      # tb[j-1] < grid <= tb[j]
        ok = (grid >= tb[0]) & (grid <= tb[-1]) & (tb[j] - tb[j - 1] <= max_gap_s)
        vb = np.stack([np.interp(grid, tb, xb[:, c]) for c in range(xb.shape[1])], 1)
        for start, length, good in zip(*runs(ok)):
            if good and length >= 2:
                sl = slice(start, start + length)
                pieces.append(np.concatenate([va[sl], vb[sl]], 1).astype(np.float32))
            else:
                dropped += int(length)
    return pieces, dropped
