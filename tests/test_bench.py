"""bench.py's building blocks on a tiny model: real loader shapes, steps that train, FLOP counts
that match the transformer arithmetic (CPU attention kernels included), target bookkeeping."""
import math

import pytest
import torch

import bench

TINY = dict(d_model=32, depth=2, n_heads=2, decoder_depth=1, batch=4)
TOKENS = 60                                    # 10 patches x 6 channels per window


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = bench.write_synthetic(tmp_path_factory.mktemp('bench'), 'synth', 40_000, n_subjects=4)
    return {'stage1': bench.open_data(folder), 'stage2': bench.open_data(folder, labelled_only=True, hop_s=1.0)}


def test_defaults_come_from_the_training_scripts():
    C = bench.script_defaults(bench.pretrain)
    assert (C.D_MODEL, C.DEPTH, C.N_HEADS, C.PATCH_SIZE, C.BATCH_SIZE) == (384, 6, 6, 20, 20)
    assert isinstance(C.NUM_WORKERS, int)
    assert bench.script_defaults(bench.semantic_alignment_train).NUM_PROTOTYPES >= 1


def test_batches_have_the_loader_shapes(data):
    b = bench.make_batches(data['stage1'], 4, torch.device('cpu'), n=1)[0]
    assert b['x'].shape == (4, 200, 6) and b['x'].dtype == torch.float32
    assert b['channel_mask'].shape == (4, 6) and bool(b['channel_mask'].all())
    assert b['triads'].shape == (4, 2, 5)
    assert set(b) >= {'x', 'length', 'channel_mask', 'channel_type', 'channel_text', 'triads', 'label', 'dataset'}


@pytest.mark.parametrize('kind', bench.KINDS)
def test_steps_train(data, kind):
    step, model = bench.build_step(kind, TINY, data, torch.device('cpu'), bench.nullcontext(),
                                   torch.amp.GradScaler('cuda', enabled=False))
    before = [p.detach().clone() for p in model.parameters()]
    assert math.isfinite(step(0).item())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert bench.count_flops(step, 1) > 0


def test_bare_flops_match_the_transformer_arithmetic(data):
    """Projections and MLP: 24 N d^2 per layer forward, twice that backward. Attention: two
    (B, L, L, d) matmuls forward, five backward (torch's formula recomputes the scores). The
    attention terms are counted only if the CPU SDPA formulas are registered."""
    step, _ = bench.build_step('bare', TINY, data, torch.device('cpu'), bench.nullcontext(),
                               torch.amp.GradScaler('cuda', enabled=False))
    B, L, d = TINY['batch'], TOKENS, TINY['d_model']
    per_layer = 3 * 24 * B * L * d * d + (2 + 5) * 2 * B * L * L * d
    assert bench.count_flops(step, 0) == TINY['depth'] * per_layer


def test_target_status():
    status = bench.target_status({'stage1_vs_bare_transformer': 0.95, 'rss_8x_over_1x': 1.3})
    assert status['stage1_vs_bare_transformer'][1] == 'met'
    assert status['rss_8x_over_1x'][1] == 'NOT met'
    assert status['convert_over_reader_ratio'][1] == 'n/a'
