"""MHEALTH converter on tiny fixtures: 24 tab-separated columns, no header, label 0 = null.
The CLI, determinism, the earlier copy kept, wrong folders and the zip: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import mhealth
from datasets.format import ConversionError, PreparedDataset
from fixtures_raw_a import (MHEALTH_FIRST_ROW, MHEALTH_GYRO_DEG, MHEALTH_SCRIPT, break_mhealth, folder_bytes, line,
                            replace_line, write_mhealth)

ROWS = {s: sum(n for _, n in script) for s, script in MHEALTH_SCRIPT.items()}


def convert(tmp_path, **kw):
    write_mhealth(tmp_path / 'raw')
    meta = mhealth.convert(tmp_path / 'raw', tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'mhealth')


def test_fixture_starts_with_the_real_first_row(tmp_path):
    first = line(write_mhealth(tmp_path) / 'mHealth_subject1.log', 1)
    assert first == MHEALTH_FIRST_ROW and first.count('\t') == 23


def test_shapes_channels_subjects(tmp_path):
    meta, ds = convert(tmp_path)
    assert ds.signals.shape == (sum(ROWS.values()), 21)       # 50 Hz in and out: every row kept
    names = [c.name for c in ds.layouts[0]]
    assert names[:3] == ['chest_acc_x', 'chest_acc_y', 'chest_acc_z']
    assert names[3:12:3] == ['left_ankle_acc_x', 'left_ankle_gyro_x', 'left_ankle_mag_x']
    assert names[12:21:3] == ['right_lower_arm_acc_x', 'right_lower_arm_gyro_x', 'right_lower_arm_mag_x']
    assert {c.unit for c in ds.layouts[0]} == {'m/s^2', 'rad/s', 'a.u.'}
    assert ds.subjects == ['1', '2', '10']                    # numeric file order, ids from file names
    assert meta['repairs'] == {}


def test_first_line_is_data_and_units(tmp_path):
    _, ds = convert(tmp_path)
    x = np.asarray(ds.signals)
    np.testing.assert_allclose(x[0, :3], [-9.8184, 0.009971, 0.29563], rtol=1e-5)    # the real first row
    np.testing.assert_allclose(x[0, 6:9], np.deg2rad([0.1039, -0.84053, -0.68762]), rtol=1e-5)
    assert np.linalg.norm(x[:, :3], axis=1) == pytest.approx(9.823, abs=0.01)   # chest acc, m/s^2
    np.testing.assert_allclose(x[1:, 6], np.pi / 2 * MHEALTH_GYRO_DEG / 90)      # 90 deg/s -> pi/2 rad/s
    np.testing.assert_allclose(x[1:, 7], -np.pi / 4)
    assert x[5, 0] == pytest.approx(-9.8184, rel=1e-5) and x[5, 3] == pytest.approx(2.1849, rel=1e-4)


def test_labels_and_null(tmp_path):
    _, ds = convert(tmp_path)
    got = [(ds.labels[l] if l >= 0 else None, n, ds.subjects[s]) for _, n, l, s, _ in ds.segments]
    assert got == [(None, 40, '1'), ('standing', 100, '1'), (None, 20, '1'), ('climbing stairs', 90, '1'),
                   (None, 10, '2'), ('sitting', 40, '2'),
                   (None, 10, '10'), ('jump front and back', 60, '10'), ('lying', 50, '10')]
    assert ds.labels.index('standing') == 0 and ds.labels.index('jump front and back') == 11
    assert ds.segments[3, 2] == 4                             # code 5 -> index 4


def test_subset_and_rate(tmp_path):
    root = write_mhealth(tmp_path / 'raw')
    meta = mhealth.convert(root, tmp_path / 'a', rate_hz=25, subjects=[10])
    assert meta['subjects'] == ['10'] and meta['n_samples'] == ROWS[10] // 2
    mhealth.convert(root, tmp_path / 'b', rate_hz=25, subjects=['10'])       # ids as text select the same
    assert folder_bytes(tmp_path / 'a' / 'mhealth') == folder_bytes(tmp_path / 'b' / 'mhealth')


def _short_line(root):
    path = root / 'mHealth_subject1.log'
    replace_line(path, 7, '\t'.join(line(path, 7).split('\t')[:23]))


def _unknown_label(root):
    path = root / 'mHealth_subject2.log'
    replace_line(path, 12, line(path, 12).rsplit('\t', 1)[0] + '\t13')


def _extra_column(root):
    path = root / 'mHealth_subject2.log'
    path.write_text(''.join(l + '\t0\n' for l in path.read_text().splitlines()))


def _space_separated(root):
    path = root / 'mHealth_subject1.log'
    path.write_text(path.read_text().replace('\t', ' '))


@pytest.mark.parametrize('breaks, expected', [
    (_short_line, ['mHealth_subject1.log', 'line 7', 'expected 24 values, found 23']),
    (break_mhealth, ['mHealth_subject10.log', 'line 3']),
    (_unknown_label, ['mHealth_subject2.log', 'line 12', 'label 13', '0..12']),
    (_extra_column, ['mHealth_subject2.log', 'expected 24 columns, found 25']),
    (_space_separated, ['mHealth_subject1.log', 'line 1: expected 24 values, found 1']),
])
def test_bad_input_names_file_and_line(tmp_path, breaks, expected):
    root = write_mhealth(tmp_path / 'raw')
    breaks(root)
    with pytest.raises(ConversionError) as err:
        mhealth.convert(tmp_path / 'raw', tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)
