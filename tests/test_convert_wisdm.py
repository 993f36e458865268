"""WISDM converter on tiny fixtures: the 2019 phone + watch files and the messy v1.1 file.
The CLI, determinism, the earlier copy kept, wrong folders and the zip: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import wisdm
from datasets.format import ConversionError, PreparedDataset
from fixtures_raw_a import (WISDM_GYRO, WISDM_STILL_ACC, WISDM_V11_EXPECT, break_wisdm_2019, break_wisdm_v11,
                            folder_bytes, line, replace_line, wisdm_2019_zip, wisdm_v11_text, write_wisdm_2019,
                            write_wisdm_v11)


def described(ds):
    return [(ds.labels[l] if l >= 0 else None, ds.subjects[s], k) for _, _, l, s, k in ds.segments]


def convert_2019(tmp_path, **kw):
    write_wisdm_2019(tmp_path / 'raw')
    meta = wisdm.convert(tmp_path / 'raw', tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'wisdm')


# ---------------------------------------------------------------------------- 2019

def test_2019_fixture_format(tmp_path):
    root = write_wisdm_2019(tmp_path)
    first = line(root / 'raw' / 'phone' / 'accel' / 'data_1600_accel_phone.txt', 1)
    assert first.startswith('1600,A,2522076') and first.endswith(';') and first.count(',') == 5


def test_2019_segments_layouts_labels(tmp_path):
    meta, ds = convert_2019(tmp_path)
    assert ds.name == 'wisdm' and ds.meta['n_channels'] == 6 and len(ds.layouts) == 2
    assert {(c.placement, c.device) for c in ds.layouts[0]} == {('trouser pocket', 'smartphone')}
    assert {(c.placement, c.device) for c in ds.layouts[1]} == {('wrist', 'smartwatch')}
    assert described(ds) == [(a, s, k) for k in (0, 1) for s in ('1600', '1601')
                             for a in ('walking', 'sitting')]
    np.testing.assert_allclose(ds.segments[:, 1], [148, 98] * 4, atol=2)   # ~3 s and ~2 s at 50 Hz
    assert meta['n_samples'] == ds.segments[:, 1].sum() == 984
    assert len(ds.labels) == 18 and ds.labels.index('sitting') == 3        # code D
    assert ds.labels[0] == 'walking' and ds.labels[13] == 'playing catch'  # A, O (no N)
    assert ds.subjects == ['1600', '1601']
    assert meta['repairs']['duplicate timestamps dropped'] == 8            # one per file
    assert 0 < meta['repairs']['grid samples without both sensors dropped'] <= 16


def test_2019_units_of_a_still_segment(tmp_path):
    _, ds = convert_2019(tmp_path, rate_hz=20)                            # native rate: exact values
    start, length = ds.segments[1, :2]                                    # 1600 phone sitting
    assert length == pytest.approx(39, abs=1)
    still = np.asarray(ds.signals[start:start + length])
    np.testing.assert_allclose(still[:, :3], np.tile(WISDM_STILL_ACC, (length, 1)), rtol=1e-4)
    assert np.linalg.norm(still[:, :3], axis=1) == pytest.approx(9.76, abs=0.01)   # m/s^2 as is
    np.testing.assert_allclose(still[:, 3:], np.tile(WISDM_GYRO, (length, 1)), rtol=1e-4)  # rad/s


def test_2019_outer_zip_doubled_folder_and_subset(tmp_path):
    zipped = wisdm_2019_zip(tmp_path / 'dl')
    wisdm.convert(zipped, tmp_path / 'out_zip', subjects=[1601])
    write_wisdm_2019(tmp_path / 'raw', doubled=True)
    meta = wisdm.convert(tmp_path / 'raw', tmp_path / 'out_dir', subjects=['1601'])
    assert meta['subjects'] == ['1601'] and len(meta['layouts']) == 2
    assert folder_bytes(tmp_path / 'out_zip' / 'wisdm') == folder_bytes(tmp_path / 'out_dir' / 'wisdm')
    assert [p.name for p in (tmp_path / 'out_zip').iterdir()] == ['wisdm']


def _path(root, subject=1600, sensor='accel', device='phone'):
    return root / 'raw' / device / sensor / f'data_{subject}_{sensor}_{device}.txt'


def _extra_field(root):
    replace_line(_path(root), 4, line(_path(root), 4).replace(';', ',0;'))


def _unknown_code(root):
    path = _path(root, 1600, 'gyro')
    replace_line(path, 10, line(path, 10).replace(',A,', ',N,'))


def _bad_number(root):
    path = _path(root, 1601, 'accel', 'watch')
    replace_line(path, 3, line(path, 3).replace(',', ',x', 3).replace(',x', ',', 2))


def _other_subject(root):
    replace_line(_path(root), 15, line(_path(root), 15).replace('1600,', '1623,', 1))


def _missing_gyro(root):
    _path(root, 1601, 'gyro', 'watch').unlink()


def _bad_key(root):
    (root / 'activity_key.txt').write_text('walking = A\nnothing = N\n')


@pytest.mark.parametrize('breaks, expected', [
    (_extra_field, ['data_1600_accel_phone.txt', 'line 4', 'expected 6 comma-separated fields']),
    (break_wisdm_2019, ['data_1601_gyro_watch.txt', 'line 20', 'found 5']),
    (_unknown_code, ['data_1600_gyro_phone.txt', 'line 10', 'code "N" does not exist']),
    (_bad_number, ['data_1601_accel_watch.txt', 'line 3', 'expected numbers']),
    (_other_subject, ['data_1600_accel_phone.txt', 'line 15', 'subject 1623']),
    (_missing_gyro, ['data_1601_gyro_watch.txt', 'file not found']),
    (_bad_key, ['activity_key.txt', 'line 2', '"N"']),
])
def test_2019_bad_input_names_file_and_line(tmp_path, breaks, expected):
    root = write_wisdm_2019(tmp_path / 'raw')
    breaks(root)
    with pytest.raises(ConversionError) as err:
        wisdm.convert(tmp_path / 'raw', tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_2019_timestamps_not_in_ns_are_an_error(tmp_path):
    root = write_wisdm_2019(tmp_path / 'raw')
    path = _path(root, 1600, 'gyro', 'watch')
    lines = [l.split(',') for l in path.read_text().splitlines()]
    path.write_text(''.join(','.join(f[:2] + [str(int(f[2]) // 1000)] + f[3:]) + '\n' for f in lines))
    with pytest.raises(ConversionError, match=r'subject 1600, activity A \(gyro\): median timestamp step'):
        wisdm.convert(tmp_path / 'raw', tmp_path / 'out')


def test_wrong_folder_names_both_versions(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ConversionError, match='raw/phone/accel.*WISDM_ar_v1.1_raw.txt'):
        wisdm.convert(tmp_path / 'empty', tmp_path / 'out')


# ---------------------------------------------------------------------------- v1.1

def test_v11_fixture_has_the_documented_quirks():
    text = wisdm_v11_text()
    lines = text.split('\n')
    assert any(l.count(';') == 3 for l in lines) and '20,Walking,0,0,0,0.0;' in lines
    assert '19, Sitting, 131623531465' in text and text.endswith(';\n\n\n')


def test_v11_segments_units_and_repairs(tmp_path):
    write_wisdm_v11(tmp_path / 'raw')
    meta = wisdm.convert(tmp_path / 'raw', tmp_path / 'out')
    ds = PreparedDataset(tmp_path / 'out' / 'wisdm')
    assert ds.name == 'wisdm' and ds.meta['n_channels'] == 3 and len(ds.layouts) == 1
    assert [c.name for c in ds.layouts[0]] == [f'trouser_pocket_acc_{a}' for a in 'xyz']
    assert ds.labels == ['walking', 'jogging', 'walking upstairs', 'walking downstairs', 'sitting', 'standing']
    assert described(ds) == [('jogging', '33', 0), ('sitting', '19', 0), ('walking', '20', 0)]
    # 40 jogging records at 20 Hz span 1.95 s; the zero-timestamp row does not split the sitting run
    np.testing.assert_allclose(ds.segments[:, 1], [97.5, 72.5, 72.5], atol=3)
    sitting = np.asarray(ds.signals[ds.segments[1, 0]:ds.segments[1, 0] + ds.segments[1, 1]])
    # 20 -> 50 Hz polyphase upsampling leaves a +-0.07 % ripple on a constant signal
    np.testing.assert_allclose(sitting, np.tile([1.2, 9.6, 0.3], (len(sitting), 1)), rtol=1e-3)
    assert meta['repairs'] == WISDM_V11_EXPECT
    assert meta['source']['title'] == 'WISDM Activity Prediction v1.1'


def test_v11_subset_and_inner_folder(tmp_path):
    write_wisdm_v11(tmp_path / 'raw')
    meta = wisdm.convert(tmp_path / 'raw', tmp_path / 'a', subjects=[19, 20])
    assert meta['subjects'] == ['19', '20']
    wisdm.convert(tmp_path / 'raw' / 'WISDM_ar_v1.1', tmp_path / 'b', subjects=['19', '20'])
    assert folder_bytes(tmp_path / 'a' / 'wisdm') == folder_bytes(tmp_path / 'b' / 'wisdm')


def _v11_non_numeric_field(root):
    path = root / 'WISDM_ar_v1.1_raw.txt'
    replace_line(path, 8, line(path, 8).replace(',4910', ',49x0', 1))


@pytest.mark.parametrize('breaks, expected', [
    (break_wisdm_v11, r'WISDM_ar_v1.1_raw.txt: line 5: activity "Running"'),
    (_v11_non_numeric_field, r'WISDM_ar_v1.1_raw.txt: line 8: expected numbers'),
])
def test_v11_bad_input_names_the_line(tmp_path, breaks, expected):
    root = write_wisdm_v11(tmp_path / 'raw')
    breaks(root)
    with pytest.raises(ConversionError, match=expected):
        wisdm.convert(tmp_path / 'raw', tmp_path / 'out')


def test_v11_without_valid_records_is_an_error(tmp_path):
    root = tmp_path / 'raw'
    root.mkdir()
    (root / 'WISDM_ar_v1.1_raw.txt').write_text('33,Jogging,;\n\n20,Walking,0,0,0,0.0;\n')
    with pytest.raises(ConversionError, match='WISDM_ar_v1.1_raw.txt: no valid'):
        wisdm.convert(root, tmp_path / 'out')
