"""KU-HAR converter on tiny fixtures: <id>.<Name>/<subject>_<letter>_<trial>.csv, 8 columns.
The CLI, determinism, the earlier copy kept and wrong folders: test_convert_contract.py."""
import numpy as np
import pytest

from datasets import ku_har
from datasets.format import ConversionError, PreparedDataset
from fixtures_ku_har import RAW, table, write_csv, write_ku_har


def write_raw(root, folder=RAW, **kw):
    """The fixture under `root`; -> the class folders' parent (KU-HAR/<folder>)."""
    return write_ku_har(root, folder, **kw) / folder


def test_convert_shapes_labels_units(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
    ds = PreparedDataset(tmp_path / 'out' / 'ku_har')
    assert ds.signals.shape[1] == 6 and ds.rate_hz == 50
    assert [c.unit for c in ds.layouts[0]] == ['m/s^2'] * 3 + ['rad/s'] * 3
    assert ds.layouts[0][0].gravity is True and ds.layouts[0][0].placement == 'waist'
    seg = ds.segments
    assert [ds.labels[i] for i in seg[:, 2]] == ['standing', 'walking', 'walking backwards']
    assert [ds.subjects[i] for i in seg[:, 3]] == ['1001', '1002', '1001']
    assert all(99 <= n <= 100 for n in seg[:, 1])            # 2 s at 100 Hz -> ~100 samples at 50 Hz
    assert len(ds.labels) == 18 and ds.labels[16] == 'walking downstairs'
    notes = ' '.join(meta['source']['notes'])
    assert '2 files in seconds, 1 in milliseconds' in notes
    assert '~9.8 in 3 files' in notes and 'gravity included' in notes
    np.testing.assert_allclose(np.linalg.norm(ds.signals[:, :3], axis=1).mean(), 9.7, atol=0.3)
    assert meta['repairs'] == {}


def test_gravity_removed_is_detected(tmp_path):
    write_raw(tmp_path / 'raw', gravity=False)
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
    ds = PreparedDataset(tmp_path / 'out' / 'ku_har')
    assert ds.layouts[0][0].gravity is False
    assert 'channels marked gravity removed' in meta['source']['notes'][-1]


def test_trimmed_folder_and_walk_backward_spelling(tmp_path):
    write_raw(tmp_path / 'raw', folder='2.Trimmed_raw_data', walk_backwards='12.Walk-backward')
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
    assert meta['labels'][12]['segments'] == 1
    assert meta['source']['notes'][0] == 'read from 2.Trimmed_raw_data'


def test_raw_folder_is_preferred_to_the_trimmed_one(tmp_path):
    write_raw(tmp_path / 'raw')
    trimmed = write_raw(tmp_path / 'raw', folder='2.Trimmed_raw_data')
    write_csv(trimmed / '0.Stand' / '1001_A_1.csv', table(n=50, seed=1))         # trimmed: a shorter file
    write_csv(trimmed / '14.Run' / '1003_O_1.csv', table(seed=4))               # and one the raw folder lacks
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
    ds = PreparedDataset(tmp_path / 'out' / 'ku_har')
    assert meta['subjects'] == ['1001', '1002'] and meta['labels'][14]['segments'] == 0
    assert ds.segments[0, 1] >= 99                                              # the full 2 s standing file
    assert meta['source']['notes'][0] == f'read from {RAW}'


def test_unusable_time_column_assumes_nominal_rate(tmp_path):
    base = write_raw(tmp_path / 'raw')
    rows = table(n=200)
    rows[:, [0, 4]] = 0.0
    write_csv(base / '0.Stand' / '1001_A_1.csv', rows)
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
    assert meta['repairs'] == {'files with unusable time columns, nominal 100 Hz assumed': 1}
    ds = PreparedDataset(tmp_path / 'out' / 'ku_har')
    assert ds.segments[0, 1] == 100                          # 200 rows at 100 Hz


def test_repeated_timestamps_and_gaps(tmp_path):
    base = write_raw(tmp_path / 'raw')
    rows = table(n=300)
    rows[10, 0] = rows[9, 0]                                 # a repeated accelerometer stamp
    rows[150:, [0, 4]] += 2.0                                # a 2-s gap: two recordings
    write_csv(base / '0.Stand' / '1001_A_1.csv', rows)
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
    assert meta['repairs'] == {'samples with a repeated or backward timestamp dropped': 1,
                               'recordings split at time gaps over 1 s': 1}
    assert meta['labels'][0]['segments'] == 2


def test_folder_extracted_into_its_own_name(tmp_path):
    base = write_raw(tmp_path / 'raw')
    nested = base / RAW
    nested.mkdir()
    for folder in [p for p in base.iterdir() if p != nested]:
        folder.rename(nested / folder.name)
    assert ku_har.convert(tmp_path / 'raw', tmp_path / 'out')['n_samples'] > 0


def test_subject_subset(tmp_path):
    write_raw(tmp_path / 'raw')
    meta = ku_har.convert(tmp_path / 'raw', tmp_path / 'out', subjects=[1002])
    assert meta['subjects'] == ['1002'] and meta['labels'][11]['segments'] == 1


# ---------------------------------------------------------------- bad input

def test_wrong_folder_names_both_accepted_folders(tmp_path):
    (tmp_path / 'other').mkdir()
    with pytest.raises(ConversionError) as err:
        ku_har.convert(tmp_path / 'other', tmp_path / 'out')
    assert '"1.Raw_time_domian_data"' in str(err.value) and '"2.Trimmed_raw_data"' in str(err.value)


def test_no_csv_files(tmp_path):
    (tmp_path / 'raw' / RAW / '0.Stand').mkdir(parents=True)
    with pytest.raises(ConversionError, match='no <subject>_<letter>_<trial>.csv files'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')


def test_unknown_class_folder(tmp_path):
    base = write_raw(tmp_path / 'raw')
    write_csv(base / '18.Dance' / '1001_S_1.csv', table())
    with pytest.raises(ConversionError, match=r'18.Dance: unexpected folder; expected <id>.<Name> with ids 0..17'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')


def test_class_name_must_match_id(tmp_path):
    base = write_raw(tmp_path / 'raw')
    write_csv(base / '3.Run' / '1001_D_1.csv', table())
    with pytest.raises(ConversionError, match='3.Run: class 3 should be Talk-stand'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')


def test_truncated_line(tmp_path):
    base = write_raw(tmp_path / 'raw')
    path = base / '11.Walk' / '1002_L_1.csv'
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit(',', 1)[0]
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ConversionError, match=r'1002_L_1.csv: line 5: expected 8 values, found 7'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')


def test_infinite_value(tmp_path):
    base = write_raw(tmp_path / 'raw')
    rows = table()
    rows[20, 6] = np.inf
    write_csv(base / '11.Walk' / '1002_L_1.csv', rows)
    with pytest.raises(ConversionError, match=r'1002_L_1.csv: line 21: expected finite numbers'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')


def test_wrong_column_count(tmp_path):
    base = write_raw(tmp_path / 'raw')
    write_csv(base / '11.Walk' / '1002_L_1.csv', np.ones((50, 9)))
    with pytest.raises(ConversionError, match=r'1002_L_1.csv: expected 8 columns, found 9'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')


def test_bad_file_name(tmp_path):
    base = write_raw(tmp_path / 'raw')
    write_csv(base / '0.Stand' / 'subject_A_1.csv', table())
    with pytest.raises(ConversionError, match='subject_A_1.csv: file name should be'):
        ku_har.convert(tmp_path / 'raw', tmp_path / 'out')
