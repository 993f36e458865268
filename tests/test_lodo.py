"""lodo.py: the table's arithmetic by hand (per-seed means over folds, then over seeds; the
conditions table), refused options, and one tiny fold end to end on two synthetic datasets."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

import lodo
from test_loader import write_dataset


def test_the_lodo_mean_is_the_mean_over_folds_of_each_seed_then_over_seeds(tmp_path):
    args = SimpleNamespace(out=str(tmp_path), seeds=[0, 1, 2], models=['ours'], datasets=['a', 'b'])
    f1 = {('a', 0): 0.2, ('b', 0): 0.4, ('a', 1): 0.3, ('b', 1): 0.5, ('a', 2): 0.1}   # seed 2 lacks fold b
    results = {(f, s, 'ours'): {'zs_f1': v, 'zs_acc': 0.5, 'cond:10 Hz:zs_f1': v / 2} for (f, s), v in f1.items()}
    text = lodo.write_table(args, results)
    table = json.loads((tmp_path / 'table.json').read_text())['table']
    assert table['LODO mean']['ours']['zs_f1'] == pytest.approx([0.3, 0.4])        # seeds 0 and 1 only
    assert table['a']['ours']['zs_f1'] == pytest.approx([0.2, 0.3, 0.1])
    assert f'| LODO mean | {np.mean([0.3, 0.4]):.3f} ± {np.std([0.3, 0.4], ddof=1):.3f} |' in text
    conditions = (tmp_path / 'conditions.md').read_text()
    assert '| 10 Hz | 0.100 ± 0.050 (-)' in conditions


@pytest.mark.parametrize('argv, needle', [
    (['--folds', 'c'], "--folds ['c'] are not among --datasets"),
    (['--test', 'a'], '--test a is a training dataset'),
    (['--models', 'ours,cnn'], '--models must be among'),
    (['--seeds', '0,x'], 'argument --seeds: expected comma-separated values'),
])
def test_bad_options_are_refused(tmp_path, argv, needle):
    with pytest.raises(SystemExit) as e:
        lodo.main(['--out', str(tmp_path / 'out'), '--datasets', 'a,b', *argv])
    assert e.value.code == 2 and needle in str(e.value)


def test_one_fold_end_to_end(tmp_path, text_model_once):
    for name in ('a', 'b'):
        write_dataset(tmp_path / 'data', name, 4, [300, 300], seed=ord(name))
    tiny = ('--d_model=16 --depth=2 --n_heads=2 --decoder_depth=1 --proj_dim=8 --batch_size=8 --epochs=1 '
            '--steps_per_epoch=2 --num_workers=0 --hop_seconds=4.0')
    args = ['--out', str(tmp_path / 'out'), '--datasets', 'a,b', '--folds', 'a', '--data_root', str(tmp_path / 'data'),
            f'--stage1={tiny}', '--stage2=--batch_size=8 --epochs=1 --steps_per_epoch=2 --num_workers=0',
            '--models', 'ours,random']
    results = lodo.main(args)
    assert set(results) == {('a', 0, 'ours'), ('a', 0, 'random')}
    assert all(0 <= fig['zs_f1'] <= 1 and 'shot5_f1' in fig for fig in results.values())
    ckpt = tmp_path / 'out' / 'a' / 'seed0'
    import torch
    cfg = torch.load(ckpt / 'ours' / 'best.pt', weights_only=True)['config']
    assert cfg['DATASETS'] == ['b', 'a'] or cfg['DATASETS'] == ['b']   # trained on b; a held out
    assert cfg['HOLDOUT_DATASETS'] == ['a'] and cfg['SCORE_HOLDOUT'] is False
    again = lodo.main(args)                                         # everything found: nothing retrained
    assert again == results
    # a fold this command does not run still gets its row from what an earlier command left on disk
    done_b = lodo.result_file(tmp_path / 'out' / 'b' / 'seed0', 'ours')
    done_b.parent.mkdir(parents=True)
    done_b.write_text(json.dumps({'zero_shot': {'macro_f1': 0.5, 'accuracy': 0.6}, 'few_shot': {'5': {'macro_f1': 0.4}}}))
    with_b = lodo.main(args)
    assert with_b[('b', 0, 'ours')] == {'zs_f1': 0.5, 'zs_acc': 0.6, 'shot5_f1': 0.4} and ('b', 0, 'random') not in with_b
    table = (tmp_path / 'out' / 'table.md').read_text().splitlines()
    assert [line.split(' |')[0] for line in table[2:5]] == ['| a', '| b', '| LODO mean']


def test_conditions_are_listed_in_evaluate_order(tmp_path):
    args = SimpleNamespace(out=str(tmp_path), seeds=[0], models=['reference'], datasets=['a'])
    fig = {'zs_f1': 0.3, 'zs_acc': 0.4, 'cond:1 s windows:zs_f1': 0.1, 'cond:as recorded:zs_f1': 0.3,
           'cond:accelerometer only:zs_f1': 0.2}
    lodo.write_table(args, {('a', 0, 'reference'): fig})
    rows = [line.split(' |')[0] for line in (tmp_path / 'conditions.md').read_text().splitlines() if line.startswith('| ')]
    assert rows[1:] == ['| as recorded', '| accelerometer only', '| 1 s windows']
