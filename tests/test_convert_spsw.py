"""spsw converter on tiny fixtures copying the real layout: DATA/sXX/sXX_YY_{sp,sw}.csv.
The CLI, determinism, the earlier copy kept and wrong folders: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import spsw
from datasets.format import ConversionError, PreparedDataset
from fixtures_raw_a import folder_bytes
from fixtures_spsw import HEADER, SEQUENCE, recording, write_csv
from fixtures_spsw import write_spsw as write_raw


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
    assert meta['source']['notes'] == ['phone orientation per execution (executions_info.csv): back 1, back_inv 2',
                                       'devices: sp, sw; resampled from timestamps']


def test_executions_info_is_optional_and_only_summarised(tmp_path):
    data = write_raw(tmp_path / 'raw')
    spsw.convert(tmp_path / 'raw', tmp_path / 'with')
    (data / 'executions_info.csv').unlink()
    meta = spsw.convert(tmp_path / 'raw', tmp_path / 'without')
    assert meta['source']['notes'][0] == 'executions_info.csv not found: phone orientations not summarised'
    with_info, without = folder_bytes(tmp_path / 'with' / 'spsw'), folder_bytes(tmp_path / 'without' / 'spsw')
    assert with_info['signals.bin'] == without['signals.bin'] and with_info['segments.npy'] == without['segments.npy']


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


# ---------------------------------------------------------------- bad input

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
