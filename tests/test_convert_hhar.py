"""HHAR converter on tiny fixtures: 4 CSVs with header, `null` labels, devices at 50-200 Hz.
The CLI, determinism, the earlier copy kept, wrong folders and the zip: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import hhar
from datasets.format import ConversionError, PreparedDataset
from fixtures_raw_a import HHAR_GYRO, break_hhar, line, replace_line, write_hhar

# (label text or None, subject, layout) of every segment, in order: phones then watches
EXPECTED = [('standing', 'a', 0), (None, 'a', 0), ('walking', 'a', 0),      # nexus4_1, 200 Hz
            ('cycling', 'b', 0), ('cycling', 'b', 0),                       # s3mini_1, split at a gap
            ('walking upstairs', 'a', 1), (None, 'a', 1), ('standing', 'a', 1),   # gear_1, 100 Hz
            ('walking downstairs', 'b', 1)]                                 # lgwatch_1, 200 Hz
SECONDS = [1.5, 0.5, 1.5, 1.0, 1.0, 1.0, 0.5, 1.0, 1.5]


def described(ds):
    return [(ds.labels[l] if l >= 0 else None, ds.subjects[s], k) for _, _, l, s, k in ds.segments]


def convert(tmp_path, **kw):
    write_hhar(tmp_path / 'raw')
    meta = hhar.convert(tmp_path / 'raw', tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'hhar')


def test_segments_labels_layouts_and_repairs(tmp_path):
    meta, ds = convert(tmp_path)
    assert ds.meta['n_channels'] == 6 and len(ds.layouts) == 2
    assert {(c.placement, c.device) for c in ds.layouts[0]} == {('waist', 'smartphone')}
    assert {(c.placement, c.device) for c in ds.layouts[1]} == {('arm', 'smartwatch')}
    assert [c.sensor for c in ds.layouts[1]] == ['acc'] * 3 + ['gyro'] * 3
    assert described(ds) == EXPECTED
    # ~duration x 50 Hz after resampling from each device's grid rate (edges lose a sample or two)
    np.testing.assert_allclose(ds.segments[:, 1], np.array(SECONDS) * 50, atol=3)
    assert ds.labels.index('standing') == 0 and ds.labels.index('cycling') == 5    # stand, bike
    assert ds.subjects == ['a', 'b']
    assert meta['repairs']['device streams without gyroscope dropped'] == 1       # samsungold_1
    assert meta['repairs']['duplicate timestamps dropped'] == 1
    assert 0 < meta['repairs']['grid samples without both sensors dropped'] < 30


def test_units_of_a_still_segment(tmp_path):
    _, ds = convert(tmp_path)
    start, length = ds.segments[0, :2]                       # nexus4_1 standing, 200 Hz -> 50 Hz
    still = np.asarray(ds.signals[start + 5:start + length - 5])
    assert np.linalg.norm(still[:, :3], axis=1) == pytest.approx(9.797, abs=0.01)   # m/s^2, as is
    np.testing.assert_allclose(still[:, 3:], np.tile(HHAR_GYRO, (len(still), 1)), atol=1e-4)   # rad/s


def test_align_interpolates_the_second_stream_onto_the_grid():
    ta = np.r_[np.arange(0, 1, 0.005), np.arange(2.5, 3, 0.005)]          # 200 Hz with a 1.5 s gap
    tb = np.arange(0.0021, 3, 0.0101)                                      # ~99 Hz, no gap
    xa, xb = np.c_[ta, -ta], np.c_[2 * tb + 1]
    pieces, dropped = hhar.align(ta, xa, tb, xb, 200.0)
    # the grid stops before each piece's last stamp; its first point lies before tb[0]
    assert [len(p) for p in pieces] == [198, 99] and dropped == 1
    for p in pieces:
        np.testing.assert_allclose(p[:, 2], 2 * p[:, 0] + 1, atol=1e-5)   # linear: interpolation exact
    pieces, dropped = hhar.align(ta, xa, tb[tb < 0.5], xb[tb < 0.5], 200.0)
    assert len(pieces) == 1 and dropped == 199 + 99 - len(pieces[0])


def test_subject_subset(tmp_path):
    meta, ds = convert(tmp_path, subjects=['b'])
    assert meta['subjects'] == ['b']
    assert [d[0] for d in described(ds)] == ['cycling', 'cycling', 'walking downstairs']


def _extra_field(root):
    path = root / 'Phones_gyroscope.csv'
    replace_line(path, 5, line(path, 5) + ',extra')


def _unknown_gt(root):
    path = root / 'Phones_accelerometer.csv'
    replace_line(path, 7, line(path, 7).rsplit(',', 1)[0] + ',jump')


def _bad_number(root):
    path = root / 'Watch_gyroscope.csv'
    fields = line(path, 12).split(',')
    replace_line(path, 12, ','.join(fields[:3] + ['1.2.3'] + fields[4:]))


def _wrong_header(root):
    path = root / 'Phones_accelerometer.csv'
    replace_line(path, 1, 'Index,Arrival_Time,Creation_Time,x,y,z,User,Model,gt')


def _missing_file(root):
    (root / 'Watch_gyroscope.csv').unlink()


@pytest.mark.parametrize('breaks, expected', [
    (_extra_field, ['Phones_gyroscope.csv', 'line 5', 'expected 10 comma-separated fields, found 11']),
    (break_hhar, ['Watch_accelerometer.csv', 'line 9', 'found 6']),
    (_unknown_gt, ['Phones_accelerometer.csv', 'line 7', '"jump"', 'stairsup']),
    (_bad_number, ['Watch_gyroscope.csv', 'line 12', 'expected numbers']),
    (_wrong_header, ['Phones_accelerometer.csv', 'line 1', 'expected the header']),
    (_missing_file, ['Watch_gyroscope.csv', 'file not found']),
])
def test_bad_input_names_file_and_line(tmp_path, breaks, expected):
    root = write_hhar(tmp_path / 'raw')
    breaks(root)
    with pytest.raises(ConversionError) as err:
        hhar.convert(tmp_path / 'raw', tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_implausible_timestamps_are_an_error(tmp_path):
    root = write_hhar(tmp_path / 'raw')
    path = root / 'Watch_gyroscope.csv'
    rows = path.read_text().splitlines()
    for i in range(1, len(rows)):                 # Creation_Time in ms instead of ns
        f = rows[i].split(',')
        f[2] = str(int(f[2]) // 1_000_000)
        rows[i] = ','.join(f)
    path.write_text('\n'.join(rows) + '\n')
    with pytest.raises(ConversionError, match=r'Watch_accelerometer.csv: user a, device gear_1: timestamps give'):
        hhar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_pieces_and_threads_do_not_change_what_is_written(tmp_path, monkeypatch):
    """The CSVs are parsed in pieces cut at line ends and the devices aligned in threads: pieces
    of a few hundred bytes on one thread or two give the same files as one piece per CSV."""
    write_hhar(tmp_path / 'raw')
    hhar.convert(tmp_path / 'raw', tmp_path / 'whole')
    for threads in (1, 2):
        monkeypatch.setattr(hhar, 'CHUNK_BYTES', 300)
        monkeypatch.setattr(hhar, 'THREADS', threads)
        hhar.convert(tmp_path / 'raw', tmp_path / f'pieces{threads}')
        for name in ('meta.json', 'segments.npy', 'signals.bin'):
            assert (tmp_path / f'pieces{threads}' / 'hhar' / name).read_bytes() == \
                (tmp_path / 'whole' / 'hhar' / name).read_bytes()


def test_line_ranges_cut_at_line_ends_and_cover_the_file(tmp_path):
    from datasets.common import line_ranges, read_range
    path = tmp_path / 'f.csv'
    path.write_bytes(b'header\n' + b''.join(b'%d,%s\n' % (i, b'x' * (i % 7)) for i in range(500)))
    ranges = line_ranges(path, 100)
    assert len(ranges) > 10 and ranges[0][0] == len(b'header\n') and ranges[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    text = b''.join(read_range(path, *r).read() for r in ranges)
    assert text == path.read_bytes()[len(b'header\n'):]
    assert all(read_range(path, *r).read().endswith(b'\n') for r in ranges)


def test_a_bad_line_in_a_later_piece_is_named(tmp_path, monkeypatch):
    root = write_hhar(tmp_path / 'raw')
    monkeypatch.setattr(hhar, 'CHUNK_BYTES', 200)
    _unknown_gt(root)
    with pytest.raises(ConversionError, match='line 7'):
        hhar.convert(tmp_path / 'raw', tmp_path / 'out')
