"""PAMAP2 converter on tiny fixtures: 54 space-separated columns at 100 Hz, literal NaN, nested zip.
The CLI, determinism, the earlier copy kept, wrong folders and the zip: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import pamap2
from datasets.format import ConversionError, PreparedDataset
from fixtures_raw_a import PAMAP2_DROPOUT, PAMAP2_GYRO, break_pamap2, folder_bytes, line, replace_line, write_pamap2

# (label text or None, length at 50 Hz, subject) per segment: Protocol 101 (split at a 5 s gap),
# Protocol 102, then Optional 101 (its part after the gap has no hand IMU and is dropped)
EXPECTED = [(None, 15, '101'), ('lying', 40, '101'), (None, 10, '101'), ('walking', 40, '101'),
            (None, 10, '102'), ('rope jumping', 50, '102'),
            (None, 5, '101'), ('playing soccer', 30, '101')]


def convert(tmp_path, **kw):
    write_pamap2(tmp_path / 'raw')
    meta = pamap2.convert(tmp_path / 'raw', tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'pamap2')


def test_fixture_keeps_the_original_formatting(tmp_path):
    first = line(write_pamap2(tmp_path) / 'Protocol' / 'subject101.dat', 1).split(' ')
    assert len(first) == 54 and first[:4] == ['8.38', '0', '104', '31.8125']
    assert first[16:20] == ['1', '0', '0', '0']                    # hand orientation
    assert line(tmp_path / 'PAMAP2_Dataset' / 'Protocol' / 'subject101.dat', 2).split(' ')[2] == 'NaN'


def test_segments_labels_subjects_and_repairs(tmp_path):
    meta, ds = convert(tmp_path)
    got = [(ds.labels[l] if l >= 0 else None, n, ds.subjects[s]) for _, n, l, s, _ in ds.segments]
    assert got == EXPECTED
    assert ds.signals.shape == (sum(n for _, n, _ in EXPECTED), 27)
    assert ds.labels.index('lying') == 0 and ds.labels.index('rope jumping') == 17   # ids 1, 24
    assert ds.segments[3, 2] == 3 and ds.labels[3] == 'walking'                        # id 4
    assert ds.subjects == ['101', '102'] and len(ds.labels) == 18
    assert meta['repairs'] == {'NaN values interpolated': len(PAMAP2_DROPOUT) * 9,   # hand IMU drop-out
                               'recordings split at timestamp gaps': 2,
                               'recordings with an IMU channel entirely NaN dropped': 1}


def test_channels_and_units(tmp_path):
    _, ds = convert(tmp_path)
    layout = ds.layouts[0]
    assert [c.name for c in layout[:9]] == [f'wrist_{s}_{a}' for s in ('acc', 'gyro', 'mag') for a in 'xyz']
    assert [c.placement for c in layout[::9]] == ['wrist', 'chest', 'ankle']
    assert {c.unit for c in layout} == {'m/s^2', 'rad/s', 'uT'}
    x = np.asarray(ds.signals)
    assert not np.isnan(x).any()
    for b in range(3):
        imu = x[:, 9 * b:9 * b + 9]
        np.testing.assert_allclose(imu[:, :3], np.tile([2.37223, 8.60074, 3.51048], (len(x), 1)),
                                   rtol=1e-5)        # the +-16 g accelerometer, not the +-6 g one
        assert np.linalg.norm(imu[:, :3], axis=1) == pytest.approx(9.59, abs=0.01)
        np.testing.assert_allclose(imu[:, 3], PAMAP2_GYRO[b], rtol=1e-5)              # rad/s kept
        np.testing.assert_allclose(imu[:, 6:9], np.tile([14.6806, -69.2128, -5.58905], (len(x), 1)),
                                   rtol=1e-5)


def test_subject_subset_native_rate_and_inner_folder(tmp_path):
    meta, _ = convert(tmp_path, subjects=[102], rate_hz=100)
    assert meta['subjects'] == ['102'] and meta['n_samples'] == 120
    pamap2.convert(tmp_path / 'raw' / 'PAMAP2_Dataset', tmp_path / 'again', subjects=['102'], rate_hz=100)
    assert folder_bytes(tmp_path / 'out' / 'pamap2') == folder_bytes(tmp_path / 'again' / 'pamap2')


def _short_line(root):
    path = root / 'Protocol' / 'subject101.dat'
    replace_line(path, 12, ' '.join(line(path, 12).split(' ')[:53]))


def _not_a_number(root):
    path = root / 'Protocol' / 'subject102.dat'
    fields = line(path, 30).split(' ')
    replace_line(path, 30, ' '.join(fields[:5] + ['n/a'] + fields[6:]))


def _extra_column(root):
    path = root / 'Protocol' / 'subject102.dat'
    path.write_text(''.join(l + ' 0\n' for l in path.read_text().splitlines()))


def _no_protocol_files(root):
    for p in (root / 'Protocol').iterdir():
        p.unlink()


@pytest.mark.parametrize('breaks, expected', [
    (_short_line, ['subject101.dat', 'line 12', 'expected 54 values, found 53']),
    (_not_a_number, ['subject102.dat', 'line 30', "expected numbers"]),
    (break_pamap2, ['Optional/subject101.dat', 'line 40', 'activityID 8', '7, 9']),
    (_extra_column, ['subject102.dat', 'expected 54 space-separated columns, found 55']),
    (_no_protocol_files, ['Protocol', 'no subjectNNN.dat files']),
])
def test_bad_input_names_file_and_line(tmp_path, breaks, expected):
    root = write_pamap2(tmp_path / 'raw')
    breaks(root)
    with pytest.raises(ConversionError) as err:
        pamap2.convert(tmp_path / 'raw', tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_all_nan_recordings_only_is_an_error(tmp_path):
    root = tmp_path / 'raw' / 'PAMAP2_Dataset' / 'Protocol'
    root.mkdir(parents=True)
    row = '8.38 1 NaN ' + ' '.join(['NaN'] * 51)
    (root / 'subject103.dat').write_text(f'{row}\n{row.replace("8.38", "8.39")}\n')
    with pytest.raises(ConversionError, match='no samples'):
        pamap2.convert(tmp_path / 'raw', tmp_path / 'out')
