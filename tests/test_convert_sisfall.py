"""SisFall converter on tiny fixtures written like the release: SisFall_dataset/<subject>/<code>_<subject>_R<trial>.txt.
The CLI, determinism, the earlier copy kept, wrong folders, the zip and the folder holding it:
test_convert_contract.py."""
import math
import shutil
import zipfile

import numpy as np
import pytest

from datasets import sisfall
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_sisfall import (FILES, FIRST_ROW, GYRO_COUNTS, RAW_ROWS, break_sisfall, rows_of, sisfall_zip,
                              write_sisfall, write_trial)

OUT_ROWS = {key: math.ceil(n / 4) for key, n in RAW_ROWS.items()}     # 200 Hz -> 50 Hz
REPAIRS = {'file name names another subject; folder used': 1,
           'whitespace-only fragment after the last row ignored': 1}


def folder_bytes(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def convert(tmp_path, **kw):
    raw = write_sisfall(tmp_path / 'raw')
    meta = sisfall.convert(raw, tmp_path / 'out', **kw)
    return meta, PreparedDataset(tmp_path / 'out' / 'sisfall')


def segment_files(ds):
    """(label code, subject, tag in gyro z, length) per segment, tag read back from the signal."""
    tags = {tag: (f'{folder}/{name}' if name.startswith('D17') else name) for folder, name, _, _, tag in FILES}
    out = []
    for start, length, label, subject, layout in ds.segments:
        tag = float(np.median(ds.signals[start:start + length, 5]))
        tag_count = round(np.rad2deg(tag) / sisfall.GYRO_DEG_PER_COUNT)
        out.append((sisfall.CODES[label], ds.subjects[subject], tags[tag_count], int(length)))
    return out


def test_fixture_is_written_like_the_release(tmp_path):
    root = write_sisfall(tmp_path) / 'SisFall_dataset'
    data = (root / 'SA01' / 'D01_SA01_R01.txt').read_bytes()
    assert data.startswith(FIRST_ROW.encode() + b'\r\n') and data.endswith(b';\r\n')
    assert data.count(b'\r\n') == RAW_ROWS['SA01', 'D01_SA01_R01.txt']
    assert (root / 'SE15' / 'D17_SE15_R01.txt').read_bytes().endswith(b';\r\n  ')


def test_layout_channels_and_vocabulary(tmp_path):
    meta, ds = convert(tmp_path)
    assert len(ds.layouts) == 1 and ds.signals.shape[1] == 6
    layout = ds.layouts[0]
    assert [c.name for c in layout] == ['waist_acc_x', 'waist_acc_y', 'waist_acc_z',
                                        'waist_gyro_x', 'waist_gyro_y', 'waist_gyro_z']
    assert [c.unit for c in layout] == ['m/s^2'] * 3 + ['rad/s'] * 3
    assert {c.device for c in layout} == {'sisfall belt device'} and layout[0].gravity is True
    assert layout[0].description == ('sisfall belt device accelerometer on the waist, x axis, in m/s^2, '
                                     'gravity included')
    # fixed vocabulary: 19 ADL and 15 falls, in code order, whatever the files hold
    assert len(ds.labels) == 34 and len(set(ds.labels)) == 34
    assert ds.labels[0] == 'walking slowly' and ds.labels[16] == 'getting into and out of a car'
    assert ds.labels[19] == 'falling forward after slipping while walking'
    assert all(l == l.lower() and d.strip() for l, d in sisfall.LABELS.values())
    assert [l['segments'] for l in meta['labels']].count(0) == 34 - 6


def test_labels_subjects_and_segments(tmp_path):
    meta, ds = convert(tmp_path)
    assert ds.subjects == ['SA01', 'SA15', 'SE06', 'SE15']
    assert segment_files(ds) == [
        ('D01', 'SA01', 'D01_SA01_R01.txt', OUT_ROWS['SA01', 'D01_SA01_R01.txt']),
        ('D07', 'SA01', 'D07_SA01_R01.txt', OUT_ROWS['SA01', 'D07_SA01_R01.txt']),
        ('F01', 'SA01', 'F01_SA01_R01.txt', OUT_ROWS['SA01', 'F01_SA01_R01.txt']),
        ('D17', 'SA15', 'SA15/D17_SE15_R01.txt', OUT_ROWS['SA15', 'D17_SE15_R01.txt']),   # the folder's subject
        ('D05', 'SE06', 'D05_SE06_R02.txt', OUT_ROWS['SE06', 'D05_SE06_R02.txt']),
        ('F08', 'SE06', 'F08_SE06_R01.txt', OUT_ROWS['SE06', 'F08_SE06_R01.txt']),
        ('D17', 'SE15', 'SE15/D17_SE15_R01.txt', OUT_ROWS['SE15', 'D17_SE15_R01.txt']),
    ]
    assert ds.segments[:, 4].tolist() == [0] * 7
    assert meta['n_samples'] == sum(OUT_ROWS.values())
    assert meta['repairs'] == REPAIRS


def test_units(tmp_path):
    _, ds = convert(tmp_path)
    start, length = ds.segments[1, :2]                       # D07: still, ADXL345 (0, -256, 0) counts
    x = np.asarray(ds.signals[start:start + length])
    np.testing.assert_allclose(np.linalg.norm(x[:, :3], axis=1), G, rtol=1e-6)    # 9.80665 m/s^2
    np.testing.assert_allclose(x[:, 1], -G, rtol=1e-6)
    np.testing.assert_allclose(x[:, 3], np.deg2rad(500.0), rtol=1e-6)             # 8192 counts = 500 deg/s
    np.testing.assert_allclose(x[:, 4], np.deg2rad(-125.0), rtol=1e-6)
    assert GYRO_COUNTS[0] * 4000 / 65536 == 500.0
    counts = np.array([[17, -179, -99, -18, -504, -352, 76, -697, -279]])        # the real first row
    np.testing.assert_allclose(sisfall.to_units(counts)[0],
                               [17 * 32 / 8192 * G, -179 * 32 / 8192 * G, -99 * 32 / 8192 * G,
                                *np.deg2rad(np.array([-18, -504, -352]) * 4000 / 65536)])


def test_rate_option_keeps_every_row_at_200_hz(tmp_path):
    meta, ds = convert(tmp_path, rate_hz=200)
    assert meta['n_samples'] == sum(RAW_ROWS.values())
    start = ds.segments[0, 0]
    np.testing.assert_allclose(ds.signals[start, :3], np.array([17, -179, -99]) * 32 / 8192 * G, rtol=1e-5)


# ---------------------------------------------------------------- quirks, both sides

def test_misnamed_file_takes_the_folders_subject(tmp_path):
    meta, ds = convert(tmp_path, subjects=['SA15'])
    assert ds.subjects == ['SA15'] and len(ds.segments) == 1
    assert meta['repairs'] == {'file name names another subject; folder used': 1}


def test_same_trial_under_two_names_in_one_folder_is_refused(tmp_path):
    raw = write_sisfall(tmp_path / 'raw')
    folder = raw / 'SisFall_dataset' / 'SA15'
    shutil.copy(folder / 'D17_SE15_R01.txt', folder / 'D17_SA15_R01.txt')
    with pytest.raises(ConversionError, match=r'D17_SE15_R01.txt: SA15 already has D17 trial R01 in '
                                              r'D17_SA15_R01.txt; .* ambiguous'):
        sisfall.convert(raw, tmp_path / 'out')


def test_whitespace_fragment_ignored_but_truncated_last_row_refused(tmp_path):
    meta, _ = convert(tmp_path, subjects=['SE15'])
    assert meta['repairs'] == {'whitespace-only fragment after the last row ignored': 1}
    path = tmp_path / 'raw' / 'SisFall_dataset' / 'SE15' / 'D17_SE15_R01.txt'
    path.write_bytes(path.read_bytes() + b'  -5,-2')                      # a cut-off row, not spaces
    with pytest.raises(ConversionError, match=r'D17_SE15_R01.txt: line 73: expected 9 comma-separated'):
        sisfall.convert(tmp_path / 'raw', tmp_path / 'out')


def test_lf_line_endings_give_the_same_output(tmp_path):
    raw = write_sisfall(tmp_path / 'raw')
    sisfall.convert(raw, tmp_path / 'crlf')
    for path in (raw / 'SisFall_dataset').rglob('*_R0*.txt'):
        path.write_bytes(path.read_bytes().replace(b'\r\n', b'\n'))
    sisfall.convert(raw, tmp_path / 'lf')
    assert folder_bytes(tmp_path / 'crlf' / 'sisfall') == folder_bytes(tmp_path / 'lf' / 'sisfall')


def test_last_row_without_line_ending(tmp_path):
    raw = write_sisfall(tmp_path / 'raw')
    sisfall.convert(raw, tmp_path / 'a')
    path = raw / 'SisFall_dataset' / 'SA01' / 'D01_SA01_R01.txt'
    path.write_bytes(path.read_bytes()[:-2])
    sisfall.convert(raw, tmp_path / 'b')
    assert folder_bytes(tmp_path / 'a' / 'sisfall') == folder_bytes(tmp_path / 'b' / 'sisfall')


# ---------------------------------------------------------------- zip, folders, subsets, CLI

def test_zip_is_written_like_the_release(tmp_path):
    with zipfile.ZipFile(sisfall_zip(tmp_path / 'dist')) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_BZIP2}
        assert not any(i.is_dir() for i in z.infolist())


def test_inner_folder_converts_alike(tmp_path):
    unpacked = write_sisfall(tmp_path / 'raw')
    sisfall.convert(unpacked, tmp_path / 'a')
    sisfall.convert(unpacked / 'SisFall_dataset', tmp_path / 'b')
    assert folder_bytes(tmp_path / 'b' / 'sisfall') == folder_bytes(tmp_path / 'a' / 'sisfall')


def test_folder_with_several_zips_is_refused(tmp_path):
    holder = tmp_path / 'downloads'
    holder.mkdir()
    for name in ('a.zip', 'b.zip'):
        shutil.copy(sisfall_zip(tmp_path / name), holder / name)
    with pytest.raises(ConversionError, match='several zip archives'):
        sisfall.convert(holder, tmp_path / 'out')


def test_subjects_subset(tmp_path):
    meta, ds = convert(tmp_path, subjects=['se06', 'SA01'])
    assert ds.subjects == ['SA01', 'SE06'] and len(ds.segments) == 5
    assert meta['repairs'] == {}
    with pytest.raises(ConversionError, match='no trial files'):
        sisfall.convert(tmp_path / 'raw', tmp_path / 'out', subjects=['SA02'])


# ---------------------------------------------------------------- bad input

D07 = ('SA01', 'D07_SA01_R01.txt')


def edit_line(raw, where, lineno, edit):
    path = raw / 'SisFall_dataset' / where[0] / where[1]
    lines = path.read_bytes().decode('ascii').split('\r\n')
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_bytes('\r\n'.join(lines).encode('ascii'))


def _short_row(raw):
    return break_sisfall(raw) + ['expected 9 comma-separated integers']


def _missing_semicolon(raw):
    edit_line(raw, D07, 9, lambda l: l.rstrip(';'))
    return ['D07_SA01_R01.txt', 'line 9', "ending in ';'"]


def _missing_semicolon_lf(raw):
    edit_line(raw, D07, 9, lambda l: l.rstrip(';'))
    path = raw / 'SisFall_dataset' / D07[0] / D07[1]
    path.write_bytes(path.read_bytes().replace(b'\r\n', b'\n'))
    return ['D07_SA01_R01.txt', 'line 9', "ending in ';'"]


def _not_a_number(raw):
    edit_line(raw, ('SE06', 'D05_SE06_R02.txt'), 12, lambda l: l.replace('-256', ' 2.5', 1))
    return ['D05_SE06_R02.txt', 'line 12', "found ' "]


def _extra_value(raw):
    edit_line(raw, D07, 80, lambda l: l[:-1] + ',   0;')
    return ['D07_SA01_R01.txt', 'line 80', 'integers']


def _semicolon_inside(raw):
    edit_line(raw, D07, 3, lambda l: l.replace(',', ';', 1))
    return ['D07_SA01_R01.txt', 'line 3']


def _header_added(raw):
    path = raw / 'SisFall_dataset' / 'SA01' / 'D01_SA01_R01.txt'
    path.write_bytes(b'ax,ay,az,gx,gy,gz,bx,by,bz\r\n' + path.read_bytes())
    return ['D01_SA01_R01.txt', 'line 1', "'ax,ay,az"]


def _outside_adc_range(raw):
    edit_line(raw, ('SE15', 'D17_SE15_R01.txt'), 30, lambda l: '5000' + l[4:])
    return ['D17_SE15_R01.txt', 'line 30', 'column 1 holds 5000', '-4096..4095']


def _unknown_code(raw):
    folder = raw / 'SisFall_dataset' / 'SA01'
    shutil.move(folder / 'D07_SA01_R01.txt', folder / 'D20_SA01_R01.txt')
    return ['D20_SA01_R01.txt', 'unknown activity code D20']


def _unexpected_file(raw):
    (raw / 'SisFall_dataset' / 'SE06' / 'Thumbs.db').write_text('ignored')
    (raw / 'SisFall_dataset' / 'SE06' / 'notes.txt').write_text('x')
    return ['notes.txt', 'unexpected file']


def _empty_file(raw):
    write_trial(raw / 'SisFall_dataset' / 'SE06' / 'D06_SE06_R01.txt', [], newline='')
    return ['D06_SE06_R01.txt', 'empty file']


@pytest.mark.parametrize('breaks', [_short_row, _missing_semicolon, _missing_semicolon_lf, _not_a_number,
                                    _extra_value, _semicolon_inside, _header_added, _outside_adc_range,
                                    _unknown_code, _unexpected_file, _empty_file])
def test_bad_input_names_file_and_line(tmp_path, breaks):
    raw = write_sisfall(tmp_path / 'raw')
    expected = breaks(raw)
    with pytest.raises(ConversionError) as err:
        sisfall.convert(raw, tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)


def test_bad_row_in_the_zip_names_the_member_and_line(tmp_path):
    src = write_sisfall(tmp_path / 'src')
    expected = break_sisfall(src)
    zipped = tmp_path / 'SisFall_dataset.zip'
    with zipfile.ZipFile(zipped, 'w', zipfile.ZIP_BZIP2) as z:
        for p in sorted(src.rglob('*')):
            if p.is_file():
                z.write(p, p.relative_to(src).as_posix())
    with pytest.raises(ConversionError) as err:
        sisfall.convert(zipped, tmp_path / 'out')
    assert f'{zipped}!/SisFall_dataset/SA01/D07_SA01_R01.txt: line 5' in str(err.value)
    assert all(text in str(err.value) for text in expected)


def test_rows_helper_matches_the_real_number_format():
    assert rows_of(1, 'still', 7)[0] == '   0,-256,   0,8192,-2048,   7,   0,-1024,   0;'
