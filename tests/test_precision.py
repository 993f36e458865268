"""Precision: the choice of number format (and its refusals), one training step of each stage in
bf16 against fp32 within a stated tolerance, embeddings under autocast within a cosine of 0.99
of fp32, what config.yaml and the checkpoint record, a resume in another precision said, and
CUDA-only checks of fp16 and bf16 (skipped without a GPU)."""
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

import pretrain
import semantic_alignment_train as s2
import train_common
from model import EncoderConfig, MAEPretrainModel, SemanticAlignmentModel
from test_model import batch, stage1_config, tiny_cfg

LOSS_RTOL = 0.02          # one step's loss, bf16 against fp32 (bf16 keeps 8 bits of mantissa)
EMBED_COSINE = 0.99       # an embedding under bf16 autocast against fp32


def test_auto_follows_the_device(monkeypatch):
    cpu = torch.device('cpu')
    monkeypatch.setattr(train_common, 'cpu_has_bf16', lambda: True)
    assert train_common.choose_precision('auto', cpu)[0] == 'bf16'
    monkeypatch.setattr(train_common, 'cpu_has_bf16', lambda: False)
    used, reason = train_common.choose_precision('auto', cpu)
    assert used == 'fp32' and 'no native bf16' in reason
    assert train_common.choose_precision('auto', torch.device('cuda'))[0] == 'fp16'
    assert train_common.choose_precision('fp32', cpu)[0] == 'fp32'
    assert 'slow' in train_common.choose_precision('bf16', cpu)[1]           # allowed, said to be emulated
    with pytest.raises(SystemExit, match='--precision=fp16 needs a CUDA GPU'):
        train_common.choose_precision('fp16', cpu)


def test_autocast_is_nothing_in_fp32_and_bf16_autocast_otherwise():
    assert isinstance(train_common.autocast(torch.device('cpu'), 'fp32'), nullcontext)
    with train_common.autocast(torch.device('cpu'), 'bf16'):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.bfloat16


def test_a_stage1_step_in_bf16_matches_fp32():
    torch.manual_seed(0)
    model = MAEPretrainModel(tiny_cfg())
    cfg = stage1_config()
    losses = []
    for ctx in (nullcontext(), torch.autocast('cpu', dtype=torch.bfloat16)):
        loss, parts = pretrain.step_loss(model, batch(), torch.Generator().manual_seed(3), cfg, ctx=ctx)
        assert loss.dtype == torch.float32 and parts['mae'].dtype == torch.float32   # reductions in fp32
        losses.append(loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=LOSS_RTOL)


def tiny_texts(L=5, E=16, n_texts=8):
    g = torch.Generator().manual_seed(0)
    sent = F.normalize(torch.randn(L, E, generator=g), dim=-1)
    return s2.Texts(torch.randn(L, 4, E, generator=g), torch.ones(L, 4, dtype=torch.bool), sent, sent @ sent.T,
                    F.normalize(torch.randn(n_texts, E, generator=g), dim=-1), torch.full((L,), -1),
                    torch.arange(n_texts))


def test_a_stage2_step_in_bf16_matches_fp32():
    cfg = s2.settings()
    cfg.update(SAMPLING_RATE_HZ=50.0, WINDOW_SECONDS=4.0)
    cfg = type('cfg', (), cfg)
    b = dict(batch(), label=torch.tensor([0, 1, 2, 3]), channel_text=torch.arange(6).repeat(4, 1))
    losses = []
    for ctx in (nullcontext(), torch.autocast('cpu', dtype=torch.bfloat16)):
        torch.manual_seed(0)
        model = SemanticAlignmentModel(EncoderConfig(d_model=32, depth=2, n_heads=2, patch_size=20), 16, 3, 0.07,
                                       True, 8)
        loss, _ = s2.step_loss(model, model, b, torch.Generator().manual_seed(3), cfg, tiny_texts(), ctx=ctx)
        assert loss.dtype == torch.float32
        assert model.memory_bank.feats.dtype == torch.float32 and model.label_bank.queries.dtype == torch.float32
        losses.append(loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=LOSS_RTOL)


def test_embeddings_under_bf16_autocast_are_close_to_fp32():
    from model_loading import embed_batch
    torch.manual_seed(0)
    model = SemanticAlignmentModel(EncoderConfig(d_model=32, depth=2, n_heads=2, patch_size=20), 16, 3).eval()
    b = dict(batch(), channel_text=torch.arange(6).repeat(4, 1))
    table = tiny_texts().channel_table
    with torch.no_grad():
        ref = embed_batch(model, b, table)
        low = embed_batch(model, b, table, ctx=torch.autocast('cpu', dtype=torch.bfloat16))
    assert low.dtype == torch.float32 and (low * ref).sum(-1).min() > EMBED_COSINE


def test_the_run_records_its_precision_and_a_resume_in_another_says_so(tmp_path, capsys):
    import yaml
    from test_pretrain import TINY
    args = [f'--data_root={tmp_path}', f'--out_root={tmp_path / "runs"}', *TINY, '--epochs=2', '--steps_per_epoch=2']
    run = pretrain.main([*args, '--max_steps=1', '--precision=fp32'])
    assert yaml.safe_load((run / 'config.yaml').read_text())['PRECISION'] == 'fp32'
    assert yaml.safe_load((run / 'environment.yaml').read_text())['precision'] == 'fp32'
    ckpt = torch.load(run / 'latest.pt', weights_only=True)
    assert ckpt['precision']['used'] == 'fp32' and ckpt['precision']['reason']
    capsys.readouterr()
    pretrain.main(['--resume', str(run / 'latest.pt'), '--max_steps=2', '--precision=bf16', '--num_workers=0'])
    said = capsys.readouterr().out
    assert 'precision: bf16' in said and 'trained in fp32 and continues in bf16' in said


def test_stage1_with_precision_bf16_runs_on_the_sample(tmp_path):
    from test_pretrain import TINY
    run = pretrain.main([f'--data_root={tmp_path}', f'--out_root={tmp_path / "runs"}', *TINY, '--max_steps=2',
                         '--precision=bf16'])
    assert torch.load(run / 'latest.pt', weights_only=True)['config']['PRECISION'] == 'bf16'


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('precision', ['fp16', 'bf16'])
def test_cuda_steps_in_fp16_and_bf16(precision):
    device = torch.device('cuda')
    if precision == 'bf16' and not torch.cuda.is_bf16_supported():
        pytest.skip('this GPU has no bf16')
    used, _ = train_common.choose_precision(precision, device)
    ctx = train_common.autocast(device, used)
    scaler = torch.amp.GradScaler('cuda', enabled=used == 'fp16')
    torch.manual_seed(0)
    model = MAEPretrainModel(tiny_cfg()).to(device)
    opt = train_common.make_optimizer(model, 1e-3, 0.0)
    b = {k: v.to(device) for k, v in batch().items()}
    ref, _ = pretrain.step_loss(model, b, torch.Generator(device).manual_seed(3), stage1_config())
    loss, _ = pretrain.step_loss(model, b, torch.Generator(device).manual_seed(3), stage1_config(), ctx=ctx)
    assert loss.item() == pytest.approx(ref.item(), rel=LOSS_RTOL)
    before = [p.detach().clone() for p in model.parameters()]
    train_common.optimizer_step(model, opt, scaler, loss, 1.0)
    assert all(p.dtype == torch.float32 for p in model.parameters())                 # master weights stay fp32
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
