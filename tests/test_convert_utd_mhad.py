"""UTD-MHAD inertial converter on tiny MAT-file fixtures: Inertial/a<k>_s<j>_t<i>_inertial.mat, `d_iner` N x 6.
The CLI, determinism, the earlier copy kept, wrong folders, the zip and the folder holding it:
test_convert_contract.py."""
import numpy as np
import pytest
import scipy.io

from datasets import utd_mhad
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_utd_mhad import (ACC_CLIP, FILES, FIRST_ROW, GYRO_CLIP, GYRO_COUNTS, HEADER, STILL, TURN,
                               break_utd_mhad, d_iner, gyro_deg, utd_mhad_zip, write_mat, write_utd_mhad,
                               zip_folder)

ORDER = sorted(FILES, key=lambda f: (f[1], f[0], f[2]))     # the converter's order: subject, action, trial


def folder_bytes(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def convert(tmp_path, **kw):
    raw = write_utd_mhad(tmp_path / 'raw')
    meta = utd_mhad.convert(raw, tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'utd_mhad')


def segment_of(ds, action, subject, trial):
    k = ORDER.index(next(f for f in FILES if f[:3] == (action, subject, trial)))
    start, length = ds.segments[k, :2]
    return np.asarray(ds.signals[start:start + length])


def test_fixture_is_format_faithful(tmp_path):
    raw = write_utd_mhad(tmp_path)
    path = raw / 'a1_s1_t1_inertial.mat'
    assert path.read_bytes()[:116].decode().rstrip() == HEADER
    mat = scipy.io.loadmat(path)
    assert [k for k in mat if not k.startswith('__')] == ['d_iner']
    assert mat['d_iner'].dtype == np.float64 and mat['d_iner'].shape == (110, 6)
    assert tuple(mat['d_iner'][0]) == FIRST_ROW
    assert sum(p.stat().st_size for p in raw.iterdir()) < 40_000


def test_shapes_layouts_labels_subjects(tmp_path):
    meta, ds = convert(tmp_path)
    assert ds.signals.shape == (sum(f[3] for f in FILES), 6) and ds.rate_hz == 50
    assert [(l[0].placement, l[0].device) for l in ds.layouts] == [('right wrist', 'wearable imu'),
                                                                 ('right thigh', 'wearable imu')]
    for layout in ds.layouts:
        assert [c.unit for c in layout] == ['m/s^2'] * 3 + ['rad/s'] * 3
        assert [c.gravity for c in layout[:3]] == [True] * 3
    assert meta['layouts'][1][3]['description'] == 'wearable imu gyroscope on the right thigh, x axis, in rad/s'
    assert len(ds.labels) == 27 and len(set(ds.labels)) == 27
    assert ds.labels[0] == 'swiping left with the right arm' and ds.labels[23:25] == ['sit to stand', 'stand to sit']
    assert all(l['description'] for l in meta['labels'])
    assert ds.subjects == ['1', '2', '8']
    got = [(ds.labels[l], ds.subjects[s], layout, n) for _, n, l, s, layout in ds.segments]
    assert got == [(ds.labels[a - 1], str(s), int(a >= 22), rows) for a, s, t, rows in ORDER]
    assert (ds.segments[1:, 0] == np.cumsum(ds.segments[:-1, 1])).all()
    assert meta['repairs'] == {}


def test_units(tmp_path):
    _, ds = convert(tmp_path)
    x = segment_of(ds, 1, 1, 1)
    np.testing.assert_allclose(x[0, :3], np.array(FIRST_ROW[:3]) * G, rtol=1e-6)     # the real first row
    np.testing.assert_allclose(x[0, 3:], np.deg2rad(FIRST_ROW[3:]), rtol=1e-6)
    for action, subject, trial, _ in FILES:
        x = segment_of(ds, action, subject, trial)
        still = np.linalg.norm(x[1:STILL, :3], axis=1)
        np.testing.assert_allclose(still, 9.80665, rtol=1e-6)                        # 1 g at rest
        np.testing.assert_allclose(x[STILL:STILL + TURN, 3:], np.tile(np.deg2rad(gyro_deg(GYRO_COUNTS)), (TURN, 1)),
                                   rtol=1e-6)
        assert x[STILL, 3] == pytest.approx(np.pi / 2, abs=3e-4)                     # 2948 counts ~ 90 deg/s
    thigh = segment_of(ds, 24, 1, 1)
    np.testing.assert_allclose(thigh[1:STILL, 2], G, rtol=1e-6)


def test_clipped_values_are_kept_and_noted(tmp_path):
    meta, ds = convert(tmp_path)
    x = segment_of(ds, 1, 1, 2)
    assert x[60, 3] == pytest.approx(np.deg2rad(GYRO_CLIP[0]), rel=1e-6)
    assert x[61, 5] == pytest.approx(np.deg2rad(GYRO_CLIP[1]), rel=1e-6)
    assert x[62, 1] == pytest.approx(ACC_CLIP * G, rel=1e-6)
    n = 3 * sum(f[3] for f in FILES)
    assert meta['source']['notes'] == [
        f'gyroscope values at its +-1000 deg/s limit (clipped in the source, kept): 2 of {n}',
        f'accelerometer values at its +-8 g limit (clipped in the source, kept): 1 of {n}']


def test_folder_holding_the_zip_and_an_unpacked_copy(tmp_path):
    zipped = utd_mhad_zip(tmp_path / 'dl')                                  # dl/ also holds build/Inertial
    utd_mhad.convert(zipped, tmp_path / 'a')
    utd_mhad.convert(tmp_path / 'dl', tmp_path / 'b')
    assert folder_bytes(tmp_path / 'b' / 'utd_mhad') == folder_bytes(tmp_path / 'a' / 'utd_mhad')


def test_zip_with_other_modalities(tmp_path):
    folder = write_utd_mhad(tmp_path / 'build')
    zipped = zip_folder(folder, tmp_path / 'UTD-MHAD.zip', {'Depth/a1_s1_t1_depth.mat': b'not read',
                                                            'README.txt': b'readme\n'})
    utd_mhad.convert(zipped, tmp_path / 'a')
    utd_mhad.convert(folder, tmp_path / 'b')
    assert folder_bytes(tmp_path / 'a' / 'utd_mhad') == folder_bytes(tmp_path / 'b' / 'utd_mhad')


def test_non_mat_and_hidden_files_are_skipped(tmp_path):
    raw = write_utd_mhad(tmp_path / 'raw')
    utd_mhad.convert(raw, tmp_path / 'a')
    (raw / 'README.txt').write_text('UTD-MHAD inertial\n')
    (raw / '.DS_Store').write_bytes(b'\x00\x00\x00\x01Bud1')
    (raw / '._a1_s1_t1_inertial.mat').write_bytes(b'\x00\x05\x16\x07AppleDouble')
    utd_mhad.convert(raw, tmp_path / 'b')
    assert folder_bytes(tmp_path / 'a' / 'utd_mhad') == folder_bytes(tmp_path / 'b' / 'utd_mhad')


def test_subjects_subset_and_rate(tmp_path):
    raw = write_utd_mhad(tmp_path / 'raw')
    meta = utd_mhad.convert(raw, tmp_path / 'a', subjects=[2, 8])
    assert meta['subjects'] == ['2', '8'] and meta['n_samples'] == 115 + 107
    utd_mhad.convert(raw, tmp_path / 'b', subjects=['s2', '8'])
    assert folder_bytes(tmp_path / 'a' / 'utd_mhad') == folder_bytes(tmp_path / 'b' / 'utd_mhad')
    meta = utd_mhad.convert(raw, tmp_path / 'c', rate_hz=25, subjects=['1'])
    ds = PreparedDataset(tmp_path / 'c' / 'utd_mhad')
    assert meta['subjects'] == ['1'] and ds.segments[:, 1].tolist() == [55, 60, 65]
    with pytest.raises(ConversionError, match='no samples'):
        utd_mhad.convert(raw, tmp_path / 'd', subjects=[5])


# ---------------------------------------------------------------- bad input

def _rewrite(raw, name, x=None, **variables):
    write_mat(raw / name, variables or {'d_iner': x})


def _nan(raw):
    x = d_iner(24, 1, 1, 130)
    x[6, 4] = np.nan
    _rewrite(raw, 'a24_s1_t1_inertial.mat', x)


def _inf(raw):
    x = d_iner(1, 1, 2, 120)
    x[99, 0] = -np.inf
    _rewrite(raw, 'a1_s1_t2_inertial.mat', x)


def _no_d_iner(raw):
    _rewrite(raw, 'a8_s2_t1_inertial.mat', d_skel=d_iner(8, 2, 1, 115))


def _nine_columns(raw):
    _rewrite(raw, 'a27_s8_t3_inertial.mat', np.concatenate([d_iner(27, 8, 3, 107)] * 2, 1)[:, :9])


def _transposed(raw):
    _rewrite(raw, 'a1_s1_t1_inertial.mat', d_iner(1, 1, 1, 110).T)


def _empty(raw):
    _rewrite(raw, 'a1_s1_t1_inertial.mat', np.zeros((0, 6)))


def _text(raw):
    _rewrite(raw, 'a1_s1_t1_inertial.mat', np.array(['abcdef']))


def _not_a_mat_file(raw):
    (raw / 'a8_s2_t1_inertial.mat').write_text('-0.9595 -0.1777 -0.1929 5.2214 1.5267 0.1527\n')


def _truncated(raw):
    path = raw / 'a24_s1_t1_inertial.mat'
    path.write_bytes(path.read_bytes()[:300])


def _copy(raw, name):
    (raw / name).write_bytes((raw / 'a1_s1_t1_inertial.mat').read_bytes())


@pytest.mark.parametrize('breaks, expected', [
    (break_utd_mhad, ['a8_s2_t1_inertial.mat', 'row 5', 'acc_y is nan']),
    (_nan, ['a24_s1_t1_inertial.mat', 'row 7: gyro_y is nan']),
    (_inf, ['a1_s1_t2_inertial.mat', 'row 100: acc_x is -inf']),
    (_no_d_iner, ['a8_s2_t1_inertial.mat', 'no variable "d_iner"']),
    (_nine_columns, ['a27_s8_t3_inertial.mat', 'shape (107, 9)', '6 columns']),
    (_transposed, ['a1_s1_t1_inertial.mat', 'shape (6, 110)']),
    (_empty, ['a1_s1_t1_inertial.mat', 'no rows']),
    (_text, ['a1_s1_t1_inertial.mat', 'expected real numbers']),
    (_not_a_mat_file, ['a8_s2_t1_inertial.mat', 'not a readable MATLAB v5 MAT-file']),
    (_truncated, ['a24_s1_t1_inertial.mat', 'not a readable MATLAB v5 MAT-file']),
    (lambda raw: _copy(raw, 'a28_s1_t1_inertial.mat'), ['a28_s1_t1_inertial.mat', 'action 28', '1..27']),
    (lambda raw: _copy(raw, 'a3_s9_t1_inertial.mat'), ['a3_s9_t1_inertial.mat', 'subject 9', '1..8']),
    (lambda raw: _copy(raw, 'a3_s1_t5_inertial.mat'), ['a3_s1_t5_inertial.mat', 'trial 5', '1..4']),
    (lambda raw: _copy(raw, 'a1_s1_t1_depth.mat'), ['a1_s1_t1_depth.mat', 'unexpected file']),
    (lambda raw: _copy(raw, 'a01_s1_t1_inertial.mat'), ['a1_s1_t1_inertial.mat', 'a01_s1_t1_inertial.mat']),
])
def test_bad_input_names_the_file(tmp_path, breaks, expected):
    raw = write_utd_mhad(tmp_path / 'raw')
    breaks(raw)
    with pytest.raises(ConversionError) as err:
        utd_mhad.convert(raw, tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_bad_member_of_a_zip_is_named_inside_the_zip(tmp_path):
    raw = write_utd_mhad(tmp_path / 'build')
    fragments = break_utd_mhad(raw)
    zipped = zip_folder(raw, tmp_path / 'UTD_MHAD_Inertial.zip')
    with pytest.raises(ConversionError) as err:
        utd_mhad.convert(zipped, tmp_path / 'out')
    assert f'{zipped}!/Inertial/{fragments[0]}: {fragments[1]}:' in str(err.value)
    assert not (tmp_path / 'out' / 'utd_mhad').exists() and list((tmp_path / 'out').iterdir()) == []


def test_several_zips_or_a_file_that_is_not_a_zip_are_refused(tmp_path):
    for name in ('Skeleton.zip', 'Depth.zip'):
        zip_folder(write_utd_mhad(tmp_path / 'b' / name[:-4]), tmp_path / 'two' / name)
    with pytest.raises(ConversionError, match='several zip archives that could hold it: Depth.zip, Skeleton.zip'):
        utd_mhad.convert(tmp_path / 'two', tmp_path / 'out')
    (tmp_path / 'junk.zip').write_text('not a zip')
    with pytest.raises(ConversionError, match='junk.zip: expected a folder or a .zip archive'):
        utd_mhad.convert(tmp_path / 'junk.zip', tmp_path / 'out')
