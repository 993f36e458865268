"""A user's own dataset from an .npz: round trip, channel parsing, unit conversion, each error."""
import math

import numpy as np
import pytest

from datasets.format import G, ConversionError, PreparedDataset
from datasets.prepare import main as prepare_main
from datasets.user_npz import convert_npz, parse_channel

CHANNELS = ['acc_x', 'acc_y', 'acc_z', 'gyro_x (deg/s)', 'gyro_y (deg/s)', 'gyro_z (deg/s)']


def arrays(n=4, t=100, **changes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, t, 6)).astype(np.float32)
    X[:, :, 2] += 9.8
    data = {'X': X, 'y': np.array(['Walking', 'sitting', 'walking', 'Stairs_Up'][:n]),
            'sampling_rate_hz': np.float64(100.0), 'channels': np.array(CHANNELS),
            'subjects': np.array([7, 7, 8, 8][:n])}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def write(tmp_path, **changes):
    path = tmp_path / 'mine.npz'
    np.savez(path, **arrays(**changes))
    return path


def test_round_trip(tmp_path):
    meta = convert_npz(write(tmp_path), tmp_path / 'out', 'mine')
    ds = PreparedDataset(tmp_path / 'out' / 'mine')
    assert ds.signals.shape == (4 * 50, 6) and ds.rate_hz == 50          # 100 Hz -> 50 Hz
    assert ds.labels == ['sitting', 'stairs up', 'walking']
    assert [l['description'] for l in meta['labels']] == ds.labels
    assert ds.segments[:, 2].tolist() == [2, 0, 2, 1] and ds.segments[:, 1].tolist() == [50] * 4
    assert [ds.subjects[s] for s in ds.segments[:, 3]] == ['7', '7', '8', '8']
    assert [c.unit for c in ds.layouts[0]] == ['m/s^2'] * 3 + ['rad/s'] * 3
    assert ds.layouts[0][3].name == 'body_gyro_x'
    x = arrays()['X']
    np.testing.assert_allclose(ds.signals[:, 3].mean(), x[:, :, 3].mean() * math.pi / 180, atol=1e-3)
    assert sum('deg/s' in n and 'rad/s' in n for n in meta['source']['notes']) == 3
    assert meta['repairs'] == {}


def test_same_rate_keeps_values_and_g_is_converted(tmp_path):
    channels = np.array(['wrist accelerometer x (g)', 'wrist accelerometer y (g)', 'wrist accelerometer z (g)',
                         'wrist gyro x', 'wrist gyro y', 'wrist gyro z'])
    path = write(tmp_path, channels=channels, sampling_rate_hz=np.array(50))
    convert_npz(path, tmp_path / 'out', 'mine')
    ds = PreparedDataset(tmp_path / 'out' / 'mine')
    x = arrays()['X']
    np.testing.assert_allclose(ds.signals[:100, :3], x[0, :, :3] * G, rtol=1e-5)
    np.testing.assert_allclose(ds.signals[:100, 3:], x[0, :, 3:], rtol=1e-6)
    assert ds.layouts[0][0].placement == 'wrist'


def test_missing_subjects_become_unknown(tmp_path):
    meta = convert_npz(write(tmp_path, subjects=None), tmp_path / 'out', 'mine')
    assert meta['subjects'] == ['unknown']
    assert any('subject "unknown"' in n for n in meta['source']['notes'])


def test_nan_values_are_interpolated_and_dead_windows_dropped(tmp_path):
    X = arrays()['X']
    X[1, 10:15, 0] = np.nan
    X[2, :, 4] = np.nan
    meta = convert_npz(write(tmp_path, X=X, sampling_rate_hz=np.float64(50)), tmp_path / 'out', 'mine')
    assert meta['repairs'] == {'NaN values interpolated': 5, 'windows dropped: a channel is NaN throughout': 1}
    assert meta['n_samples'] == 3 * 100


def test_cli(tmp_path, capsys):
    path = write(tmp_path)
    prepare_main(['mine', '--npz', str(path), '--out', str(tmp_path / 'out')])
    assert 'mine: 200 samples x 6 channels at 50 Hz' in capsys.readouterr().out


def test_deterministic(tmp_path):
    path = write(tmp_path)
    convert_npz(path, tmp_path / 'a', 'mine')
    convert_npz(path, tmp_path / 'b', 'mine')
    for name in ('meta.json', 'signals.bin', 'segments.npy'):
        assert (tmp_path / 'a' / 'mine' / name).read_bytes() == (tmp_path / 'b' / 'mine' / name).read_bytes()


@pytest.mark.parametrize('text, expected', [
    ('acc_x', ('acc', 'x', 'm/s^2', 'body', 'imu', 1.0)),
    ('accZ', ('acc', 'z', 'm/s^2', 'body', 'imu', 1.0)),
    ('wrist accelerometer x (m/s^2)', ('acc', 'x', 'm/s^2', 'wrist', 'imu', 1.0)),
    ('left ankle acc y [mg]', ('acc', 'y', 'm/s^2', 'left ankle', 'imu', G / 1000)),
    ('phone gyroscope z (deg/s)', ('gyro', 'z', 'rad/s', 'body', 'smartphone', math.pi / 180)),
    ('Watch Gyro Y dps', ('gyro', 'y', 'rad/s', 'body', 'smartwatch', math.pi / 180)),
    ('mag_y', ('mag', 'y', 'a.u.', 'body', 'imu', 1.0)),
    ('chest magnetometer x (uT)', ('mag', 'x', 'uT', 'chest', 'imu', 1.0)),
])
def test_parse_channel(text, expected):
    channel, factor = parse_channel(text)
    assert (channel.sensor, channel.axis, channel.unit, channel.placement, channel.device) == expected[:5]
    assert factor == pytest.approx(expected[5])


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize('changes, message', [
    ({'X': None}, 'missing key "X"'),
    ({'channels': None}, 'missing key "channels"'),
    ({'X': np.zeros((4, 100))}, 'key "X" must be a numeric \\(N, T, C\\) array'),
    ({'X': np.zeros((0, 100, 6))}, 'key "X" is empty'),
    ({'X': np.full((4, 100, 6), np.nan)}, 'key "X" holds only NaN'),
    ({'y': np.array(['walking'] * 3)}, 'key "y" must have one label per window \\(4\\)'),
    ({'y': np.array([1, 2, 3, 4])}, 'key "y" must hold label names as strings'),
    ({'y': np.array(['walking', '', 'sitting', 'walking'])}, 'key "y": label of window 1 is missing'),
    ({'y': np.array(['walking', None, 'sitting', 'walking'], dtype=object)}, 'key "y" holds Python objects'),
    ({'channels': np.array(CHANNELS[:5])}, 'key "channels" must describe each of the 6 channels'),
    ({'sampling_rate_hz': np.float64(0)}, 'key "sampling_rate_hz" must be one positive number'),
    ({'sampling_rate_hz': np.float64(-50)}, 'key "sampling_rate_hz" must be one positive number'),
    ({'subjects': np.array([1, 2])}, 'key "subjects" must have one id per window'),
    ({'channels': np.array(CHANNELS[:5] + ['temperature'])},
     'channels\\[5\\] "temperature": no sensor word; accepted forms: .acc_x.'),
    ({'channels': np.array(CHANNELS[:5] + ['gyro_z (km/h)'])}, 'channels\\[5\\] .*unknown unit "km/h"'),
    ({'channels': np.array(CHANNELS[:5] + ['acc_x'])}, 'several channels describe the same sensor axis'),
])
def test_errors_name_file_and_key(tmp_path, changes, message):
    path = write(tmp_path, **changes)
    with pytest.raises(ConversionError, match=f'mine.npz: .*{message}'):
        convert_npz(path, tmp_path / 'out', 'mine')
    assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').iterdir())


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(ConversionError, match='nothing.npz: file not found'):
        convert_npz(tmp_path / 'nothing.npz', tmp_path / 'out', 'mine')
    (tmp_path / 'broken.npz').write_bytes(b'not a zip')
    with pytest.raises(ConversionError, match='broken.npz: not a readable .npz file'):
        convert_npz(tmp_path / 'broken.npz', tmp_path / 'out', 'mine')


def test_failed_conversion_keeps_earlier_copy(tmp_path):
    convert_npz(write(tmp_path), tmp_path / 'out', 'mine')
    before = (tmp_path / 'out' / 'mine' / 'signals.bin').read_bytes()
    with pytest.raises(ConversionError):
        convert_npz(write(tmp_path, y=np.array(['a', 'b'])), tmp_path / 'out', 'mine')
    assert (tmp_path / 'out' / 'mine' / 'signals.bin').read_bytes() == before
