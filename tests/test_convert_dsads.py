"""DSADS converter on tiny fixtures: data/aNN/pM/sKK.txt, exactly 125 x 45 comma-separated.
The CLI, determinism, the earlier copy kept and wrong folders: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import dsads
from datasets.format import ConversionError, PreparedDataset
from fixtures_dsads import FILES, segment, write_file
from fixtures_dsads import write_dsads as write_raw


def test_convert_shapes_labels_units(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = dsads.convert(tmp_path / 'raw', tmp_path / 'out', rate_hz=25)   # native rate: exact values
    ds = PreparedDataset(tmp_path / 'out' / 'dsads')
    assert ds.signals.shape == (4 * FILES * 125, 45)
    names = [c.name for c in ds.layouts[0]]
    assert names[:3] == ['torso_acc_x', 'torso_acc_y', 'torso_acc_z']
    assert names[9:12] == ['right_arm_acc_x', 'right_arm_acc_y', 'right_arm_acc_z']
    assert names[-1] == 'left_leg_mag_z'
    assert {c.unit for c in ds.layouts[0]} == {'m/s^2', 'rad/s', 'a.u.'}
    seg = ds.segments                                  # one segment per (activity, subject)
    assert seg[:, 1].tolist() == [FILES * 125] * 4
    assert [ds.labels[i] for i in seg[:, 2]] == ['sitting'] * 2 + ['running on a treadmill'] * 2
    assert [ds.subjects[i] for i in seg[:, 3]] == ['1', '2', '1', '2']
    first = ds.signals[:FILES * 125]                   # a01/p1: s01 then s02, in order
    np.testing.assert_allclose(first[:, 0], np.r_[1 + np.arange(125) / 1000, 2 + np.arange(125) / 1000],
                               rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(first[:, :3], axis=1).mean(), 9.9, atol=0.3)
    assert meta['repairs'] == {} and len(meta['labels']) == 19


def test_default_rate_is_50_hz(tmp_path):
    write_raw(tmp_path / 'raw', activities=(5,), subjects=(8,))
    meta = dsads.convert(tmp_path / 'raw' / 'data', tmp_path / 'out')     # --raw at data/ itself
    assert meta['rate_hz'] == 50 and meta['n_samples'] == FILES * 250
    assert meta['subjects'] == ['8'] and meta['labels'][4]['segments'] == 1


def test_subject_subset(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = dsads.convert(tmp_path / 'raw', tmp_path / 'all')                 # 25 Hz -> 50 Hz: twice the rows
    assert meta['n_samples'] == 4 * FILES * 250 == 2000 and meta['n_channels'] == 45
    meta = dsads.convert(tmp_path / 'raw', tmp_path / 'out', subjects=[2])
    assert meta['subjects'] == ['2'] and meta['n_samples'] == 2 * FILES * 250


# ---------------------------------------------------------------- bad input

def test_missing_segment_file(tmp_path):
    data = write_raw(tmp_path / 'raw')
    (data / 'a12' / 'p2' / 's01.txt').unlink()
    with pytest.raises(ConversionError, match=r'a12/p2/s01.txt: file not found'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_truncated_line(tmp_path):
    data = write_raw(tmp_path / 'raw')
    path = data / 'a01' / 'p2' / 's02.txt'
    lines = path.read_text().splitlines()
    lines[6] = lines[6].rsplit(',', 1)[0]               # line 7 loses its last value
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConversionError, match=r'a01/p2/s02.txt: line 7: expected 45 values, found 44'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_malformed_value(tmp_path):
    data = write_raw(tmp_path / 'raw')
    path = data / 'a12' / 'p1' / 's01.txt'
    lines = path.read_text().splitlines()
    lines[99] = lines[99].replace(',', ',abc,', 1).rsplit(',', 1)[0]
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConversionError, match=r'a12/p1/s01.txt: line 100: expected numbers'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_infinite_value(tmp_path):
    data = write_raw(tmp_path / 'raw')
    x = segment(1, 2, 1)
    x[41, 7] = np.inf
    write_file(data / 'a01' / 'p2' / 's01.txt', x)
    with pytest.raises(ConversionError, match=r'a01/p2/s01.txt: line 42: expected finite numbers'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_wrong_row_count(tmp_path):
    data = write_raw(tmp_path / 'raw')
    write_file(data / 'a01' / 'p1' / 's02.txt', segment(1, 1, 2)[:124])
    with pytest.raises(ConversionError, match=r'a01/p1/s02.txt: expected 125 rows of 45 values, found 124'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_wrong_column_count(tmp_path):
    data = write_raw(tmp_path / 'raw')
    write_file(data / 'a01' / 'p1' / 's01.txt', np.ones((125, 46)))
    with pytest.raises(ConversionError, match=r'a01/p1/s01.txt: expected 45 columns, found 46'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unknown_activity(tmp_path):
    data = write_raw(tmp_path / 'raw')
    write_file(data / 'a20' / 'p1' / 's01.txt', segment(20, 1, 1))
    with pytest.raises(ConversionError, match=r'a20: activity a20 does not exist \(expected a01..a19\)'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unexpected_file(tmp_path):
    data = write_raw(tmp_path / 'raw')
    (data / 'a01' / 'p1' / 'notes.txt').write_text('hello\n')
    with pytest.raises(ConversionError, match=r'notes.txt: unexpected file; expected segment files'):
        dsads.convert(tmp_path / 'raw', tmp_path / 'out')
