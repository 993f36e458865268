"""UCI HAR converter on tiny fixtures: 128-value fixed-width rows, nested zip, train + test.
The CLI, determinism, the earlier copy kept, wrong folders and the zip: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import uci_har
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_raw_a import UCI_ROWS, break_uci_har, line, replace_line, uci_sci, write_uci_har

N_WINDOWS = sum(len(r) for r in UCI_ROWS.values())


def convert(tmp_path, **kw):
    write_uci_har(tmp_path / 'raw')
    uci_har.convert(tmp_path / 'raw', tmp_path / 'out', **kw)
    return PreparedDataset(tmp_path / 'out' / 'uci_har')


def test_fixture_keeps_the_original_formatting(tmp_path):
    root = write_uci_har(tmp_path)
    first = line(root / 'train' / 'Inertial Signals' / 'total_acc_x_train.txt', 1)
    assert first.startswith('  1.0128170e+000  ') and len(first) == 16 * 128
    assert uci_sci(-0.25) == ' -2.5000000e-001'


def test_shapes_labels_subjects_units(tmp_path):
    ds = convert(tmp_path)
    assert ds.signals.shape == (N_WINDOWS * 128, 6)
    assert [c.name for c in ds.layouts[0]] == ['waist_acc_x', 'waist_acc_y', 'waist_acc_z',
                                              'waist_gyro_x', 'waist_gyro_y', 'waist_gyro_z']
    assert ds.layouts[0][0].gravity is True and ds.layouts[0][3].unit == 'rad/s'
    seg = ds.segments                                   # one segment per window, train then test
    assert seg[:, 1].tolist() == [128] * N_WINDOWS
    assert seg[:, 0].tolist() == list(range(0, N_WINDOWS * 128, 128))
    codes = [c for rows in UCI_ROWS.values() for _, c in rows]
    assert seg[:, 2].tolist() == [c - 1 for c in codes]
    assert ds.labels[seg[0, 2]] == 'standing' and seg[0, 2] == 4          # code 5
    assert ds.labels[seg[2, 2]] == 'lying' and seg[2, 2] == 5             # code 6 LAYING
    assert [ds.subjects[i] for i in seg[:, 3]] == ['1', '1', '3', '3', '2', '2']
    assert ds.subjects == ['1', '3', '2']
    still = np.asarray(ds.signals[:128])               # window 0: standing, total_acc ~ (1, -.05, .1) g
    assert still[0, 0] == pytest.approx(1.0128170 * G, rel=1e-6)        # g -> m/s^2
    assert np.linalg.norm(still[:, :3], axis=1).mean() == pytest.approx(9.87, abs=0.05)
    gyro_x = np.asarray(ds.signals[::128, 3])          # body_gyro x encodes the window: rad/s kept
    np.testing.assert_allclose(gyro_x, 0.5 + 0.1 * np.arange(N_WINDOWS), rtol=1e-6)
    assert ds.meta['repairs'] == {} and ds.meta['source']['url'].endswith('C54S4K')


def test_inner_folder_and_subject_subset(tmp_path):
    root = write_uci_har(tmp_path / 'raw')
    meta = uci_har.convert(root, tmp_path / 'out', subjects=[3, 2])
    assert meta['subjects'] == ['3', '2'] and meta['n_samples'] == 4 * 128


def test_other_rate(tmp_path):
    write_uci_har(tmp_path / 'raw')
    meta = uci_har.convert(tmp_path / 'raw', tmp_path / 'a', rate_hz=25)
    assert meta['n_samples'] == N_WINDOWS * 64 and meta['rate_hz'] == 25


def _truncate_row(root):
    path = root / 'train' / 'Inertial Signals' / 'total_acc_x_train.txt'
    replace_line(path, 3, line(path, 3)[:16 * 100])


def _unknown_label(root):
    replace_line(root / 'train' / 'y_train.txt', 2, '7')


def _wide_rows(root):
    path = root / 'train' / 'Inertial Signals' / 'body_gyro_x_train.txt'
    path.write_text(''.join(l + uci_sci(0.0) * 2 + '\n' for l in path.read_text().splitlines()))


def _missing_row(root):
    path = root / 'test' / 'Inertial Signals' / 'total_acc_z_test.txt'
    path.write_text(path.read_text().splitlines(keepends=True)[0])


def _short_body_acc(root):
    path = root / 'train' / 'Inertial Signals' / 'body_acc_y_train.txt'
    path.write_text(''.join(path.read_text().splitlines(keepends=True)[:3]))


def _missing_file(root):
    (root / 'test' / 'Inertial Signals' / 'body_gyro_y_test.txt').unlink()


def _bad_subject(root):
    replace_line(root / 'test' / 'subject_test.txt', 1, '31')


@pytest.mark.parametrize('breaks, expected', [
    (_truncate_row, ['total_acc_x_train.txt', 'line 3', 'expected 128 values, found 100']),
    (break_uci_har, ['body_gyro_z_test.txt', 'line 2']),
    (_unknown_label, ['y_train.txt', 'line 2', 'activity code 7', '1..6']),
    (_wide_rows, ['body_gyro_x_train.txt', 'expected 128 columns, found 130']),
    (_missing_row, ['total_acc_z_test.txt', '1 rows', 'y_test.txt has 2']),
    (_short_body_acc, ['body_acc_y_train.txt', '3 rows', 'y_train.txt has 4']),
    (_missing_file, ['body_gyro_y_test.txt', 'file not found']),
    (_bad_subject, ['subject_test.txt', 'line 1', 'subject id 31']),
])
def test_bad_input_names_file_and_line(tmp_path, breaks, expected):
    root = write_uci_har(tmp_path / 'raw')
    breaks(root)
    with pytest.raises(ConversionError) as err:
        uci_har.convert(tmp_path / 'raw', tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)
    assert not (tmp_path / 'out').exists() or list((tmp_path / 'out').iterdir()) == []   # no temporary folder


def test_error_inside_zip_names_the_member(tmp_path):
    root = write_uci_har(tmp_path / 'build')
    replace_line(root / 'train' / 'y_train.txt', 4, '0')
    from fixtures_raw_a import nested_zip
    zipped = nested_zip(tmp_path / 'dl.zip', 'UCI HAR Dataset.zip', root)
    with pytest.raises(ConversionError) as err:
        uci_har.convert(zipped, tmp_path / 'out')
    assert f'{zipped}!' in str(err.value) and 'y_train.txt: line 4' in str(err.value)
    assert list((tmp_path / 'out').iterdir()) == []            # temporary extraction removed


def test_not_a_zip(tmp_path):
    (tmp_path / 'x.zip').write_text('not a zip')
    with pytest.raises(ConversionError, match='folder or a .zip'):
        uci_har.convert(tmp_path / 'x.zip', tmp_path / 'out')
