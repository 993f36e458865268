"""spsw converter on tiny fixtures copying the real layout: DATA/sXX/sXX_YY_{sp,sw}.csv."""
import numpy as np
import pytest

from datasets import spsw
from datasets.format import ConversionError, PreparedDataset
from datasets.prepare import main as prepare_main

HEADER = 'x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label'
SEQUENCE = [('SEATED', 1.0), ('STANDING_UP', 1.0), ('WALKING', 2.0), ('TURNING', 1.0),
            ('WALKING', 2.0), ('TURNING', 1.0), ('SITTING_DOWN', 1.0), ('SEATED', 0.5)]
START_MS = 1657533977813


def recording(seed, duplicates=5):
    """Lines of one execution: jittered ~100 Hz unix-ms stamps, `duplicates` repeated stamps."""
    rng = np.random.default_rng(seed)
    total_ms = sum(d for _, d in SEQUENCE) * 1000
    steps = rng.choice([9, 10, 11], size=int(total_ms / 10))
    steps[rng.choice(np.arange(1, len(steps)), duplicates, replace=False)] = 0
    t = START_MS + seed * 100_000 + np.cumsum(steps) - steps[0]
    ends = np.cumsum([d for _, d in SEQUENCE]) * 1000
    label = [SEQUENCE[min(np.searchsorted(ends, ms - t[0], side='right'), len(SEQUENCE) - 1)][0]
             for ms in t]
    moving = np.array([name != 'SEATED' for name in label])
    acc = 0.05 * rng.standard_normal((len(t), 3)) + [-4.16, -1.18, -8.99]
    acc[moving] += 2.0 * np.sin(t[moving, None] / 80.0 + np.arange(3))
    gyro = 0.01 * rng.standard_normal((len(t), 3)) + moving[:, None] * 0.5
    return [','.join(f'{v:.15g}' for v in (*a, *g)) + f',{ms},{name}'
            for a, g, ms, name in zip(acc, gyro, t, label)]


def write_csv(path, lines, header=HEADER):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join([header] + lines) + '\n')


def write_raw(root):
    data = root / 'sp-sw-har-dataset' / 'DATA'
    for s, executions in ((1, 2), (2, 1)):
        for e in range(1, executions + 1):
            for k, device in enumerate(('sp', 'sw')):
                write_csv(data / f's{s:02d}' / f's{s:02d}_{e:02d}_{device}.csv', recording(10 * s + 2 * e + k))
    (data / 'executions_info.csv').write_text('execution_id,orientation,first_turn,second_turn\n'
                                             's01_01,back_inv,l,r\ns01_02,back,r,r\ns02_01,back_inv,l,r\n')
    return data


def folder_bytes(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_convert_shapes_labels_units(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = spsw.convert(tmp_path / 'raw', tmp_path / 'out')
    ds = PreparedDataset(tmp_path / 'out' / 'spsw')
    assert ds.signals.shape[1] == 6 and ds.rate_hz == 50
    assert [(l[0].device, l[0].placement) for l in ds.layouts] == [('smartphone', 'trouser pocket'),
                                                                 ('smartwatch', 'wrist')]
    assert [c.unit for c in ds.layouts[1]] == ['m/s^2'] * 3 + ['rad/s'] * 3
    assert ds.labels == ['sitting', 'standing up', 'walking', 'turning', 'sitting down']
    assert ds.subjects == ['s01', 's02']
    seg = ds.segments
    assert len(seg) == 6 * len(SEQUENCE) and seg[:, 4].tolist() == ([0] * 8 + [1] * 8) * 3
    expected = [spsw.RAW_LABELS.index(name) for name, _ in SEQUENCE]
    assert seg[:8, 2].tolist() == expected
    durations = np.array([d for _, d in SEQUENCE]) * 50
    assert np.abs(seg[:8, 1] - durations).max() <= 2           # label changes at the right time
    assert meta['repairs'] == {'samples with a repeated or backward timestamp dropped': 6 * 5}
    still = ds.signals[seg[0, 0]:seg[0, 0] + seg[0, 1], :3]
    assert abs(np.linalg.norm(still, axis=1).mean() - 9.98) < 0.1
    assert meta['source']['notes'][0].endswith('(executions_info.csv): back 1, back_inv 2')


def test_devices_and_subjects(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = spsw.convert(tmp_path / 'raw', tmp_path / 'out', devices=('sw',), subjects=[2])
    ds = PreparedDataset(tmp_path / 'out' / 'spsw')
    assert len(ds.layouts) == 1 and ds.layouts[0][0].device == 'smartwatch'
    assert meta['subjects'] == ['s02'] and len(ds.segments) == len(SEQUENCE)
    meta = spsw.convert(tmp_path / 'raw', tmp_path / 'out', devices=('sp',), subjects=['s01'])
    assert meta['subjects'] == ['s01'] and meta['layouts'][0][0]['device'] == 'smartphone'


def test_time_gap_splits_a_file(tmp_path):
    data = write_raw(tmp_path / 'raw')
    lines = recording(1)
    head, tail = lines[:300], lines[300:]          # 3 s in: while walking
    tail = [l.replace(f',{l.split(",")[6]},', f',{int(l.split(",")[6]) + 5000},') for l in tail]
    write_csv(data / 's01' / 's01_01_sp.csv', head + tail)
    spsw.convert(tmp_path / 'raw', tmp_path / 'out', devices=('sp',), subjects=[1])
    seg = PreparedDataset(tmp_path / 'out' / 'spsw').segments
    assert len(seg) == 2 * len(SEQUENCE) + 1                   # the walking run is cut in two


def test_empty_values_are_interpolated(tmp_path):
    data = write_raw(tmp_path / 'raw')
    lines = recording(1, duplicates=0)
    for i in (50, 51):
        lines[i] = ',' + lines[i].split(',', 1)[1]              # x_acc missing
    write_csv(data / 's01' / 's01_01_sp.csv', lines)
    meta = spsw.convert(tmp_path / 'raw', tmp_path / 'out', devices=('sp',), subjects=[1])
    assert meta['repairs']['NaN values interpolated'] == 2
    assert not np.isnan(PreparedDataset(tmp_path / 'out' / 'spsw').signals).any()


def test_cli(tmp_path, capsys):
    write_raw(tmp_path / 'raw')
    prepare_main(['spsw', '--raw', str(tmp_path / 'raw'), '--out', str(tmp_path / 'out')])
    assert 'spsw: ' in capsys.readouterr().out


def test_deterministic(tmp_path):
    write_raw(tmp_path / 'raw')
    spsw.convert(tmp_path / 'raw', tmp_path / 'a')
    spsw.convert(tmp_path / 'raw', tmp_path / 'b')
    assert folder_bytes(tmp_path / 'a' / 'spsw') == folder_bytes(tmp_path / 'b' / 'spsw')


# ---------------------------------------------------------------- bad input

def test_wrong_folder(tmp_path):
    (tmp_path / 'raw').mkdir()
    with pytest.raises(ConversionError, match='expected to find'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')


def test_wrong_header(tmp_path):
    data = write_raw(tmp_path / 'raw')
    write_csv(data / 's02' / 's02_01_sw.csv', recording(1), header=HEADER.replace('timestamp,', ''))
    with pytest.raises(ConversionError, match='s02_01_sw.csv: line 1: expected the header'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unknown_label(tmp_path):
    data = write_raw(tmp_path / 'raw')
    lines = recording(1)
    lines[20] = lines[20].replace('SEATED', 'JUMPING')
    write_csv(data / 's01' / 's01_02_sp.csv', lines)
    with pytest.raises(ConversionError, match=r's01_02_sp.csv: line 22: label "JUMPING" is not one of SEATED'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')


def test_truncated_line(tmp_path):
    data = write_raw(tmp_path / 'raw')
    lines = recording(1)
    lines[-1] = lines[-1][:30]
    write_csv(data / 's01' / 's01_01_sw.csv', lines)
    with pytest.raises(ConversionError, match=rf's01_01_sw.csv: line {len(lines) + 1}: expected 8 values, found'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')


def test_malformed_number(tmp_path):
    data = write_raw(tmp_path / 'raw')
    lines = recording(1)
    lines[9] = 'abc' + lines[9]
    write_csv(data / 's01' / 's01_01_sp.csv', lines)
    with pytest.raises(ConversionError, match=r's01_01_sp.csv: line 11: expected 7 numbers and a label'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unexpected_file(tmp_path):
    data = write_raw(tmp_path / 'raw')
    write_csv(data / 's02' / 's02_01_phone.csv', recording(1))
    with pytest.raises(ConversionError, match='s02_01_phone.csv: unexpected file'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')


def test_bad_devices_argument(tmp_path):
    write_raw(tmp_path / 'raw')
    with pytest.raises(ConversionError, match='devices must be'):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out', devices=('phone',))


def test_failed_conversion_keeps_earlier_copy(tmp_path):
    data = write_raw(tmp_path / 'raw')
    spsw.convert(tmp_path / 'raw', tmp_path / 'out')
    before = folder_bytes(tmp_path / 'out' / 'spsw')
    write_csv(data / 's02' / 's02_01_sw.csv', ['1,2,3'])          # fails after s01 was written
    with pytest.raises(ConversionError):
        spsw.convert(tmp_path / 'raw', tmp_path / 'out')
    assert folder_bytes(tmp_path / 'out' / 'spsw') == before
    assert [p.name for p in (tmp_path / 'out').iterdir()] == ['spsw']
