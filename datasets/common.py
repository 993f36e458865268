"""Helpers shared by the converters: locating raw folders and fast, strict table reading."""
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.format import ConversionError


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
        raise ConversionError(f'{path}: {_describe_bad_line(path, sep, n_cols, e, text)}') from None
    if n_cols is not None and df.shape[1] != n_cols:
        raise ConversionError(f'{path}: expected {n_cols} columns, found {df.shape[1]}')
    return df.to_numpy()


def _describe_bad_line(path, sep, n_cols, err, text=None):
    """Find the first line that is not `n_cols` numbers, for a precise error message."""
    try:
        lines = (text if text is not None else Path(path).read_text(errors='replace')).splitlines()
    except OSError:
        return str(err)
    splitter = (lambda s: s.split()) if sep in (r'\s+', ' ') else (lambda s: s.split(sep))
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = splitter(line.strip())
        if n_cols is not None and len(fields) != n_cols:
            return f'line {i}: expected {n_cols} values, found {len(fields)}: {line[:80]!r}'
        try:
            [float(f) for f in fields]
        except ValueError:
            return f'line {i}: expected numbers, found {line[:80]!r}'
    return str(err)


def first_bad_csv_line(path, n_cols, numeric, what):
    """For an error message: the first data line (after the header) of a comma-separated file
    that is not `n_cols` fields with numbers at the `numeric` positions, as 'line N: ...'."""
    with open(path, errors='replace') as f:
        next(f, None)
        for i, line in enumerate(f, 2):
            if not line.strip():
                continue
            fields = line.rstrip('\r\n').split(',')
            if len(fields) != n_cols:
                return f'line {i}: expected {n_cols} values, found {len(fields)}: {line[:80]!r}'
            try:
                [float(fields[j]) for j in numeric]
            except ValueError:
                return f'line {i}: expected {what}, found {line[:80]!r}'
    return 'unreadable table'


def open_nested_zip(outer, inner_name):
    """Open a zip stored inside another zip (UCI's archives nest them). Returns a ZipFile."""
    with zipfile.ZipFile(outer) as z:
        data = z.read(inner_name)
    return zipfile.ZipFile(io.BytesIO(data))
