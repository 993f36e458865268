"""torchrun with 2 CPU processes (gloo) gives the single-process losses, writes one run folder,
and resumes (each launch starts 2 Python processes)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
# ~50 s on 2 cores: fast enough to stay in the default run

TINY = ['--datasets=hapt', '--d_model=32', '--depth=2', '--n_heads=2', '--decoder_depth=1', '--proj_dim=16',
        '--batch_size=8', '--steps_per_epoch=3', '--epochs=2', '--num_workers=0', '--log_interval=1']


def launch(script, args, nproc, tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}
    if nproc == 1:
        cmd = [sys.executable, script, *args]
    else:
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(nproc),
               script, *args]                                        # --standalone: a free port each launch
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def runs(root):
    return sorted(p for p in Path(root).iterdir() if p.is_dir())


def metrics(run):
    return json.loads((run / 'plots' / 'metrics.json').read_text())


@pytest.fixture(scope='module')
def stage1(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    common = TINY + [f'--data_root={tmp / "empty"}']
    launch('pretrain.py', common + [f'--out_root={tmp / "one"}'], 1, tmp)
    launch('pretrain.py', common + [f'--out_root={tmp / "two"}'], 2, tmp)
    return tmp, common


def test_stage1_two_processes_match_one(stage1):
    tmp, _ = stage1
    (one,), (two,) = runs(tmp / 'one'), runs(tmp / 'two')            # exactly one folder each
    a, b = metrics(one), metrics(two)
    assert len(a['steps']) == len(b['steps']) == 6
    for x, y in zip(a['steps'], b['steps']):
        assert x['loss'] == pytest.approx(y['loss'], rel=1e-4, abs=1e-5)
    for x, y in zip(a['epochs'], b['epochs']):
        assert x['val_loss'] == pytest.approx(y['val_loss'], rel=1e-4)
    pa = torch.load(one / 'latest.pt', weights_only=True)['model']
    pb = torch.load(two / 'latest.pt', weights_only=True)['model']
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=1e-3, atol=1e-4)


def test_stage1_resume_under_torchrun(stage1):
    tmp, common = stage1
    launch('pretrain.py', common + [f'--out_root={tmp / "cut"}', '--max_steps=4'], 2, tmp)
    (cut,) = runs(tmp / 'cut')
    assert torch.load(cut / 'latest.pt', weights_only=True)['step_in_epoch'] == 1
    launch('pretrain.py', ['--resume', str(cut / 'latest.pt'), '--num_workers=0'], 2, tmp)
    assert len(runs(tmp / 'cut')) == 1                                # resumed into the same folder
    (two,) = runs(tmp / 'two')
    a, b = metrics(two), metrics(cut)
    assert [s['loss'] for s in a['steps']] == pytest.approx([s['loss'] for s in b['steps']], rel=1e-5)


def test_stage2_two_processes_match_one(stage1):
    tmp, _ = stage1
    (s1,) = runs(tmp / 'one')
    args = ['--datasets=hapt', f'--data_root={tmp / "empty"}', f'--stage1_checkpoint={s1 / "best.pt"}',
            '--batch_size=8', '--steps_per_epoch=3', '--epochs=1', '--num_workers=0', '--log_interval=1',
            '--memory_bank_size=8']
    launch('semantic_alignment_train.py', args + [f'--out_root={tmp / "s2one"}'], 1, tmp)
    launch('semantic_alignment_train.py', args + [f'--out_root={tmp / "s2two"}'], 2, tmp)
    (one,), (two,) = runs(tmp / 's2one'), runs(tmp / 's2two')
    a, b = metrics(one), metrics(two)
    for x, y in zip(a['steps'], b['steps']):
        assert x['loss'] == pytest.approx(y['loss'], rel=1e-4, abs=1e-5)
    bank_a = torch.load(one / 'latest.pt', weights_only=True)['model']['memory_bank.feats']
    bank_b = torch.load(two / 'latest.pt', weights_only=True)['model']['memory_bank.feats']
    torch.testing.assert_close(bank_a, bank_b, rtol=1e-3, atol=1e-4)


def test_batch_not_divisible_is_a_clear_error(stage1, tmp_path):
    tmp, common = stage1
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    args = [a for a in common if not a.startswith('--batch_size')] + ['--batch_size=7', f'--out_root={tmp_path}']
    res = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                          'pretrain.py', *args],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert 'not divisible' in res.stdout + res.stderr
