"""HAPT converter on tiny fixtures written like the UCI release: RawData/{acc,gyro}_expXX_userYY.txt and labels.txt.
The CLI, determinism, the earlier copy kept and wrong folders: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import hapt
from datasets.format import G, ConversionError, PreparedDataset
from fixtures_hapt import EXPERIMENTS, GYRO_X, STILL_ACC, break_hapt, file_stem, write_hapt

# (label text or None, length, subject) per segment: exp01 (user 1), exp02 (user 1), exp03 (user 2)
EXPECTED = [(None, 20, '1'), ('standing', 80, '1'), (None, 20, '1'), ('walking', 80, '1'), (None, 20, '1'),
            (None, 10, '1'), ('sitting', 80, '1'), ('sit to stand', 20, '1'), (None, 20, '1'),
            ('lying', 100, '2')]


def convert(tmp_path, **kw):
    raw = write_hapt(tmp_path / 'raw')
    meta = hapt.convert(raw, tmp_path / 'out', **kw)
    return raw, meta, PreparedDataset(tmp_path / 'out' / 'hapt')


def test_fixture_is_written_like_the_release(tmp_path):
    raw = write_hapt(tmp_path) / 'RawData'
    first = (raw / 'acc_exp01_user01.txt').read_text().split('\n')[0].split(' ')
    assert len(first) == 3 and all(len(v.split('.')[1]) == 9 for v in first)
    assert [float(v) for v in first] == list(STILL_ACC)
    assert (raw / 'labels.txt').read_text().split('\n')[:2] == ['1 1 5 21 100', '1 1 1 121 200']
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        [f'{kind}_{file_stem(e, u)}.txt' for e, u, _, _ in EXPERIMENTS for kind in ('acc', 'gyro')] + ['labels.txt'])


def test_segments_labels_subjects(tmp_path):
    _, meta, ds = convert(tmp_path)
    got = [(ds.labels[l] if l >= 0 else None, n, ds.subjects[s]) for _, n, l, s, _ in ds.segments]
    assert got == EXPECTED                                   # rows no labels.txt line covers: unlabelled
    assert ds.signals.shape == (sum(rows for _, _, rows, _ in EXPERIMENTS), 6) and ds.rate_hz == 50
    assert ds.labels[:6] == ['walking', 'walking upstairs', 'walking downstairs', 'sitting', 'standing', 'lying']
    assert len(ds.labels) == 12 and ds.labels.index('sit to stand') == 7            # code 8
    assert ds.subjects == ['1', '2'] and meta['repairs'] == {}
    assert [c.name for c in ds.layouts[0]] == [f'waist_{s}_{a}' for s in ('acc', 'gyro') for a in 'xyz']
    assert [c.unit for c in ds.layouts[0]] == ['m/s^2'] * 3 + ['rad/s'] * 3 and ds.layouts[0][0].gravity is True


def test_units(tmp_path):
    _, _, ds = convert(tmp_path)
    x, seg = np.asarray(ds.signals), ds.segments
    for k, (exp, *_rest) in zip((1, 6, 9), EXPERIMENTS):    # a still segment of each experiment
        start, length = seg[k, :2]
        still = x[start:start + length]
        np.testing.assert_allclose(still[:, :3], np.tile(np.array(STILL_ACC) * G, (length, 1)), rtol=1e-6)  # g
        np.testing.assert_allclose(still[:, 3], GYRO_X[exp], rtol=1e-6)                     # rad/s, as is
    start, length = seg[3, :2]                                                           # walking moves
    assert np.ptp(x[start:start + length, 0]) > 0.5 * G


def test_subject_subset_and_rate(tmp_path):
    raw, meta, _ = convert(tmp_path, subjects=[2])
    assert meta['subjects'] == ['2'] and meta['n_samples'] == 100
    assert hapt.convert(raw, tmp_path / 'text', subjects=['2'])['subjects'] == ['2']   # ids as text too
    meta = hapt.convert(raw, tmp_path / 'half', rate_hz=25)
    assert meta['rate_hz'] == 25 and meta['n_samples'] == 110 + 65 + 50


# ---------------------------------------------------------------- bad input

def _labels(raw, lineno, text):
    path = raw / 'RawData' / 'labels.txt'
    lines = path.read_text().split('\n')
    lines[lineno - 1] = text
    path.write_text('\n'.join(lines))


def _rows(raw, name, n):
    path = raw / 'RawData' / name
    path.write_text(''.join(path.read_text().splitlines(keepends=True)[:n]))


@pytest.mark.parametrize('breaks, expected', [
    (break_hapt, ['gyro_exp03_user02.txt', 'line 7', 'expected 3 values, found 2']),
    (lambda raw: _labels(raw, 3, '2 1 13 11 90'), ['labels.txt', 'line 3', 'activity code 13', '1..12']),
    (lambda raw: _labels(raw, 4, '2 1 8 110 91'), ['labels.txt', 'line 4', 'bad sample range 110..91']),
    (lambda raw: _labels(raw, 2, '1 1 1 121.5 200'), ['labels.txt', 'expected integers only']),
    (lambda raw: _labels(raw, 5, '3 1 6 1 100'), ['labels.txt', 'experiment 3 listed for user 1',
                                                  'files are for user 2']),
    (lambda raw: _labels(raw, 5, '3 2 6 1 101'), ['labels.txt', 'experiment 3 segment ends at sample 101',
                                                  'acc_exp03_user02.txt has only 100 rows']),
    (lambda raw: _rows(raw, 'gyro_exp02_user01.txt', 129), ['gyro_exp02_user01.txt', '129 rows',
                                                            'acc_exp02_user01.txt has 130']),
    (lambda raw: (raw / 'RawData' / 'gyro_exp01_user01.txt').unlink(), ['gyro_exp01_user01.txt', 'file not found']),
    (lambda raw: [p.unlink() for p in (raw / 'RawData').glob('acc_*')], ['RawData', 'no acc_expXX_userYY.txt files']),
])
def test_bad_input_names_the_file(tmp_path, breaks, expected):
    raw = write_hapt(tmp_path / 'raw')
    breaks(raw)
    with pytest.raises(ConversionError) as err:
        hapt.convert(raw, tmp_path / 'out')
    for text in expected:
        assert text in str(err.value)
