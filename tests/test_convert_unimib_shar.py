"""UniMiB SHAR converter on tiny .mat fixtures with the real variable names and shapes.
The CLI, determinism, the earlier copy kept and wrong folders: test_convert_contract.py."""
import numpy as np
import pytest
import scipy.io

from datasets import unimib_shar
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_unimib_shar import ACTIVITIES, SUBJECTS, windows
from fixtures_unimib_shar import write_unimib_shar as write_raw


def test_convert_shapes_labels_units(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = unimib_shar.convert(tmp_path, tmp_path / 'out')     # --raw may be a parent folder
    ds = PreparedDataset(tmp_path / 'out' / 'unimib_shar')
    assert ds.signals.shape == (6 * 151, 3) and ds.rate_hz == 50
    assert [c.unit for c in ds.layouts[0]] == ['m/s^2'] * 3
    assert all(c.gravity and c.placement == 'trouser pocket' for c in ds.layouts[0])
    assert len(ds.labels) == 17 and ds.labels[9] == 'falling forward'
    assert all(l['description'] for l in meta['labels'])
    seg = ds.segments
    assert seg[:, 1].tolist() == [151] * 6                              # one segment per window
    assert seg[:, 2].tolist() == [a - 1 for a in ACTIVITIES]
    assert [ds.subjects[s] for s in seg[:, 3]] == [str(s) for s in SUBJECTS]
    np.testing.assert_allclose(ds.signals[:151], windows(6)[0], atol=1e-5)   # x, y, z blocks
    assert meta['repairs'] == {}


def test_values_in_g_are_converted_and_counted(tmp_path):
    data = windows(6).transpose(0, 2, 1).reshape(6, 453) / G
    write_raw(tmp_path / 'raw', data=data)
    meta = unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')
    ds = PreparedDataset(tmp_path / 'out' / 'unimib_shar')
    np.testing.assert_allclose(ds.signals[151:302], windows(6)[1], atol=1e-4)
    assert meta['repairs'] == {'windows converted from g to m/s^2': 6}
    assert 'g, converted' in meta['source']['notes'][0]


def test_implausible_units_are_refused(tmp_path):
    write_raw(tmp_path / 'raw', data=windows(6).transpose(0, 2, 1).reshape(6, 453) * 100)
    with pytest.raises(ConversionError, match='acc_data.mat.*neither m/s\\^2'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_subject_subset_and_nan_repair(tmp_path):
    data = windows(6).transpose(0, 2, 1).reshape(6, 453)
    data[4, 10:13] = np.nan                        # three x samples of a subject-30 window
    write_raw(tmp_path / 'raw', data=data)
    meta = unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out', subjects=[30])
    assert meta['subjects'] == ['30'] and meta['n_samples'] == 2 * 151
    assert meta['repairs'] == {'NaN values interpolated': 3}


def test_acc_names_are_optional_but_checked(tmp_path):
    folder = write_raw(tmp_path / 'raw', names=False)
    unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')
    cells = np.empty((2, 17), dtype=object)
    cells[0], cells[1] = 'x', list(reversed(unimib_shar.CLASS_NAMES))
    scipy.io.savemat(folder / 'acc_names.mat', {'acc_names': cells})
    with pytest.raises(ConversionError, match='acc_names.mat: its class names do not match'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out2')


def test_resampled_rate(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out', rate_hz=25)
    assert meta['rate_hz'] == 25 and meta['n_samples'] == 6 * 76


# ---------------------------------------------------------------- bad input

def test_missing_labels_file(tmp_path):
    folder = write_raw(tmp_path / 'raw')
    (folder / 'acc_labels.mat').unlink()
    with pytest.raises(ConversionError, match='acc_labels.mat: file not found'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_truncated_mat_file(tmp_path):
    folder = write_raw(tmp_path / 'raw')
    raw = (folder / 'acc_data.mat').read_bytes()
    (folder / 'acc_data.mat').write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ConversionError, match='acc_data.mat'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_wrong_column_count(tmp_path):
    write_raw(tmp_path / 'raw', data=np.ones((6, 450)))
    with pytest.raises(ConversionError, match='acc_data.mat: acc_data must be an N x 453'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unknown_label_names_row(tmp_path):
    labels = np.array([ACTIVITIES, SUBJECTS, [1] * 6]).T
    labels[3, 0] = 18
    write_raw(tmp_path / 'raw', labels=labels)
    with pytest.raises(ConversionError, match=r'acc_labels.mat: row 4: activity code 18 .*1\.\.17'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_label_rows_must_match_windows(tmp_path):
    write_raw(tmp_path / 'raw', labels=np.ones((5, 3)))
    with pytest.raises(ConversionError, match='acc_labels.mat: acc_labels must be a 6 x 3'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')


def test_activity_code_0_is_refused(tmp_path):
    folder = write_raw(tmp_path / 'raw')
    scipy.io.savemat(folder / 'acc_labels.mat', {'acc_labels': np.zeros((6, 3))})
    with pytest.raises(ConversionError, match=r'acc_labels.mat: row 1: activity code 0 .*1\.\.17'):
        unimib_shar.convert(tmp_path / 'raw', tmp_path / 'out')
