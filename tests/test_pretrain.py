"""pretrain.py end to end on the shipped sample with a tiny model: outputs, checkpoint contents,
exact resume (mid-epoch and at an epoch boundary), refusals (bad --resume, bad options),
atomic saves under a kill, and the stop on a non-finite loss."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import pretrain
import train_common
from checks import assert_same_tensors

REPO = Path(__file__).resolve().parents[1]
TINY = ["--datasets=['hapt']", '--d_model=32', '--depth=2', '--n_heads=2', '--decoder_depth=1',
        '--proj_dim=16', '--batch_size=8', '--num_workers=0', '--log_interval=2', '--save_every=1',
        '--hop_seconds=4.0']                                            # fewer validation windows: faster
CKPT_KEYS = {'model', 'optimizer', 'scaler', 'epoch', 'step_in_epoch', 'rng', 'config', 'data', 'kind'}
LOSS_KEYS = ('epoch', 'lr', 'train_loss', 'train_mae', 'train_contrastive', 'train_ds_hapt',
             'val_loss', 'val_mae', 'val_contrastive', 'val_ds_hapt')


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    """Tiny models: one intra-op thread is faster, and far faster on a busy machine (no spinning)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def run(tmp, *extra):
    """pretrain.main on the shipped sample (data_root is an empty folder, so it falls back)."""
    empty = Path(tmp) / 'no_prepared_data'
    empty.mkdir(parents=True, exist_ok=True)
    return Path(pretrain.main([f'--data_root={empty}', f'--out_root={Path(tmp) / "runs"}', *TINY, *extra]))


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def epoch_losses(run_dir):
    with open(run_dir / 'plots' / 'metrics.json') as f:
        epochs = json.load(f)['epochs']
    return [{k: e.get(k) for k in LOSS_KEYS} for e in epochs]


def step_losses(run_dir):
    with open(run_dir / 'plots' / 'metrics.json') as f:
        return json.load(f)['steps']


# ------------------------------------------------------------------ one straight run, shared

@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    """6 steps straight: 2 epochs of 3 steps."""
    return run(tmp_path_factory.mktemp('straight'), '--epochs=2', '--steps_per_epoch=3')


def test_outputs_exist(straight):
    for name in ('config.yaml', 'latest.pt', 'best.pt', 'checkpoint_epoch_1.pt', 'checkpoint_epoch_2.pt',
                 'plots/overall_loss.png', 'plots/loss_components.png', 'plots/per_dataset_losses.png',
                 'plots/metrics.json'):
        assert (straight / name).is_file(), name
        assert (straight / name).stat().st_size > 0, name
    for png in (straight / 'plots').glob('*.png'):
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not list(straight.glob('.*tmp*'))                          # no leftovers of atomic saves
    with open(straight / 'config.yaml') as f:
        cfg = yaml.safe_load(f)
    assert cfg['D_MODEL'] == 32 and cfg['EPOCHS'] == 2 and cfg['DATASETS'] == ['hapt']
    epochs = epoch_losses(straight)
    assert [e['epoch'] for e in epochs] == [1, 2]
    for e in epochs:
        for k in LOSS_KEYS:
            assert e[k] is not None and math.isfinite(e[k]), k
    assert len(step_losses(straight)) >= 2


def test_checkpoints_load_safely_and_are_complete(straight):
    for name, epoch in (('latest.pt', 2), ('checkpoint_epoch_1.pt', 1), ('checkpoint_epoch_2.pt', 2)):
        ckpt = load(straight / name)
        assert CKPT_KEYS <= set(ckpt), CKPT_KEYS - set(ckpt)
        assert ckpt['kind'] == pretrain.KIND
        assert ckpt['epoch'] == epoch and ckpt['step_in_epoch'] == 0
        assert ckpt['config']['D_MODEL'] == 32
        assert ckpt['data']['datasets'] == ['hapt']
        assert 'torch' in ckpt['rng']
        assert all(torch.isfinite(v).all() for v in ckpt['model'].values() if v.is_floating_point())
    best = load(straight / 'best.pt')
    assert CKPT_KEYS <= set(best)
    # the model state loads into a fresh model without missing or unexpected keys
    from model import EncoderConfig, MAEPretrainModel
    model = MAEPretrainModel(EncoderConfig(**best['encoder_config']))
    model.load_state_dict(best['model'])
    # checkpoints differ between epochs (training happened)
    e1, e2 = load(straight / 'checkpoint_epoch_1.pt'), load(straight / 'checkpoint_epoch_2.pt')
    assert any(not torch.equal(e1['model'][k], e2['model'][k]) for k in e1['model'])


# ------------------------------------------------------------------ exact resume

@pytest.fixture(scope='module')
def resumed_mid_epoch(tmp_path_factory):
    """4 steps (stops one step into epoch 1), then --resume for the remaining 2."""
    tmp = tmp_path_factory.mktemp('mid')
    first = run(tmp, '--epochs=2', '--steps_per_epoch=3', '--max_steps=4')
    ckpt = load(first / 'latest.pt')
    assert (ckpt['epoch'], ckpt['step_in_epoch']) == (1, 1)
    assert not (first / 'checkpoint_epoch_2.pt').exists()
    second = Path(pretrain.main(['--resume', str(first / 'latest.pt'), '--num_workers=0']))
    assert second == first                                            # continues in the same folder
    return first


def test_resume_mid_epoch_gives_identical_parameters(straight, resumed_mid_epoch):
    for name in ('latest.pt', 'best.pt', 'checkpoint_epoch_2.pt'):
        a, b = load(straight / name), load(resumed_mid_epoch / name)
        assert (a['epoch'], a['step_in_epoch']) == (b['epoch'], b['step_in_epoch'])
        assert_same_tensors(a['model'], b['model'], f'{name}:model')
        assert_same_tensors(a['optimizer'], b['optimizer'], f'{name}:optimizer')
    assert_same_tensors(load(straight / 'checkpoint_epoch_1.pt')['model'],
                        load(resumed_mid_epoch / 'checkpoint_epoch_1.pt')['model'])


def test_resume_mid_epoch_gives_identical_step_log_and_validation(straight, resumed_mid_epoch):
    assert step_losses(straight) == step_losses(resumed_mid_epoch)
    for a, b in zip(epoch_losses(straight), epoch_losses(resumed_mid_epoch)):
        assert {k: v for k, v in a.items() if k.startswith('val_')} == \
               {k: v for k, v in b.items() if k.startswith('val_')}


# Guards the bug fixed in e85c670: the per-epoch training sums were reset on a mid-epoch resume
# (and not stored in the checkpoint), so train_* of that epoch only counted the resumed steps.
def test_resume_mid_epoch_gives_identical_epoch_losses(straight, resumed_mid_epoch):
    assert epoch_losses(straight) == epoch_losses(resumed_mid_epoch)


def test_resume_at_epoch_boundary(straight, tmp_path):
    first = run(tmp_path, '--epochs=2', '--steps_per_epoch=3', '--max_steps=3')
    ckpt = load(first / 'latest.pt')
    assert (ckpt['epoch'], ckpt['step_in_epoch']) == (1, 0)
    assert (first / 'checkpoint_epoch_1.pt').exists() and not (first / 'checkpoint_epoch_2.pt').exists()
    pretrain.main(['--resume', str(first / 'latest.pt'), '--num_workers=0'])
    for name in ('latest.pt', 'best.pt', 'checkpoint_epoch_2.pt'):
        a, b = load(straight / name), load(first / name)
        assert_same_tensors(a['model'], b['model'], f'{name}:model')
        assert_same_tensors(a['optimizer'], b['optimizer'], f'{name}:optimizer')
    assert epoch_losses(straight) == epoch_losses(first)
    assert step_losses(straight) == step_losses(first)


def test_resume_of_a_finished_run_changes_nothing(straight, tmp_path):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(straight, copy)
    before = load(copy / 'latest.pt')
    ckpt_path = copy / 'latest.pt'
    # the checkpoint names its own run folder; point it at the copy so the original stays as it is
    before['run_dir'] = str(copy)
    torch.save(before, ckpt_path)
    pretrain.main(['--resume', str(ckpt_path), '--num_workers=0'])
    after = load(copy / 'latest.pt')
    assert_same_tensors(before['model'], after['model'])
    assert epoch_losses(copy) == epoch_losses(straight)


# ------------------------------------------------------------------ refusals

def assert_no_run(tmp_path):
    runs = tmp_path / 'runs'
    assert not runs.exists() or not any(runs.iterdir())


def test_resume_missing_file(tmp_path):
    with pytest.raises(SystemExit) as e:
        run(tmp_path, '--resume', str(tmp_path / 'nope' / 'latest.pt'))
    assert 'does not exist' in str(e.value)
    assert_no_run(tmp_path)


@pytest.mark.parametrize('content', ['plain_dict', 'other_kind', 'text', 'pickled_object', 'list'])
def test_resume_foreign_file(tmp_path, content):
    path = tmp_path / 'foreign.pt'
    if content == 'plain_dict':
        torch.save({'model': {'w': torch.zeros(2)}}, path)
    elif content == 'other_kind':
        torch.save({'kind': 'semantic_alignment', 'model': {}}, path)
    elif content == 'text':
        path.write_text('this is not a checkpoint\n')
    elif content == 'pickled_object':
        torch.save({'kind': pretrain.KIND, 'cfg': Path('x')}, path)  # not loadable with weights_only
    else:
        torch.save([torch.zeros(1)], path)
    with pytest.raises(SystemExit) as e:
        run(tmp_path, '--resume', str(path))
    msg = str(e.value)
    assert msg.startswith('error:') and str(path) in msg
    assert_no_run(tmp_path)


@pytest.mark.parametrize('argv,needle', [
    (['--foo=1'], 'unknown option --foo'),
    (['--batch_size=abc'], "--batch_size=abc: expected int (like 8), got 'abc'"),   # like its value
    (['--batch_size=2.5'], '--batch_size=2.5: expected int'),
    (['--compile=1'], '--compile=1: expected bool'),
    (['--learning_rate=fast'], '--learning_rate=fast: expected float'),
    (['--mae_weight=nan'], '--mae_weight=nan: expected float'),          # literals only: nan is not one
    (['batch_size=4'], 'cannot parse argument'),
    (['--resume'], '--resume needs a checkpoint path'),
    (['--input_frame=world'], "--input_frame='world': expected one of 'device', 'gravity', 'invariant', 'hybrid'"),
    (['--input_frame=invariant'], 'pass --rotation=none'),                # the default so3 would mix its channels
])
def test_bad_options_exit_with_a_message(tmp_path, argv, needle):
    with pytest.raises(SystemExit) as e:
        run(tmp_path, *argv)
    msg = str(e.value)
    assert needle in msg
    if 'unknown' in needle or 'cannot parse' in needle:
        assert '--batch_size' in msg and '--d_model' in msg and '--resume' in msg   # lists valid options
    assert_no_run(tmp_path)


def test_configure_parsing():
    import settings
    defaults = {'LR': 1e-3, 'N': 4, 'NAMES': ['a', 'b'], 'FLAG': False, 'MODE': 'so3', 'lower': 1}
    rules = dict.fromkeys(['LR', 'N', 'NAMES', 'FLAG', 'MODE'], settings.anything())
    C, resume = settings.configure(defaults, rules, argv=['--lr=1', '--n=8', '--names=x,y', '--flag=True',
                                                         '--mode=gravity', '--resume=ck.pt'])
    assert C.LR == 1.0 and isinstance(C.LR, float)
    assert C.N == 8 and C.NAMES == ['x', 'y'] and C.FLAG is True and C.MODE == 'gravity'
    assert resume == 'ck.pt' and not hasattr(C, 'lower')
    C, resume = settings.configure(defaults, rules, argv=['--resume', 'a.pt', "--names=['z']"])
    assert resume == 'a.pt' and C.NAMES == ['z'] and C.LR == 1e-3
    with pytest.raises(SystemExit):
        settings.configure(defaults, rules, argv=['--lower=2'])       # lower-case locals are not options


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit) as e:
        pretrain.main(['--help'])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert '--batch_size=20' in out and '--resume' in out


# ------------------------------------------------------------------ atomic checkpoint under a kill

KILL_SCRIPT = r'''
import io, os, sys, torch
import train_common
path = sys.argv[1]
first = {'kind': 'imu_pretraining', 'model': {'w': torch.arange(1000.0)}, 'epoch': 1}
train_common.save_checkpoint(first, path)
real_save = torch.save
def half_then_die(obj, f, *a, **k):
    buf = io.BytesIO()
    real_save(obj, buf)
    data = buf.getvalue()
    f.write(data[:len(data) // 2])
    f.flush()
    os._exit(1)
torch.save = half_then_die
train_common.save_checkpoint({'kind': 'imu_pretraining', 'model': {'w': torch.zeros(1000)}, 'epoch': 2}, path)
print('not reached')
'''


def test_killed_save_leaves_previous_checkpoint(tmp_path):
    path = tmp_path / 'latest.pt'
    proc = subprocess.run([sys.executable, '-c', KILL_SCRIPT, str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert 'not reached' not in proc.stdout
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert ckpt['epoch'] == 1 and torch.equal(ckpt['model']['w'], torch.arange(1000.0))
    assert_same_tensors(ckpt, {'kind': 'imu_pretraining', 'model': {'w': torch.arange(1000.0)}, 'epoch': 1})
    # and load_checkpoint accepts it
    assert train_common.load_checkpoint(path, ['imu_pretraining'])['epoch'] == 1


def test_failed_save_cleans_up_and_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pt'
    train_common.save_checkpoint({'kind': 'k', 'x': torch.ones(3)}, path)

    def broken(obj, f, *a, **k):
        f.write(b'partial')
        raise OSError('disk full')
    monkeypatch.setattr(torch, 'save', broken)
    with pytest.raises(OSError):
        train_common.save_checkpoint({'kind': 'k', 'x': torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(load(path)['x'], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ['latest.pt']     # temporary file removed


# ------------------------------------------------------------------ non-finite loss

def test_non_finite_loss_stops_without_corrupting_latest(tmp_path, monkeypatch):
    real_step_loss = pretrain.step_loss
    calls = {'train': 0}

    def poisoned(model, *args, **kwargs):
        loss, parts = real_step_loss(model, *args, **kwargs)
        if model.training:
            calls['train'] += 1
            if calls['train'] >= 5:                                   # second step of epoch 2
                loss = loss * float('nan')
        return loss, parts
    monkeypatch.setattr(pretrain, 'step_loss', poisoned)
    with pytest.raises(SystemExit) as e:
        run(tmp_path, '--epochs=3', '--steps_per_epoch=4')
    msg = str(e.value)
    assert 'non-finite' in msg and 'latest.pt' in msg
    (run_dir,) = (tmp_path / 'runs').iterdir()
    latest = load(run_dir / 'latest.pt')                              # the epoch-1 checkpoint, intact
    assert latest['epoch'] == 1 and latest['step_in_epoch'] == 0
    assert all(torch.isfinite(v).all() for v in latest['model'].values() if v.is_floating_point())
    assert_same_tensors(latest['model'], load(run_dir / 'checkpoint_epoch_1.pt')['model'])
    assert not (run_dir / 'checkpoint_epoch_2.pt').exists()


def test_infinite_weight_is_refused_before_anything_is_written(tmp_path):
    """A literal that overflows to inf (1e999) is a float; its rule (a finite number >= 0) refuses it."""
    with pytest.raises(SystemExit) as e:
        run(tmp_path, '--epochs=1', '--steps_per_epoch=3', '--mae_weight=1e999')
    assert e.value.code == 2 and '--mae_weight=inf: expected a number >= 0' in str(e.value)
    assert_no_run(tmp_path)


def test_a_non_finite_loss_stops_at_once(tmp_path, monkeypatch):
    real = pretrain.pretrain_loss
    monkeypatch.setattr(pretrain, 'pretrain_loss', lambda *a, **k: (real(*a, **k)[0] * float('inf'), real(*a, **k)[1]))
    with pytest.raises(SystemExit) as e:
        run(tmp_path, '--epochs=1', '--steps_per_epoch=3')
    assert 'non-finite loss at step 1' in str(e.value)
    (run_dir,) = (tmp_path / 'runs').iterdir()
    assert not (run_dir / 'latest.pt').exists()


def test_resume_names_the_overrides_it_ignores(tmp_path, capsys):
    first = run(tmp_path, '--epochs=2', '--steps_per_epoch=3', '--max_steps=2')
    capsys.readouterr()
    pretrain.main(['--resume', str(first / 'latest.pt'), '--num_workers=0', '--batch_size=4', '--max_steps=3'])
    out = capsys.readouterr().out
    assert "ignored: --batch_size=4" in out
    assert load(first / 'latest.pt')['config']['BATCH_SIZE'] != 4             # the run kept its own batch size


# ------------------------------------------------------------------ input frame

def test_gravity_input_frame_is_recorded_and_applied_when_embedding(tmp_path):
    """--input_frame=gravity goes into the encoder config of the checkpoint, and embedding with
    it equals embedding the gravity-frame window with the same weights in the device frame."""
    import augmentations as A
    from datasets.loader import HARData, open_datasets
    from model import EncoderConfig, MAEPretrainModel
    from model_loading import embed_batch
    run_dir = run(tmp_path, '--input_frame=gravity', '--rotation=gravity', '--max_steps=2', '--epochs=1')
    ck = load(run_dir / 'latest.pt')
    assert ck['encoder_config']['input_frame'] == 'gravity' and ck['config']['INPUT_FRAME'] == 'gravity'
    grav = MAEPretrainModel(EncoderConfig(**ck['encoder_config']))
    grav.load_state_dict(ck['model'])
    dev = MAEPretrainModel(EncoderConfig(**{**ck['encoder_config'], 'input_frame': 'device'}))
    dev.load_state_dict(ck['model'])
    data = HARData(open_datasets(['hapt'], '/nonexistent', log=lambda *_: None), 4.0, 50.0, 4.0, 1.0)
    batch = {k: torch.from_numpy(v) for k, v in data.read_batch('train', range(6)).items()}
    with torch.no_grad():
        a = embed_batch(grav.eval(), batch, None)
        turned = {**batch, 'x': A.gravity_frame(batch['x'], batch['length'], batch['triads'])}
        assert torch.allclose(a, embed_batch(dev.eval(), turned, None), atol=1e-5)
        assert not torch.allclose(a, embed_batch(dev.eval(), batch, None), atol=1e-3)


def test_invariant_input_frame_makes_embeddings_independent_of_device_orientation(tmp_path):
    """--input_frame=invariant (with --rotation=none) is recorded with the sampling rate it
    integrates at, and an embedding no longer changes when each device is turned."""
    import augmentations as A
    from datasets.loader import HARData, open_datasets
    from model import EncoderConfig, MAEPretrainModel
    from model_loading import embed_batch
    run_dir = run(tmp_path, '--input_frame=invariant', '--rotation=none', '--max_steps=2', '--epochs=1')
    ck = load(run_dir / 'latest.pt')
    assert ck['encoder_config']['input_frame'] == 'invariant'
    assert ck['encoder_config']['sampling_rate_hz'] == ck['config']['SAMPLING_RATE_HZ']
    model = MAEPretrainModel(EncoderConfig(**ck['encoder_config']))
    model.load_state_dict(ck['model'])
    data = HARData(open_datasets(['hapt'], '/nonexistent', log=lambda *_: None), 4.0, 50.0, 4.0, 1.0)
    batch = {k: torch.from_numpy(v) for k, v in data.read_batch('train', range(6)).items()}
    turned = {**batch, 'x': A.rotate(batch['x'], batch['length'], batch['triads'], torch.Generator().manual_seed(0))}
    with torch.no_grad():
        assert torch.allclose(embed_batch(model.eval(), batch, None), embed_batch(model, turned, None), atol=1e-4)
        dev = MAEPretrainModel(EncoderConfig(**{**ck['encoder_config'], 'input_frame': 'device'}))
        dev.load_state_dict(ck['model'])
        assert not torch.allclose(embed_batch(dev.eval(), batch, None), embed_batch(dev, turned, None), atol=1e-3)
