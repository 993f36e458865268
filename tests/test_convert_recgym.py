"""RecGym converter on a tiny RecGym.csv: header row, 20 Hz, values min-max normalised to [0, 1].
The CLI, determinism, the earlier copy kept and wrong folders: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import recgym
from datasets.format import ConversionError, PreparedDataset
from fixtures_recgym import OLD_HEADER, rows
from fixtures_recgym import write_recgym as write_raw


def test_convert_shapes_labels_units(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = recgym.convert(tmp_path / 'raw', tmp_path / 'out', rate_hz=20)   # native rate: exact values
    ds = PreparedDataset(tmp_path / 'out' / 'recgym')
    assert ds.signals.shape == (120, 6)                          # C_1 dropped
    assert [c.unit for c in ds.layouts[0]] == ['normalised [0,1]'] * 6
    assert [l[0].placement for l in ds.layouts] == ['wrist', 'trouser pocket', 'calf']
    assert meta['subjects'] == ['1', '2']
    seg = ds.segments                                            # sorted by subject, position, session
    assert [(ds.labels[l] if l >= 0 else None, n, lay) for l, n, lay in seg[:, [2, 1, 4]]] == [
        (None, 20, 0), ('arm curl', 20, 0), ('squat', 40, 1), ('stair climber', 30, 2), ('walking', 10, 2)]
    assert [ds.subjects[s] for s in seg[:, 3]] == ['1', '1', '1', '2', '2']
    np.testing.assert_allclose(ds.signals[:40, 0], np.arange(40) / 100, atol=1e-6)   # file order kept
    assert ds.signals.min() >= 0 and ds.signals.max() <= 1
    assert len(ds.labels) == 11 and meta['repairs'] == {}


def test_default_rate_and_old_column_names(tmp_path):
    write_raw(tmp_path / 'raw', header=OLD_HEADER)
    meta = recgym.convert(tmp_path / 'raw', tmp_path / 'out')
    assert meta['rate_hz'] == 50 and meta['n_samples'] == 300           # 120 rows at 20 Hz
    assert '0 values outside [0, 1]' in meta['source']['notes'][0]


def test_nan_values_are_interpolated(tmp_path):
    lines = rows()
    fields = lines[5].split(',')
    fields[3] = ''                                                     # empty A_x on line 7
    lines[5] = ','.join(fields)
    write_raw(tmp_path / 'raw', lines)
    meta = recgym.convert(tmp_path / 'raw', tmp_path / 'out', rate_hz=20)
    assert meta['repairs'] == {'NaN values interpolated': 1}


def test_subject_subset(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = recgym.convert(tmp_path / 'raw', tmp_path / 'out', subjects=[2])
    assert meta['subjects'] == ['2'] and meta['n_samples'] == 100


# ---------------------------------------------------------------- bad input

def test_wrong_header(tmp_path):
    write_raw(tmp_path / 'raw', header='Subject,Position,Session,A_x,A_y,A_z,G_x,G_y,C_1,Workout')
    with pytest.raises(ConversionError, match='RecGym.csv: line 1: expected the header Subject,Position'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_malformed_value(tmp_path):
    lines = rows()
    lines[10] = lines[10].replace('0.', 'x.', 1)
    write_raw(tmp_path / 'raw', lines)
    with pytest.raises(ConversionError, match=r'RecGym.csv: line 12: expected numbers'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_truncated_line(tmp_path):
    lines = rows()
    lines[30] = lines[30][:25]
    write_raw(tmp_path / 'raw', lines)
    with pytest.raises(ConversionError, match=r'RecGym.csv: line 32: Workout "" is not one of'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_extra_column_on_a_line(tmp_path):
    lines = rows()
    lines[3] += ',0.5'
    write_raw(tmp_path / 'raw', lines)
    with pytest.raises(ConversionError, match=r'RecGym.csv: line 5: expected 11 values, found 12'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unknown_workout(tmp_path):
    lines = rows()
    lines[50] = lines[50].rsplit(',', 1)[0] + ',Yoga'
    write_raw(tmp_path / 'raw', lines)
    with pytest.raises(ConversionError, match=r'line 52: Workout "Yoga" is not one of adductor, .*null'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unknown_position(tmp_path):
    lines = rows()
    lines[60] = lines[60].replace('wrist', 'ankle')
    write_raw(tmp_path / 'raw', lines)
    with pytest.raises(ConversionError, match=r'line 62: Position "ankle" is not one of wrist, pocket, leg'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    lines = rows()
    lines[50] = lines[50].rsplit(',', 1)[0] + ',Yoga'
    write_raw(tmp_path / 'raw', lines[:2] + [''] + lines[2:])
    with pytest.raises(ConversionError, match=r'line 53: Workout "Yoga"'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')


def test_non_integer_session(tmp_path):
    lines = rows()
    lines[0] = lines[0].replace('leg,2,', 'leg,2.5,')
    write_raw(tmp_path / 'raw', lines)
    with pytest.raises(ConversionError, match=r'RecGym.csv: line 2: Session should be an integer, found 2.5'):
        recgym.convert(tmp_path / 'raw', tmp_path / 'out')
