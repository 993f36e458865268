"""model_loading as a notebook uses it: in a FRESH Python process run from the repo root, on a
Stage 2 (and a Stage 1) checkpoint made by the tests on CPU. Plus, in this process, the refusals
of raw windows the model cannot embed faithfully."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures('one_torch_thread')
CHANNELS = ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z']

NOTEBOOK = r'''
import json, sys
from pathlib import Path
import numpy as np
import torch
import text_encoder
loads, _load = [], text_encoder.load_sentence_transformer
text_encoder.load_sentence_transformer = lambda *a, **k: loads.append(a) or _load(*a, **k)   # count only
from model_loading import load_model, load_label_bank, embed_windows, zero_shot_classify
from model import MAEPretrainModel, SemanticAlignmentModel

s2_path, s1_path = Path(sys.argv[1]), Path(sys.argv[2])
ch = ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z']
out = {}

def windows(n, seconds, rate, seed):
    """Walking-like synthetic windows (m/s^2, rad/s): gravity on z, a step rhythm, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    X = rng.normal(0, 0.3, (n, len(t), 6)).astype(np.float32)
    X[..., 2] += 9.81
    X[..., :3] += 2 * np.sin(2 * np.pi * (1.5 + 0.2 * np.arange(n))[:, None, None] * t[None, :, None])
    return X

def unit_rows(e):
    return bool(torch.allclose(e.norm(dim=-1), torch.ones(len(e)), atol=1e-5))

# ---- Stage 2
model, checkpoint, hp = load_model(s2_path, 'cpu')
out['s2_type'] = type(model).__name__
out['s2_training'] = model.training
out['s2_hp'] = str(hp)
out['s2_kind'] = checkpoint['kind']
bank = load_label_bank(checkpoint, 'cpu', hp)
p = bank.prototypes(['walking', 'juggling three balls'])
out['protos_shape'] = list(p.shape)
out['protos_unit'] = bool(torch.allclose(p.norm(dim=-1), torch.ones(2, p.shape[1]), atol=1e-5))
for name, seconds, rate in (('4s', 4, 50), ('10s', 10, 50), ('2s', 2, 50), ('100hz', 4, 100)):
    X = windows(3, seconds, rate, seed=1)
    e = embed_windows(model, checkpoint, X, ch, rate)
    out[f'emb_{name}'] = {'shape': list(e.shape), 'unit': unit_rows(e), 'finite': bool(torch.isfinite(e).all()),
                          'distinct': bool(not torch.allclose(e[0], e[1])),
                          'repeatable': bool(torch.equal(e, embed_windows(model, checkpoint, X, ch, rate)))}
# a 10 s window = the mean of its two 4 s model windows (the last 2 s do not fill a model window)
X = windows(2, 10, 50, seed=2)
long = embed_windows(model, checkpoint, X, ch, 50)
parts = embed_windows(model, checkpoint, X[:, :200], ch, 50) + embed_windows(model, checkpoint, X[:, 200:400], ch, 50)
out['long_is_mean_of_parts'] = bool(torch.allclose(long, torch.nn.functional.normalize(parts, dim=-1), atol=1e-5))
# each window's embedding does not depend on the other windows of the call
X = windows(4, 4, 50, seed=3)
together = embed_windows(model, checkpoint, X, ch, 50)
alone = torch.cat([embed_windows(model, checkpoint, X[i:i + 1], ch, 50) for i in range(4)])
out['independent_of_batch'] = bool(torch.allclose(together, alone, atol=1e-5))
labels = ['walking', 'sitting', 'lying', 'riding a horse']
pred, scores = zero_shot_classify(model, checkpoint, bank, X, labels, ch, 50)
out['pred'] = pred
out['scores_shape'] = list(scores.shape)
out['pred_is_argmax'] = [labels[i] for i in scores.argmax(-1).tolist()] == pred
pred_long, _ = zero_shot_classify(model, checkpoint, bank, windows(2, 10, 50, 4), labels[:2], ch, 50)
out['pred_long'] = pred_long

# ---- Stage 1
model1, ck1, hp1 = load_model(s1_path, 'cpu')
out['s1_type'] = type(model1).__name__
out['s1_hp'] = str(hp1)
bank1 = load_label_bank(ck1, 'cpu', hp1)
out['s1_bank_module'] = repr(bank1.module)
out['s1_protos_shape'] = list(bank1.prototypes(['walking', 'sitting']).shape)
e1 = embed_windows(model1, ck1, windows(3, 4, 50, 5), ch, 50)
out['s1_emb'] = {'shape': list(e1.shape), 'unit': unit_rows(e1)}

# ---- what was imported: this repo's datasets package, no training script
import datasets
out['datasets_file'] = datasets.__file__
out['text_model_loads'] = len(loads)
out['training_scripts_imported'] = sorted(m for m in sys.modules if m in ('pretrain', 'semantic_alignment_train'))
print('RESULT ' + json.dumps(out))
'''


@pytest.fixture(scope='module')
def notebook(stage2_run, stage1_run):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}                     # a tiny model on a shared machine
    proc = subprocess.run([sys.executable, '-c', NOTEBOOK, str(stage2_run / 'best.pt'), str(stage1_run / 'best.pt')],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    assert line, proc.stdout[-2000:]
    return json.loads(line[-1][len('RESULT '):])


def test_load_model_stage2(notebook, stage2_run):
    assert notebook['s2_type'] == 'SemanticAlignmentModel' and notebook['s2_kind'] == 'semantic_alignment'
    assert notebook['s2_training'] is False                          # eval mode
    assert Path(notebook['s2_hp']) == stage2_run / 'config.yaml'
    assert notebook['protos_shape'] == [2, 3, 384] and notebook['protos_unit']


@pytest.mark.parametrize('name,n', [('4s', 3), ('10s', 3), ('2s', 3), ('100hz', 3)])
def test_embed_windows_gives_unit_vectors(notebook, name, n):
    e = notebook[f'emb_{name}']
    assert e['shape'] == [n, 384]
    assert e['unit'] and e['finite'] and e['distinct'] and e['repeatable']


def test_long_windows_average_their_model_windows(notebook):
    assert notebook['long_is_mean_of_parts']
    assert notebook['independent_of_batch']


def test_zero_shot_classify_returns_one_label_per_window(notebook):
    labels = ['walking', 'sitting', 'lying', 'riding a horse']
    assert len(notebook['pred']) == 4 and all(p in labels for p in notebook['pred'])
    assert notebook['scores_shape'] == [4, 4] and notebook['pred_is_argmax']
    assert len(notebook['pred_long']) == 2 and all(p in labels[:2] for p in notebook['pred_long'])


def test_stage1_checkpoint_loads_with_its_label_bank(notebook, stage1_run):
    assert notebook['s1_type'] == 'MAEPretrainModel'
    assert Path(notebook['s1_hp']) == stage1_run / 'config.yaml'
    assert notebook['s1_bank_module'] == 'None'                       # plain sentence embeddings
    assert notebook['s1_protos_shape'] == [2, 1, 384]
    assert notebook['s1_emb'] == {'shape': [3, 32], 'unit': True}      # mean of the encoder's tokens


def test_text_model_is_loaded_once_per_process(notebook):
    """About 20 calls, each making its own TextEmbedder: the model (seconds to load) once."""
    assert notebook['text_model_loads'] == 1


def test_imports_this_repos_datasets_and_no_training_script(notebook):
    assert Path(notebook['datasets_file']).resolve() == REPO / 'datasets' / '__init__.py'
    assert notebook['training_scripts_imported'] == []


def test_hyperparams_path_is_none_without_config_yaml(stage2_run, tmp_path):
    import shutil
    from model_loading import load_model
    shutil.copy(stage2_run / 'best.pt', tmp_path / 'best.pt')
    _, ck, hp = load_model(tmp_path / 'best.pt')
    assert hp is None and ck['kind'] == 'semantic_alignment'


def test_load_model_refuses_a_missing_file(tmp_path):
    from model_loading import load_model
    with pytest.raises(SystemExit, match='does not exist'):
        load_model(tmp_path / 'nope.pt')


# ------------------------------------------------------------------ windows that cannot be embedded faithfully

@pytest.fixture(scope='module')
def stage2_loaded(stage2_run, text_model_once):
    from model_loading import load_label_bank, load_model
    model, ck, hp = load_model(stage2_run / 'best.pt')
    return model, ck, load_label_bank(ck, 'cpu', hp)


def test_a_window_with_a_dead_channel_is_refused_not_misaligned(stage2_loaded):
    """A window whose channel is NaN throughout is refused rather than dropped, so the
    embeddings of the later windows never move up a row."""
    from model_loading import embed_windows
    model, ck, _ = stage2_loaded
    X = np.random.default_rng(0).normal(size=(4, 200, 6)).astype(np.float32)
    X[1, :, 2] = np.nan
    with pytest.raises(ValueError, match=r'windows \[1\].*NaN throughout'):
        embed_windows(model, ck, X, CHANNELS, 50)
    # NaN gaps (not a whole channel) are interpolated and the window is kept
    X[1, :, 2] = 0.0
    X[1, 10:30, 2] = np.nan
    e = embed_windows(model, ck, X, CHANNELS, 50)
    assert e.shape == (4, 384) and torch.isfinite(e).all()


def test_a_window_shorter_than_one_patch_is_refused(stage2_loaded):
    """With no full patch nothing of the window would reach the model (it would get the same
    embedding as any other such window, whatever its content)."""
    from model_loading import embed_windows
    model, ck, _ = stage2_loaded
    X = np.random.default_rng(1).normal(size=(2, 10, 6)).astype(np.float32)   # 0.2 s at 50 Hz
    with pytest.raises(ValueError, match='shorter than one patch'):
        embed_windows(model, ck, X, CHANNELS, 50)
    e = embed_windows(model, ck, np.random.default_rng(1).normal(size=(2, 20, 6)).astype(np.float32), CHANNELS, 50)
    assert e.shape == (2, 384) and not torch.allclose(e[0], e[1])            # one patch is enough


def test_zero_shot_with_a_stage1_checkpoint_of_another_width_says_why(stage1_run, text_model_once):
    from model_loading import load_label_bank, load_model, zero_shot_classify
    model, ck, hp = load_model(stage1_run / 'best.pt')
    bank = load_label_bank(ck, 'cpu', hp)
    X = np.random.default_rng(2).normal(size=(2, 200, 6)).astype(np.float32)
    with pytest.raises(ValueError, match='Stage 2'):
        zero_shot_classify(model, ck, bank, X, ['walking', 'sitting'], CHANNELS, 50)


def test_rotation_averaging_is_the_normalised_mean_over_the_rotated_views(stage2_loaded):
    """embed_batch(views=n): the mean of the embeddings of augmentations.rotation_views, one of
    which is the window as recorded, renormalised; embed_windows passes views on, and a
    checkpoint trained without rotation refuses it."""
    import torch.nn.functional as F
    import augmentations as A
    from datasets.loader import HARData, open_datasets
    from model_loading import channel_table_for, embed_batch, embed_windows
    model, ck, _ = stage2_loaded
    data = HARData(open_datasets(['hapt'], '/nonexistent', log=lambda *_: None), 4.0, 50.0, 4.0, 1.0)
    batch = {k: torch.from_numpy(v) for k, v in data.read_batch('train', range(5)).items()}
    table = channel_table_for(data.channel_texts, 'all-MiniLM-L6-v2', 'cpu')
    with torch.no_grad():
        plain = embed_batch(model, batch, table)
        avg = embed_batch(model, batch, table, views=3)
        x = A.input_frame(batch['x'], batch['length'], batch['triads'], model.cfg.input_frame)
        each = [embed_batch(model, {**batch, 'x': v}, table)
                for v in A.rotation_views(x, batch['length'], batch['triads'], 3)]   # device frame: input_frame is x
    assert torch.allclose(each[0], plain)
    assert torch.allclose(avg, F.normalize(sum(each), dim=-1), atol=1e-5)
    assert torch.allclose(avg.norm(dim=-1), torch.ones(5)) and not torch.allclose(avg, plain, atol=1e-3)
    X = np.random.default_rng(3).normal(size=(2, 200, 6)).astype(np.float32)
    e1, e3 = embed_windows(model, ck, X, CHANNELS, 50), embed_windows(model, ck, X, CHANNELS, 50, views=3)
    assert e3.shape == e1.shape and not torch.allclose(e1, e3, atol=1e-3)
    with pytest.raises(ValueError, match="ROTATION='none'"):
        embed_windows(model, {**ck, 'config': {**ck['config'], 'ROTATION': 'none'}}, X, CHANNELS, 50, views=3)


def test_windows_in_memory_embed_as_their_prepared_copy(stage2_loaded, tmp_path, monkeypatch):
    """embed_windows wraps the arrays in memory (no temporary .npz or prepared folder), and gets
    the embeddings the same windows get once converted by `python -m datasets.prepare --npz`."""
    import tempfile
    from datasets.format import PreparedDataset
    from datasets.loader import HARData
    from datasets.user_npz import convert_npz
    from model_loading import channel_table_for, embed_split, embed_windows
    model, ck, _ = stage2_loaded
    X = np.random.default_rng(3).normal(size=(3, 200, 6)).astype(np.float32)
    channels = ['acc_x (g)', 'acc_y (g)', 'acc_z (g)', 'gyro_x (deg/s)', 'gyro_y (deg/s)', 'gyro_z (deg/s)']
    np.savez(tmp_path / 'w.npz', X=X, y=np.array(['a'] * 3), sampling_rate_hz=50.0, channels=np.array(channels))
    convert_npz(tmp_path / 'w.npz', tmp_path, 'w', 50.0)
    data = HARData([PreparedDataset(tmp_path / 'w')], 4.0, 50.0, 4.0, 0.4,
                   subjects_override={'w': {'train': [], 'val': [], 'test': [0]}})
    on_disk = embed_split(model, data, 'test', channel_table_for(data.channel_texts, 'all-MiniLM-L6-v2', 'cpu'), 'cpu')[0]

    def nothing_on_disk(*args, **kwargs):
        raise AssertionError('embed_windows wrote a temporary file')
    monkeypatch.setattr(tempfile, 'mkdtemp', nothing_on_disk)
    monkeypatch.setattr(np, 'savez', nothing_on_disk)
    assert torch.allclose(embed_windows(model, ck, X, channels, 50), on_disk, atol=1e-6)
