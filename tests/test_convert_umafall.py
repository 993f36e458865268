"""UMAFall converter on tiny fixtures written like the release:
UMAFall_Dataset/UMAFall_Subject_<SS>_<ADL|Fall>_<Activity>_<trial>_<date>.csv.
The CLI, determinism, the earlier copy kept, wrong folders, the zip and the folder holding it:
test_convert_contract.py."""
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datasets import umafall
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_umafall import (BACKLOG, DURATION_S, FALL, FIRST_ROW, GYRO_DEG, JOGGING, LEADING_ZEROS, MAG, MANGLED,
                              QUARTER, STILL, STILL_TAG, WALKING, break_umafall, expected_phone_repairs,
                              phone_stamps, tag_stamps, umafall_zip, write_clean_twin, write_umafall)

LABEL = {STILL: 'clapping hands', WALKING: 'walking', FALL: 'falling forward', JOGGING: 'jogging',
         MANGLED: 'bending'}
SUBJECT = {STILL: '1', WALKING: '1', FALL: '2', JOGGING: '10', MANGLED: '13'}
# (file, layout) of every segment, in order: files by name, then sensing points
SEGMENTS = ([(STILL, p) for p in (0, 1, 3)] + [(WALKING, p) for p in range(5)] + [(FALL, p) for p in range(5)]
            + [(JOGGING, p) for p in range(5)] + [(MANGLED, 0)])
TAG_ROWS = int(DURATION_S * 20)
SPREADSHEET_REPAIRS = {
    'SensorTag rows of spreadsheet-mangled files dropped (magnitudes not recoverable)': 3 * 3 * TAG_ROWS,
    'smartphone rows of spreadsheet-mangled files re-read as d.ddd (values >= 1 g)': None,   # checked apart
    'smartphone values of spreadsheet-mangled files in E notation (under 1e-3 g) set to 0': 1,
    'spreadsheet filler lines (;;;;;;;) skipped': 8,
}


def folder_bytes(path):
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir())}


def convert(tmp_path, **kw):
    raw = write_umafall(tmp_path / 'raw')
    meta = umafall.convert(raw, tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'umafall')


def data_file(raw, name):
    return Path(raw) / 'UMAFall_Dataset' / name


def edit_line(path, number, edit):
    """Apply `edit` to 1-based line `number` of a text file (line endings kept)."""
    lines = path.read_bytes().decode('ascii').split('\n')
    lines[number - 1] = edit(lines[number - 1])
    path.write_bytes('\n'.join(lines).encode('ascii'))


def first_line_of(path, suffix):
    """1-based number of the first line ending with `suffix` (e.g. ';0;3')."""
    return next(i for i, line in enumerate(path.read_text().split('\n'), 1) if line.endswith(suffix))


# ---------------------------------------------------------------- format and content

def test_fixture_starts_with_the_real_first_row(tmp_path):
    lines = data_file(write_umafall(tmp_path), WALKING).read_text().split('\n')
    assert lines[40].startswith('% TimeStamp; Sample No;') and lines[41] == FIRST_ROW


def test_layouts_labels_subjects(tmp_path):
    meta, ds = convert(tmp_path)
    assert [len(l) for l in ds.layouts] == [3, 9, 9, 9, 9] and ds.signals.shape[1] == 9
    assert ds.layouts[0][0].description == ('smartphone accelerometer on the right trouser pocket, x axis, '
                                            'in m/s^2, gravity included')
    assert [l[0].placement for l in ds.layouts] == ['right trouser pocket', 'chest', 'waist', 'wrist', 'ankle']
    assert [c.name for c in ds.layouts[4][::3]] == ['ankle_acc_x', 'ankle_gyro_x', 'ankle_mag_x']
    assert {c.device for l in ds.layouts[1:] for c in l} == {'sensortag'}
    assert [c.unit for c in ds.layouts[2]] == ['m/s^2'] * 3 + ['rad/s'] * 3 + ['uT'] * 3
    assert all(c.gravity for l in ds.layouts for c in l if c.sensor == 'acc')
    assert len(ds.labels) == 15 and ds.labels[:2] == ['clapping hands', 'bending']
    assert ds.labels[-3:] == ['falling backward', 'falling forward', 'falling sideways']
    assert all(l['description'] for l in meta['labels'])
    assert ds.subjects == ['1', '2', '10', '13']                    # from the file names, in file order


def test_one_segment_per_file_and_sensing_point(tmp_path):
    meta, ds = convert(tmp_path)
    got = [(ds.labels[label], ds.subjects[subject], layout) for _, _, label, subject, layout in ds.segments]
    assert got == [(LABEL[f], SUBJECT[f], p) for f, p in SEGMENTS]
    notes = meta['source']['notes']
    assert notes[0] == '5 trial files: ADL 4, Fall 1'
    assert notes[1] == ('files with a recording per sensing point: rightpocket 5, chest 4, waist 3, '
                        'wrist 4, ankle 3')
    assert notes[2] == ('sensing points without rows (absent): ankle not listed 1, '
                        'waist listed in the header but without rows 2')
    assert notes[3] == 'phones: LGE-lge-LG-H815-5.1 2, samsung-samsung-SM-G900F-5.0 3'


def test_units_of_a_still_trial(tmp_path):
    _, ds = convert(tmp_path)
    for name in (STILL, JOGGING):
        for start, length, _, _, layout in ds.segments[[i for i, s in enumerate(SEGMENTS) if s[0] == name]]:
            x = np.asarray(ds.signals[start:start + length])
            if layout == 0:
                np.testing.assert_allclose(x[:, :3], np.tile([0, G, 0], (length, 1)), atol=1e-5)
                assert not x[:, 3:].any()                              # the narrower layout is zero-filled
                continue
            np.testing.assert_allclose(x[:, :3], np.tile(np.array(STILL_TAG) * G, (length, 1)), atol=1e-5)
            np.testing.assert_allclose(x[:, 3:6], np.tile(np.deg2rad(GYRO_DEG), (length, 1)), rtol=1e-6)
            np.testing.assert_allclose(x[:, 3], np.pi / 4, rtol=1e-6)  # 45 deg/s
            np.testing.assert_allclose(x[:, 6:9], np.tile(MAG, (length, 1)), rtol=1e-6)


def test_durations_from_time_stamps(tmp_path):
    _, ds = convert(tmp_path)
    phone = phone_stamps()
    for (name, layout), (_, length, *_) in zip(SEGMENTS, ds.segments):
        if layout == 0:
            span, step = phone[-1] - phone[0], 5
        else:                                       # where the tag's three sensors overlap
            stamps = [tag_stamps(layout, sensor) for sensor in range(3)]
            if name == WALKING and layout == 3:     # the wrist magnetometer starts late
                stamps[2] = stamps[2][LEADING_ZEROS:]
            span, step = min(s[-1] for s in stamps) - max(s[0] for s in stamps), 50
        assert abs(length - span / 1000 * 50) <= step / 20 + 1, (name, layout, length, span)


def test_phone_batches_spread_and_backlog_dropped(tmp_path):
    meta, _ = convert(tmp_path)
    backlog, spread = expected_phone_repairs()
    assert backlog == BACKLOG - 1 and spread > 0
    assert meta['repairs']["samples sharing a stream's first time stamp dropped (start-up backlog)"] == 5 * backlog
    assert meta['repairs']['samples sharing a time stamp spread back from it'] == 5 * spread


def test_clean_stream_spreads_batches_but_keeps_gaps():
    from collections import Counter
    repairs = Counter()
    t_ms = np.array([100, 100, 100, 105, 115, 115, 115, 2000, 2000], float)
    t, x = umafall.clean_stream(t_ms, np.ones((9, 3)), 2.0, 0, 5.0, repairs)
    np.testing.assert_allclose(t * 1000, [100, 105, 105 + 10 / 3, 105 + 20 / 3, 115, 1995, 2000])
    assert (x == 2.0).all()
    assert repairs["samples sharing a stream's first time stamp dropped (start-up backlog)"] == 2
    assert repairs['samples sharing a time stamp spread back from it'] == 3


def test_quarter_scale_rows_and_leading_zeros(tmp_path):
    meta, ds = convert(tmp_path)
    assert meta['repairs']['SensorTag accelerometer rows at a quarter of their scale (on the 1/16384 g '
                           'grid, not the 1/4096 g one) multiplied by 4'] == QUARTER
    start, length = ds.segments[SEGMENTS.index((WALKING, 1))][:2]
    norm = np.linalg.norm(ds.signals[start:start + length, :3], axis=1)
    assert norm.min() > 0.45 * G                                        # no 0.25 g stretch left
    assert meta['repairs']['leading accelerometer/magnetometer rows of 0, 0, 0 (no reading yet) dropped'] \
        == LEADING_ZEROS
    assert meta['repairs']['SensorTag grid samples without all three sensors dropped'] > 0


def test_quarter_scale_detection():
    coarse = np.array([[4093, 7, -12]]) / 4096
    quarter = np.array([[4093, 7, -12], [4092, 0, 0], [4093, 8, 0], [4092, 4, 8]]) / 16384
    rows = np.concatenate([coarse, quarter, coarse])
    assert umafall.quarter_scale(rows).tolist() == [False, True, True, True, False, False]
    rounded = np.round(rows, 9)                                        # files that print 9 decimals
    assert umafall.quarter_scale(rounded).tolist() == [False, True, True, True, False, False]


# ---------------------------------------------------------------- the spreadsheet-mangled files

@pytest.mark.parametrize('text, value', [
    ('1.012.598.156.929.010', 1.01259815692901), ('111.562.180.519.104', 1.11562180519104),
    ('-1.044.823.527.336.120', -1.04482352733612), ('0.2684840559959412', 0.2684840559959412),
    ('-0.02148360945284367', -0.02148360945284367), ('10', 1.0), ('-15', -1.5), ('1', 1.0),
    ('-6,10E+10', 0.0)])
def test_digits_as_units(text, value):
    assert umafall.digits_as_units(text) == pytest.approx(value, rel=1e-15)


def test_spreadsheet_file_keeps_the_repaired_phone_only(tmp_path):
    meta, ds = convert(tmp_path)
    repairs = meta['repairs']
    for what, n in SPREADSHEET_REPAIRS.items():
        assert repairs[what] == n or n is None, what
    raw = (tmp_path / 'raw' / 'UMAFall_Dataset' / MANGLED).read_text()
    rows = [l.split(';') for l in raw.splitlines() if l.endswith(';0;0;')]
    big = sum(any(v.count('.') != 1 or v.lstrip('-').startswith(('1', '2')) for v in r[2:5]) for r in rows)
    assert repairs['smartphone rows of spreadsheet-mangled files re-read as d.ddd (values >= 1 g)'] == big > 10
    assert [tuple(s[3:]) for s in ds.segments if ds.subjects[s[3]] == '13'] == [(3, 0)]


def test_spreadsheet_repair_matches_a_clean_copy(tmp_path):
    _, ds = convert(tmp_path)
    start, length = ds.segments[-1][:2]
    mangled = np.array(ds.signals[start:start + length, :3])
    assert abs(np.linalg.norm(mangled, axis=1).mean() / G - 1) < 0.1
    write_clean_twin(tmp_path / 'raw')
    umafall.convert(tmp_path / 'raw', tmp_path / 'clean', subjects=[13])
    clean = PreparedDataset(tmp_path / 'clean' / 'umafall')
    assert [tuple(s[2:]) for s in clean.segments] == [(1, 0, l) for l in (0, 1, 3, 4)]   # the tags too
    np.testing.assert_allclose(mangled, clean.signals[:length, :3], atol=2e-3)       # -6.1e-5 g -> 0


def test_spreadsheet_phone_with_a_wide_range_is_dropped(tmp_path):
    raw = write_umafall(tmp_path / 'raw')
    path = data_file(raw, MANGLED)
    path.write_bytes(path.read_bytes().replace(b'Maximum Range: 2.0000000329864256 G',
                                               b'Maximum Range: 16.000000263891405 G'))
    meta = umafall.convert(raw, tmp_path / 'out')
    assert meta['subjects'] == ['1', '2', '10']
    assert meta['repairs']['smartphone rows of spreadsheet-mangled files dropped (magnitudes not recoverable)'] \
        == len(phone_stamps())


def test_spreadsheet_numbers_refused_in_a_clean_file(tmp_path):
    raw = write_umafall(tmp_path / 'raw')
    path = data_file(raw, JOGGING)
    edit_line(path, 50, lambda l: ';'.join(l.split(';')[:2] + ['1.012.598.156.929.010'] + l.split(';')[3:]))
    with pytest.raises(ConversionError, match=rf'{JOGGING}: line 50: expected numbers in X, Y, Z.*spreadsheet'):
        umafall.convert(raw, tmp_path / 'out')


# ---------------------------------------------------------------- inputs: zip, folder, subset, CLI

def test_zip_a_folder_down_and_the_inner_folder_convert_alike(tmp_path):
    zipped = umafall_zip(tmp_path / 'z')
    umafall.convert(zipped, tmp_path / 'a')
    holder = tmp_path / 'holder' / 'downloads'
    holder.mkdir(parents=True)
    shutil.copy(zipped, holder / zipped.name)
    umafall.convert(tmp_path / 'holder', tmp_path / 'b')                        # the zip one folder down
    umafall.convert(write_umafall(tmp_path / 'raw') / 'UMAFall_Dataset', tmp_path / 'c')
    expected = folder_bytes(tmp_path / 'a' / 'umafall')
    for out in 'bc':
        assert folder_bytes(tmp_path / out / 'umafall') == expected
    assert sorted(p.name for p in (tmp_path / 'b').iterdir()) == ['umafall']     # no extraction left


def test_subset_of_subjects(tmp_path):
    meta, ds = convert(tmp_path, subjects=['01', 10])
    assert meta['subjects'] == ['1', '10']
    assert [tuple(s[2:4]) for s in ds.segments] == [(0, 0)] * 3 + [(11, 0)] * 5 + [(6, 1)] * 5
    meta = umafall.convert(umafall_zip(tmp_path / 'z'), tmp_path / 'z_out', subjects=[2])
    assert meta['subjects'] == ['2'] and meta['source']['notes'][0] == '1 trial files: ADL 0, Fall 1'
    with pytest.raises(ConversionError, match=r'no trial files for subjects \[7\]'):
        umafall.convert(tmp_path / 'raw', tmp_path / 'out', subjects=[7])


# ---------------------------------------------------------------- bad input

def _mapping(raw):
    path = data_file(raw, FALL)
    edit_line(path, 31, lambda l: l.replace('; 2; WAIST;', '; 2; WRIST;'))
    return [FALL, 'line 31', 'Sensor_ID 2 is at WRIST', '2 WAIST']


def _description(raw):
    path = data_file(raw, JOGGING)
    edit_line(path, 12, lambda l: l.replace('Jogging', 'Walking'))
    return [JOGGING, 'line 12', 'Description of the movement: Walking', 'file name says Jogging']


def _unlisted_sensor(raw):
    path = data_file(raw, STILL)
    number = first_line_of(path, ';2;3')
    edit_line(path, number, lambda l: l[:-1] + '4')
    return [STILL, f'line {number}', 'Sensor ID 4 is not listed in the header table (IDs 0, 1, 2, 3)']


def _phone_gyro(raw):
    path = data_file(raw, WALKING)
    edit_line(path, 45, lambda l: l[:-3] + '1;0')
    return [WALKING, 'line 45', 'Sensor Type 1 on the smartphone']


def _short_line(raw):
    path = data_file(raw, FALL)
    number = first_line_of(path, ';1;2')
    edit_line(path, number, lambda l: l.rsplit(';', 2)[0])
    return [FALL, f'line {number}', 'expected 7 ;-separated values, found 5']


def _mixed_trailing(raw):
    path = data_file(raw, MANGLED)
    edit_line(path, 60, lambda l: l.replace(';\r', '\r'))
    return [MANGLED, 'line 60', 'a row without a trailing ";" among rows with one']


def _unknown_activity(raw):
    path = data_file(raw, STILL)
    path.rename(path.with_name(STILL.replace('Aplausing', 'Dancing')))
    return ['Dancing', 'ADL_Dancing is not one of ADL_Aplausing']


def _no_column_line(raw):
    path = data_file(raw, WALKING)
    edit_line(path, 41, lambda l: '% ' + ' ' * 20)
    return [WALKING, 'no "% TimeStamp; Sample No; ..." column line']


@pytest.mark.parametrize('breaks', [break_umafall, _mapping, _description, _unlisted_sensor, _phone_gyro,
                                    _short_line, _mixed_trailing, _unknown_activity, _no_column_line])
def test_bad_input_names_file_and_line(tmp_path, breaks):
    raw = write_umafall(tmp_path / 'raw')
    expected = breaks(raw)
    with pytest.raises(ConversionError) as err:
        umafall.convert(raw, tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_bad_input_in_the_zip_is_named_inside_it(tmp_path):
    src = write_umafall(tmp_path / 'src')
    expected = break_umafall(src)
    zipped = tmp_path / 'UMAFall_ADL.zip'
    with zipfile.ZipFile(zipped, 'w', zipfile.ZIP_BZIP2) as z:
        for p in sorted((src / 'UMAFall_Dataset').iterdir()):
            z.write(p, p.relative_to(src).as_posix())
    with pytest.raises(ConversionError) as err:
        umafall.convert(zipped, tmp_path / 'out')
    assert f'{zipped}!/UMAFall_Dataset/{expected[0]}: {expected[1]}:' in str(err.value)
