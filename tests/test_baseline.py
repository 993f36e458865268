"""baseline.py, the naive reference: one seed is deterministic, several are summarised by
their mean and standard deviation, and a bad --seeds is a clear error. Runs on the shipped
sample (1 epoch), so it needs no prepared data."""
import json

import numpy as np
import pytest

import baseline
from checks import assert_relabelled_as_partners, spy_reverse_partnered

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def run(tmp_path, empty_data_root, seeds, name):
    out = tmp_path / f'{name}.json'
    res = baseline.main(['--data_root', str(empty_data_root), '--epochs', '1', '--seeds', seeds, '--out', str(out)])
    assert json.loads(out.read_text())['macro_f1'] == pytest.approx(res['macro_f1'])
    return res


def test_seeds_are_summarised_and_each_seed_is_reproducible(tmp_path, empty_data_root, text_model_once):
    both = run(tmp_path, empty_data_root, '0,1', 'both')
    assert both['seeds'] == [0, 1] and [r['recipe']['seed'] for r in both['runs']] == [0, 1]
    f1 = np.array([r['macro_f1'] for r in both['runs']])
    assert both['macro_f1'] == pytest.approx(f1.mean())
    assert both['macro_f1_sd'] == pytest.approx(f1.std(ddof=1))
    assert all(0 <= r['macro_f1'] <= 1 and r['n_windows'] == both['n_windows'] > 0 for r in both['runs'])
    again = run(tmp_path, empty_data_root, '1', 'one')                   # seed 1 alone: the same run
    assert again['macro_f1'] == both['runs'][1]['macro_f1']
    assert again['confusion'] == both['runs'][1]['confusion']


def test_bad_seeds_is_a_clear_error(empty_data_root):
    with pytest.raises(SystemExit, match="baseline.py: argument --seeds: expected comma-separated values, each an integer >= 0, got '0,x'"):
        baseline.main(['--data_root', str(empty_data_root), '--seeds', '0,x'])


def test_invariant_frame_with_rotation_is_a_clear_error(empty_data_root, capsys):
    with pytest.raises(SystemExit):
        baseline.main(['--data_root', str(empty_data_root), '--input_frame', 'invariant'])   # default so3
    assert 'pass --rotation=none' in capsys.readouterr().err


def test_a_training_dataset_is_scored_on_its_held_out_subjects_only(empty_data_root, text_model_once):
    from datasets.loader import HARData, open_datasets
    res = baseline.main(['--data_root', str(empty_data_root), '--epochs', '1', '--train', 'hapt', '--eval', 'hapt',
                         '--rotation', 'gravity', '--input_frame', 'gravity'])
    ds = open_datasets(['hapt'], empty_data_root)
    held = HARData(ds, 2.5, 10.0, hop_s=1.25, seed=0, labelled_only=True).split_subjects['test']['hapt']
    assert held and res['protocol'] == f'seen: held-out subjects {held}, not zero-shot'

    def n_windows(subjects):
        idx = [ds[0].subjects.index(s) for s in subjects]
        return len(HARData(ds, 2.5, 10.0, hop_s=2.5, min_window_s=1.25, labelled_only=True,
                           subjects_override={'hapt': {'train': [], 'val': [], 'test': idx}}).windows['test'])
    assert res['n_windows'] == n_windows(held) < n_windows(ds[0].subjects)
    assert res['labels'] == ds[0].labels
    assert sum(int(v.split('/')[1]) for v in res['per_class_recall'].values()) == res['n_windows']


def test_hybrid_frame_feeds_both_halves_to_the_cnn(empty_data_root, text_model_once):
    """--input_frame hybrid: the recorded channels (rotated) and their invariant copies, each
    half padded to the widest dataset, so the CNN sees twice the channels."""
    res = baseline.main(['--data_root', str(empty_data_root), '--epochs', '1', '--input_frame', 'hybrid'])
    assert res['recipe']['input_frame'] == 'hybrid' and res['recipe']['rotation'] == 'so3'
    assert res['n_windows'] > 0 and 0 <= res['macro_f1'] <= 1


def test_tta_rotations_are_reported_beside_the_plain_figures(tmp_path, empty_data_root, text_model_once):
    """--tta_rotations: the same trained CNN scored both ways, per seed and in the summary."""
    args = ['--data_root', str(empty_data_root), '--epochs', '1']
    plain = baseline.main(args + ['--seeds', '0'])
    both = baseline.main(args + ['--seeds', '0,1', '--tta_rotations', '4'])
    first = both['runs'][0]
    assert first['macro_f1'] == plain['macro_f1'] and first['confusion'] == plain['confusion']   # plain unchanged
    assert first['tta']['views'] == 4 and 0 <= first['tta']['macro_f1'] <= 1
    assert np.array(first['tta']['confusion']).sum() == first['n_windows']
    assert both['tta_macro_f1'] == pytest.approx(np.mean([r['tta']['macro_f1'] for r in both['runs']]))
    with pytest.raises(SystemExit):
        baseline.main(args + ['--rotation', 'none', '--tta_rotations', '4'])


def test_time_reversal_relabels_reversed_transitions(empty_data_root, text_model_once, monkeypatch):
    """--time_reversal: windows of classes with a reversed partner are played backwards and
    trained as the partner; the rest pass unchanged. Bad probabilities are refused."""
    seen = spy_reverse_partnered(monkeypatch)
    res = baseline.main(['--data_root', str(empty_data_root), '--epochs', '1', '--time_reversal', '1'])
    assert seen and 0 <= res['macro_f1'] <= 1
    assert seen[0][3] == 1.0 and (seen[0][2] >= 0).sum() == 6              # HAPT's six transitions
    assert_relabelled_as_partners(seen)
    with pytest.raises(SystemExit):
        baseline.main(['--data_root', str(empty_data_root), '--time_reversal', '1.5'])


def test_conditions_are_scored_where_they_apply(empty_data_root, text_model_once, tmp_path):
    res = baseline.main(['--train', 'hapt', '--eval', 'spsw', '--data_root', str(empty_data_root), '--epochs', '1',
                         '--seeds', '0,1', '--conditions', 'all', '--out', str(tmp_path / 'r.json')])
    table = res['conditions']
    assert not table['25 Hz']['applies'] and not table['10 Hz']['applies']    # the reference runs at 10 Hz
    for name in ('as recorded', 'accelerometer only', 'gravity removed', '2 s windows', '1 s windows'):
        assert table[name]['applies'] and 0 <= table[name]['zero_shot_f1'] <= 1
    assert table['as recorded']['zero_shot_f1'] == pytest.approx(res['macro_f1'])
