"""bench.py's building blocks on a tiny model: real loader shapes, steps that train, FLOP counts
that match the transformer arithmetic (CPU attention kernels included), target bookkeeping."""
import math

import pytest
import torch

import bench
import bench_convert

TINY = dict(d_model=32, depth=2, n_heads=2, decoder_depth=1, batch=4)
TOKENS = 60                                    # 10 patches x 6 channels per window


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = bench.write_synthetic(tmp_path_factory.mktemp('bench'), 'synth', 40_000, n_subjects=4)
    return {'stage1': bench.open_data(folder), 'stage2': bench.open_data(folder, labelled_only=True, hop_s=1.0)}


def test_steps_follow_the_training_scripts_settings(data, monkeypatch):
    """A changed default of pretrain.py or semantic_alignment_train.py reaches the steps bench
    times; only the model shape and batch size are the benchmark's own."""
    stage1, stage2 = bench.pretrain.settings(), bench.semantic_alignment_train.settings()
    monkeypatch.setattr(bench.pretrain, 'settings', lambda: {**stage1, 'MASK_RATIO': 0.25, 'D_MODEL': 999})
    monkeypatch.setattr(bench.semantic_alignment_train, 'settings', lambda: {**stage2, 'NUM_PROTOTYPES': 5})
    seen = []
    step_loss = bench.pretrain.step_loss
    monkeypatch.setattr(bench.pretrain, 'step_loss',
                        lambda fwd, b, g, cfg, ctx: seen.append(cfg) or step_loss(fwd, b, g, cfg, ctx=ctx))
    step, _ = bench.build_step('stage1', TINY, data, torch.device('cpu'), bench.nullcontext(),
                               torch.amp.GradScaler('cuda', enabled=False))
    step(0)
    cfg = seen[0]
    assert cfg.MASK_RATIO == 0.25
    assert (cfg.D_MODEL, cfg.DEPTH, cfg.N_HEADS, cfg.BATCH_SIZE, cfg.PATCH_SIZE) == (32, 2, 2, 4, 20)
    assert isinstance(cfg.NUM_WORKERS, int)
    _, model = bench.build_step('stage2', TINY, data, torch.device('cpu'), bench.nullcontext(),
                                torch.amp.GradScaler('cuda', enabled=False))
    assert model.label_bank.K == 5


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


def test_time_interleaved_rotates_the_order_and_runs_the_rounds():
    """Each round calls every step once, starting one further along; the step index is first +
    round; rounds beyond the minimum run only while under the time budget."""
    calls, after = [], []
    steps = {k: (lambda i, k=k: calls.append((k, i))) for k in 'abc'}
    times = bench.time_interleaved(steps, torch.device('cpu'), 2, first=5, max_rounds=4, budget_s=0.0,
                                   after_round=lambda: after.append(len(calls)))
    assert calls == [('a', 5), ('b', 5), ('c', 5), ('b', 6), ('c', 6), ('a', 6)]
    assert after == [3, 6] and all(len(t) == 2 for t in times.values())
    times = bench.time_interleaved(steps, torch.device('cpu'), 1, first=0, max_rounds=3, budget_s=60.0)
    assert all(len(t) == 3 for t in times.values())


def test_cpu_peak_memory_covers_the_memory_in_use():
    cpu = torch.device('cpu')
    bench.reset_peak(cpu)
    now = bench.memory_now(cpu)
    assert bench.peak_memory(cpu) >= now > 0


def test_generated_hhar_folder_converts(tmp_path):
    """bench_convert's raw HHAR folder is one the converter reads: every user converts."""
    from datasets import hhar
    paths = bench_convert.write_hhar_raw(tmp_path / 'hhar_raw', 3600)
    assert [p.name for p in paths] == ['Phones_accelerometer.csv', 'Phones_gyroscope.csv',
                                       'Watch_accelerometer.csv', 'Watch_gyroscope.csv']
    meta = hhar.convert(tmp_path / 'hhar_raw', tmp_path / 'prepared')
    assert meta['subjects'] == list('abcdefghi') and meta['n_samples'] > 0


def test_target_status():
    status = bench.target_status({'stage1_vs_bare_transformer': 0.95, 'rss_8x_over_1x': 1.3})
    assert status['stage1_vs_bare_transformer'][1] == 'met'
    assert status['rss_8x_over_1x'][1] == 'NOT met'
    assert status['convert_over_reader_ratio'][1] == 'n/a'


def test_precision_compared_with_fp32_is_chosen_by_the_device(monkeypatch):
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    monkeypatch.setattr(bench, 'cpu_has_bf16', lambda: True)
    assert bench.low_precision(cpu, 'auto')[0] == 'bf16' and bench.low_precision(cuda, 'auto')[0] == 'fp16'
    monkeypatch.setattr(bench, 'cpu_has_bf16', lambda: False)
    low, why = bench.low_precision(cpu, 'auto')
    assert low is None and 'no native bf16' in why
    assert bench.low_precision(cpu, 'bf16')[0] == 'bf16' and bench.low_precision(cpu, 'none')[0] is None


def test_without_native_bf16_the_precision_section_says_why(data, monkeypatch):
    monkeypatch.setattr(bench, 'cpu_has_bf16', lambda: False)
    r = bench.bench_precision(TINY, data, torch.device('cpu'), 'auto', (1, 2, 2, 0.0), 256)
    assert r['status'].startswith('n/a: this CPU has no native bf16')
    assert set(r['matmul_256_flop_per_s']) == {'fp32', 'bf16'} and all(v > 0 for v in r['matmul_256_flop_per_s'].values())
