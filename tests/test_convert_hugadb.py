"""HuGaDB converter on tiny fixtures copying the real layout: HuGaDB/Data/HuGaDB_v1_<act>_<PP>_<CC>.txt.
The CLI, determinism, the earlier copy kept, wrong folders, the zip and the folder holding it:
test_convert_contract.py."""
import shutil
import zipfile

import numpy as np
import pytest

from datasets import hugadb
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_hugadb import (FILES, FIRST_ROW, GLITCH_COL, GLITCH_ROW, STANDING_GYRO, STILL_ACC,
                             break_hugadb, file_rows, write_hugadb)

RAD_PER_COUNT = np.pi / 180 / (32768 / 2000)
ACC_ONLY = "IMU recordings kept as accelerometer only: gyroscope corrupted (authors' list)"


def convert(tmp_path, **kw):
    raw = write_hugadb(tmp_path / 'raw')
    meta = hugadb.convert(raw, tmp_path / 'out', **kw)
    return raw, meta, PreparedDataset(tmp_path / 'out' / 'hugadb')


def recordings(ds):
    """[(subject, layout, [(label name, length)])] per recording (consecutive segments, same layout)."""
    out = []
    for start, length, label, subject, layout in ds.segments.tolist():
        if out and out[-1][1] == layout and out[-1][3] == start:
            out[-1][2].append((ds.labels[label], length))
            out[-1][3] = start + length
        else:
            out.append([ds.subjects[subject], layout, [(ds.labels[label], length)], start + length])
    return [tuple(r[:3]) for r in out]


def replace_line(path, lineno, text):
    lines = path.read_text().split('\n')
    lines[lineno - 1] = text
    path.write_text('\n'.join(lines))


# ---------------------------------------------------------------- the fixture itself

def test_fixture_is_format_faithful(tmp_path):
    raw = write_hugadb(tmp_path)
    text = (raw / 'Data' / 'HuGaDB_v1_various_01_00.txt').read_text()
    lines = text.split('\n')
    assert lines[4] == FIRST_ROW and lines[4].count('\t') == 38
    assert lines[0] == '#Activity\tsitting standing_up standing sitting_down sitting '
    assert lines[1] == '#ActivityID\t5 7 8 6 5 ' and lines[2] == '#Date 10-26-17-47'
    assert lines[3].split('\t') == hugadb.COLUMNS and '\r' not in text


# ---------------------------------------------------------------- layouts, labels, subjects, units

def test_layouts_labels_subjects(tmp_path):
    _, meta, ds = convert(tmp_path)
    assert ds.signals.shape[1] == 6 and ds.rate_hz == 50 and len(ds.layouts) == 12
    assert [l[0].placement for l in ds.layouts] == ['right foot', 'right shin', 'right thigh',
                                                    'left foot', 'left shin', 'left thigh'] * 2
    for k, layout in enumerate(ds.layouts):                  # 0..5 acc + gyro, 6..11 the same IMUs' acc only
        assert [(c.sensor, c.axis, c.unit) for c in layout] == (
            [('acc', a, 'm/s^2') for a in 'xyz'] + [('gyro', a, 'rad/s') for a in 'xyz'] * (k < 6))
        assert {c.device for c in layout} == {'imu'} and layout[0].gravity is True
    assert meta['layouts'][4][3]['description'] == 'imu gyroscope on the left shin, x axis, in rad/s'
    assert ds.labels[:3] == ['walking', 'running', 'going up stairs'] and len(ds.labels) == 12
    assert ds.labels[8] == 'cycling' and ds.labels[11] == 'sitting in a car'
    assert all(l['description'] for l in meta['labels'])
    assert ds.subjects == ['01', '02', '03']                 # by participant, then file name


def test_one_recording_per_imu_with_the_rows_labels(tmp_path):
    _, _, ds = convert(tmp_path)
    got = recordings(ds)
    # participant 01: bicycling_01_08 then various_01_00, six IMUs each; 02 walking; 03 running, whose
    # right foot, shin and thigh gyroscopes are listed as corrupted: accelerometer only (layouts 6, 7, 8)
    assert [(s, k) for s, k, _ in got] == ([('01', k) for k in range(6)] * 2 + [('02', k) for k in range(6)]
                                           + [('03', k) for k in (6, 7, 8, 3, 4, 5)])
    various = got[6:12]
    assert all(r[2] == various[0][2] for r in various)       # the same labels for every IMU
    names = [n for n, _ in various[0][2]]
    assert names == ['sitting', 'standing up', 'standing', 'sitting down', 'sitting']
    lengths = np.array([n for _, n in various[0][2]])
    np.testing.assert_allclose(lengths, np.array([40, 20, 40, 20, 40]) * 50 / 58.8, atol=1.5)
    assert [n for n, _ in got[0][2]] == ['cycling'] and [n for n, _ in got[12][2]] == ['walking']


def test_units_still_gravity_and_known_gyro(tmp_path):
    _, _, ds = convert(tmp_path)
    x, seg = np.asarray(ds.signals), ds.segments
    sitting = seg[(seg[:, 2] == ds.labels.index('sitting'))]
    standing = seg[(seg[:, 2] == ds.labels.index('standing'))]
    assert len(sitting) == 12 and len(standing) == 6
    for start, length, _, _, layout in sitting:
        inner = x[start + 8:start + length - 8]              # away from the transitions
        if start == sitting[:, 0].min():                     # the first segment starts with the real row
            inner = x[start + 12:start + length - 8]
        assert np.linalg.norm(inner[:, :3], axis=1).mean() == pytest.approx(G, abs=0.01)
        np.testing.assert_allclose(inner[:, :3].mean(0), np.array(STILL_ACC[layout]) / 16384 * G, atol=0.01)
    for start, length, _, _, _ in standing:
        inner = x[start + 10:start + length - 10, 3:6]       # resampling edges settle within ~10 samples
        np.testing.assert_allclose(inner, np.broadcast_to(np.array(STANDING_GYRO) * RAD_PER_COUNT, inner.shape),
                                   atol=0.005)
    assert STANDING_GYRO[0] * RAD_PER_COUNT == pytest.approx(np.deg2rad(125.0))


def test_rate_58_8_hz_is_resampled_to_the_stored_rate(tmp_path):
    raw, _, ds = convert(tmp_path, rate_hz=58.8)
    rows = {name: sum(n for _, n in FILES[name][2]) for name in FILES}
    per_imu = rows['HuGaDB_v1_bicycling_01_08.txt'] + rows['HuGaDB_v1_various_01_00.txt']
    assert ds.rate_hz == 58.8
    assert ds.signals.shape[0] == 6 * per_imu + 6 * rows['HuGaDB_v1_walking_02_00.txt'] + \
        6 * rows['HuGaDB_v1_running_03_00.txt']             # no resampling: every row kept


# ---------------------------------------------------------------- quirks

def test_corrupted_gyroscopes_keep_only_the_accelerometer_of_the_listed_imus(tmp_path):
    raw, meta, ds = convert(tmp_path)
    assert meta['repairs'][ACC_ONLY] == 3
    running = ds.segments[ds.segments[:, 3] == ds.subjects.index('03')]
    assert sorted(set(running[:, 4].tolist())) == [3, 4, 5, 6, 7, 8]   # left IMUs whole, right ones acc only
    x = np.asarray(ds.signals)
    for start, length, _, _, layout in running[running[:, 4] >= 6]:
        assert np.all(x[start:start + length, 3:] == 0)      # an acc-only layout's unused channels
        assert np.abs(x[start:start + length, :3]).max() > 1.0
    # a file not in the table keeps all six, even for a participant with other corrupted files
    shutil.move(raw / 'Data' / 'HuGaDB_v1_running_03_00.txt', raw / 'Data' / 'HuGaDB_v1_running_03_05.txt')
    meta = hugadb.convert(raw, tmp_path / 'out')
    assert ACC_ONLY not in meta['repairs']
    seg = PreparedDataset(tmp_path / 'out' / 'hugadb').segments
    assert sorted(set(seg[seg[:, 3] == 2, 4].tolist())) == list(range(6))


def test_corrupted_table_matches_the_authors_readme():
    table = hugadb.CORRUPTED_GYRO
    assert table['HuGaDB_v1_various_03_24.txt'] == {'rf', 'rs', 'rt'}
    assert table['HuGaDB_v1_various_04_00.txt'] == {'rf', 'rs', 'rt', 'lf', 'ls', 'lt'}
    assert table['HuGaDB_v1_various_18_16.txt'] == {'rf', 'rs', 'lf', 'ls', 'lt'}      # right thigh OK
    assert table['HuGaDB_v1_various_09_13.txt'] == {'lf', 'ls', 'lt'}
    assert table['HuGaDB_v1_standing_10_01.txt'] == {'rs', 'rt', 'ls'}
    assert table['HuGaDB_v1_sitting_05_01.txt'] == {'lf', 'rs'}                         # blank cell: dropped
    for absent in ('HuGaDB_v1_various_09_10.txt', 'HuGaDB_v1_various_15_10.txt', 'HuGaDB_v1_various_17_03.txt',
                   'HuGaDB_v1_sitting_in_car_01_07.txt', 'HuGaDB_v1_bicycling_01_00.txt',
                   'HuGaDB_v1_down_by_elevator_12_00.txt'):
        assert absent not in table
    assert sum(n.startswith('HuGaDB_v1_various_') for n in table) == 255
    assert sum(n.startswith('HuGaDB_v1_running_') for n in table) == 8
    assert len(table) == 465


def test_out_of_int16_glitch_is_interpolated(tmp_path):
    raw, meta, ds = convert(tmp_path, rate_hz=58.8)       # stored at the raw rate: rows map 1:1
    assert meta['repairs']['values outside int16 (glitches) interpolated'] == 1
    rows = file_rows('HuGaDB_v1_bicycling_01_08.txt', list(FILES).index('HuGaDB_v1_bicycling_01_08.txt'))
    x = np.asarray(ds.signals)
    start = ds.segments[(ds.segments[:, 3] == 0) & (ds.segments[:, 4] == 0), 0].min()   # 01, right foot
    got = x[start + GLITCH_ROW, GLITCH_COL]                  # gyro_rf_y: column 4 of 6
    expected = (rows[GLITCH_ROW - 1, GLITCH_COL] + rows[GLITCH_ROW + 1, GLITCH_COL]) / 2 * RAD_PER_COUNT
    assert got == pytest.approx(expected, rel=1e-4)
    assert np.abs(x).max() < 40


def test_value_that_is_not_an_integer_is_refused(tmp_path):
    raw = write_hugadb(tmp_path / 'raw')
    path = raw / 'Data' / 'HuGaDB_v1_bicycling_01_08.txt'
    text = path.read_text().replace('\t4312046944\t', '\t4312046944.5\t')
    path.write_text(text)
    with pytest.raises(ConversionError, match=r'HuGaDB_v1_bicycling_01_08.txt: line 25: expected 39 integers'):
        hugadb.convert(raw, tmp_path / 'out')


# ---------------------------------------------------------------- subsets

def test_subjects_option(tmp_path):
    raw = write_hugadb(tmp_path / 'raw')
    meta = hugadb.convert(raw, tmp_path / 'out', subjects=[3, '02'])
    assert meta['subjects'] == ['02', '03']
    meta = hugadb.convert(raw, tmp_path / 'out', subjects=['1'])
    assert meta['subjects'] == ['01']


# ---------------------------------------------------------------- bad input

def _label_not_in_header(data):
    path = data / 'HuGaDB_v1_various_01_00.txt'
    lines = path.read_text().split('\n')
    replace_line(path, 30, lines[29].rsplit('\t', 1)[0] + '\t1')      # walking, not in '5 7 8 6 5'
    return ['HuGaDB_v1_various_01_00.txt', 'line 30', 'activity 1 is not in the #ActivityID line (5 6 7 8)']


def _unknown_label(data):
    path = data / 'HuGaDB_v1_walking_02_00.txt'
    lines = path.read_text().split('\n')
    replace_line(path, 12, lines[11].rsplit('\t', 1)[0] + '\t13')
    return ['HuGaDB_v1_walking_02_00.txt', 'line 12', 'activity 13 does not exist (expected 1..12)']


def _wrong_column_names(data):
    path = data / 'HuGaDB_v1_running_03_00.txt'
    lines = path.read_text().split('\n')
    replace_line(path, 4, lines[3].replace('acc_rf_x\tacc_rf_y', 'acc_rf_y\tacc_rf_x'))
    return ['HuGaDB_v1_running_03_00.txt', 'line 4: expected the 39 column names']


def _missing_date(data):
    path = data / 'HuGaDB_v1_walking_02_00.txt'
    replace_line(path, 3, '')
    return ['HuGaDB_v1_walking_02_00.txt', 'line 3: expected "#Date MM-DD-HH-MM"']


def _not_a_number(data):
    path = data / 'HuGaDB_v1_various_01_00.txt'
    lines = path.read_text().split('\n')
    replace_line(path, 40, lines[39].replace('\t', '\tabc', 1))
    return ['HuGaDB_v1_various_01_00.txt', 'line 40: expected 39 integers']


def _extra_column(data):
    path = data / 'HuGaDB_v1_bicycling_01_08.txt'
    lines = path.read_text().split('\n')
    replace_line(path, 7, lines[6] + '\t0')
    return ['HuGaDB_v1_bicycling_01_08.txt', 'line 7: expected 39 tab-separated values, found 40']


def _unexpected_file_name(data):
    (data / 'HuGaDB_v1_walking.txt').write_text('x\n')
    return ['HuGaDB_v1_walking.txt', 'unexpected file name']


def _truncated(data):
    return break_hugadb(data.parent)


@pytest.mark.parametrize('breaks', [_label_not_in_header, _unknown_label, _wrong_column_names, _missing_date,
                                    _not_a_number, _extra_column, _unexpected_file_name, _truncated])
def test_bad_input_names_file_and_line(tmp_path, breaks):
    raw = write_hugadb(tmp_path / 'raw')
    expected = breaks(raw / 'Data')
    with pytest.raises(ConversionError) as err:
        hugadb.convert(raw, tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_bad_input_in_the_zip_names_the_member(tmp_path):
    folder = write_hugadb(tmp_path / 'dl' / 'build')
    expected = break_hugadb(folder)
    zipped = tmp_path / 'HuGaDB.zip'
    with zipfile.ZipFile(zipped, 'w', zipfile.ZIP_BZIP2) as z:
        for p in sorted((folder / 'Data').iterdir()):
            z.write(p, p.relative_to(folder.parent).as_posix())
    with pytest.raises(ConversionError) as err:
        hugadb.convert(zipped, tmp_path / 'out')
    assert f'{zipped}!/HuGaDB/Data/' in str(err.value)
    for text in expected:
        assert text in str(err.value)
    assert not (tmp_path / 'out').exists() or list((tmp_path / 'out').iterdir()) == []


def test_empty_file_is_skipped(tmp_path):
    raw = write_hugadb(tmp_path / 'raw')
    path = raw / 'Data' / 'HuGaDB_v1_walking_02_00.txt'
    path.write_text('\n'.join(path.read_text().split('\n')[:4]) + '\n')
    meta = hugadb.convert(raw, tmp_path / 'out')
    assert meta['repairs']['files without data rows skipped'] == 1 and '02' not in meta['subjects']
