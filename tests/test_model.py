"""Encoder shapes, padding honoured end to end, channel-order equivariance, masked patches hidden."""
from types import SimpleNamespace

import pytest
import torch
from torch.testing import assert_close

import pretrain
from datasets.format import PAD_TYPE, SENSOR_TYPES
from losses import masked_mse, structured_mask
from model import token_validity
from model import EncoderConfig, IMUEncoder, MAEPretrainModel, patch_valid, patchify

PATCH = 10
T = 80                       # 8 patches


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    """Tiny models: one intra-op thread is faster, and far faster on a busy machine (no spinning)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_cfg():
    return EncoderConfig(d_model=32, depth=2, n_heads=2, patch_size=PATCH, max_patches=16,
                         decoder_depth=1, proj_dim=16)


def tiny_model(cls=MAEPretrainModel, seed=0):
    torch.manual_seed(seed)
    return cls(tiny_cfg()).eval()


def batch(seed=0):
    """Sample 0: 6 real channels, full length. Sample 1: 3 real channels (3 padded), 53 samples.
    Sample 2: 6 channels, 35 samples. Sample 3: 3 channels, full length.
    Real values past `length` and in padded channels are zero, as the loader makes them."""
    g = torch.Generator().manual_seed(seed)
    B, C = 4, 6
    length = torch.tensor([T, 53, 35, T])
    n_ch = torch.tensor([6, 3, 6, 3])
    channel_mask = torch.arange(C)[None] < n_ch[:, None]
    x = torch.randn(B, T, C, generator=g)
    x[:, :, [2, 5]] += 1.0
    x = x * (torch.arange(T)[None, :, None] < length[:, None, None]) * channel_mask[:, None, :]
    channel_type = torch.tensor([0, 0, 0, 1, 1, 1]).repeat(B, 1)
    channel_type[~channel_mask] = PAD_TYPE
    triads = torch.tensor([[0, 1, 2, 0, 0], [3, 4, 5, 0, 1]]).repeat(B, 1, 1)
    triads[n_ch == 3, 1] = -1
    return {'x': x, 'length': length, 'channel_mask': channel_mask, 'channel_type': channel_type,
            'triads': triads, 'label': torch.zeros(B, dtype=torch.long), 'dataset': torch.zeros(B, dtype=torch.long)}


def real_tokens(b):
    vp = patch_valid(b['length'], T // PATCH, PATCH)
    return token_validity(b['channel_mask'], vp)


def scramble_padding(b, seed=1):
    """Junk in padded channels and past `length` (same metadata)."""
    g = torch.Generator().manual_seed(seed)
    junk = 10 * torch.randn(b['x'].shape, generator=g)
    real = (torch.arange(T)[None, :, None] < b['length'][:, None, None]) & b['channel_mask'][:, None, :]
    return dict(b, x=torch.where(real, b['x'], junk))


def stage1_config(rotation='so3'):
    return SimpleNamespace(PATCH_SIZE=PATCH, MASK_RATIO=0.5, SPAN_MASK_RATIO=0.3, CHANNEL_DROP_RATIO=0.3,
                           MAE_WEIGHT=1.0, NORM_EPS=1e-2, CONTRASTIVE_WEIGHT=0.5, TEMPERATURE=0.2, ROTATION=rotation,
                           INPUT_FRAME='device', SAMPLING_RATE_HZ=50.0, SHIFT_FRAC=0.25, JITTER_SIGMA=0.05,
                           SCALE_SIGMA=0.1, WARP_SIGMA=0.2, MAG_WARP_SIGMA=0.2, ACC_ONLY_PROB=0.0,
                           GRAVITY_REMOVAL_PROB=0.0, LOW_RATE_PROB=0.0, LOW_RATE_MIN_HZ=10.0)


# ------------------------------------------------------------------ shapes

def test_patchify_and_patch_valid():
    x = torch.arange(2 * 25 * 3, dtype=torch.float32).view(2, 25, 3)
    p = patchify(x, 10)
    assert p.shape == (2, 3, 2, 10)                                   # trailing partial patch dropped
    assert torch.equal(p[1, 2, 1], x[1, 10:20, 2])
    vp = patch_valid(torch.tensor([25, 19, 20]), 2, 10)
    assert vp.tolist() == [[True, True], [True, False], [True, True]]


def test_encoder_and_pretrain_model_shapes():
    b = batch()
    enc = tiny_model(IMUEncoder)
    h, vp = enc(b['x'], b['length'], b['channel_mask'], b['channel_type'])
    assert h.shape == (4, 6, T // PATCH, 32)
    assert vp.shape == (4, T // PATCH) and vp.dtype == torch.bool
    assert vp.sum(1).tolist() == [8, 5, 3, 8]
    assert torch.isfinite(h).all()
    model = tiny_model()
    mask = torch.zeros(4, 6, 8, dtype=torch.bool)
    mask[:, 0, :2] = True
    pred, z1, z2, vp2 = model(b['x'], b['x'], b['length'], b['channel_mask'], b['channel_type'], mask)
    assert pred.shape == (4, 6, 8, PATCH)
    assert z1.shape == z2.shape == (4, 6, 8, 16)
    assert_close(z1.norm(dim=-1), torch.ones(4, 6, 8))
    assert torch.equal(vp, vp2)


def test_too_many_patches_is_refused():
    enc = tiny_model(IMUEncoder)
    x = torch.zeros(1, 17 * PATCH, 3)
    with pytest.raises(ValueError, match='max_patches'):
        enc(x, torch.tensor([17 * PATCH]), torch.ones(1, 3, dtype=torch.bool), torch.zeros(1, 3, dtype=torch.long))


# ------------------------------------------------------------------ padding honoured

def test_encoder_ignores_padded_channels_and_samples_past_length():
    b, b2 = batch(), scramble_padding(batch())
    enc = tiny_model(IMUEncoder)
    real = real_tokens(b)
    with torch.no_grad():
        h = enc(b['x'], b['length'], b['channel_mask'], b['channel_type'])[0]
        h2 = enc(b2['x'], b2['length'], b2['channel_mask'], b2['channel_type'])[0]
    assert not torch.equal(b['x'], b2['x'])
    assert_close(h[real], h2[real], atol=1e-6, rtol=1e-6)


def test_encoder_sample_does_not_depend_on_batch_padding():
    """A 3-channel sample gives the same tokens alone (3 channels) and padded to 6 in a batch."""
    b = batch()
    enc = tiny_model(IMUEncoder)
    with torch.no_grad():
        h = enc(b['x'], b['length'], b['channel_mask'], b['channel_type'])[0]
        alone = enc(b['x'][1:2, :, :3], b['length'][1:2], b['channel_mask'][1:2, :3], b['channel_type'][1:2, :3])[0]
    n_p = int(patch_valid(b['length'][1:2], 8, PATCH).sum())
    assert_close(h[1, :3, :n_p], alone[0, :, :n_p], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('rotation', ['so3', 'gravity'])
def test_step_loss_ignores_padding(rotation):
    b, b2 = batch(), scramble_padding(batch())
    model, C = tiny_model(), stage1_config(rotation)
    with torch.no_grad():
        loss, parts = pretrain.step_loss(model, b, torch.Generator().manual_seed(3), C)
        loss2, parts2 = pretrain.step_loss(model, b2, torch.Generator().manual_seed(3), C)
    assert torch.isfinite(loss)
    assert_close(loss, loss2, atol=1e-6, rtol=1e-6)
    assert_close(parts['mae'], parts2['mae'], atol=1e-6, rtol=1e-6)
    assert_close(parts['contrastive'], parts2['contrastive'], atol=1e-6, rtol=1e-6)


def test_step_loss_gradients_are_finite_and_deterministic():
    b = batch()
    C = stage1_config()
    grads = []
    for _ in range(2):
        model = tiny_model().train()
        loss, _ = pretrain.step_loss(model, b, torch.Generator().manual_seed(4), C)
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for g1, g2 in zip(*grads):
        assert torch.isfinite(g1).all()
        assert torch.equal(g1, g2)


# ------------------------------------------------------------------ channel-order equivariance

def test_channel_order_equivariance():
    b = batch()
    model = tiny_model()
    g = torch.Generator().manual_seed(5)
    valid = real_tokens(b)
    mask, _ = structured_mask(valid, g)
    perm = torch.tensor([4, 1, 5, 0, 3, 2])
    with torch.no_grad():
        out = model(b['x'], b['x'] * 0.9, b['length'], b['channel_mask'], b['channel_type'], mask)
        outp = model(b['x'][:, :, perm], b['x'][:, :, perm] * 0.9, b['length'], b['channel_mask'][:, perm],
                     b['channel_type'][:, perm], mask[:, perm])
    real = valid[:, perm]
    for a, ap in zip(out[:3], outp[:3]):                              # pred, z1, z2 (B, C, P, .)
        assert_close(a[:, perm][real], ap[real], atol=1e-5, rtol=1e-5)
    assert torch.equal(out[3], outp[3])


# ------------------------------------------------------------------ masking

def test_masked_patch_content_does_not_reach_the_encoder():
    b = batch()
    enc = tiny_model(IMUEncoder)
    mask = torch.zeros(4, 6, 8, dtype=torch.bool)
    mask[0, 1, 2:5] = True
    mask[2, 4, 0] = True
    x2 = b['x'].clone()
    x2[0, 20:50, 1] = 99.0                                            # patches 2-4 of channel 1
    x2[2, 0:10, 4] = -99.0
    with torch.no_grad():
        h = enc(b['x'], b['length'], b['channel_mask'], b['channel_type'], mask)[0]
        h2 = enc(x2, b['length'], b['channel_mask'], b['channel_type'], mask)[0]
        h3 = enc(x2, b['length'], b['channel_mask'], b['channel_type'])[0]
    assert torch.equal(h, h2)
    assert not torch.allclose(h, h3)                                  # without the mask it does


def test_mae_loss_ignores_visible_patches():
    b = batch()
    model = tiny_model().train()
    valid = real_tokens(b)
    mask, _ = structured_mask(valid, torch.Generator().manual_seed(6))
    pred, _, _, _ = model(b['x'], b['x'], b['length'], b['channel_mask'], b['channel_type'], mask)
    target = patchify(b['x'], PATCH)
    pred.retain_grad()
    loss = masked_mse(pred, target, mask)[0]
    loss.backward()
    assert torch.all(pred.grad[~mask] == 0)
    assert pred.grad[mask].abs().sum() > 0
    target2 = torch.where(mask[..., None], target, torch.randn_like(target) * 50)
    assert torch.equal(masked_mse(pred.detach(), target2, mask)[0], loss.detach())


def test_window_shorter_than_a_patch_does_not_poison_the_batch():
    """A sample with no complete patch (every token padding) leaves the loss and gradients finite."""
    b = batch()
    b['length'] = torch.tensor([T, 53, 7, T])
    b['x'] = b['x'] * (torch.arange(T)[None, :, None] < b['length'][:, None, None])
    model = tiny_model().train()
    loss, parts = pretrain.step_loss(model, b, torch.Generator().manual_seed(7), stage1_config())
    assert torch.isfinite(loss) and torch.isfinite(parts['mae']) and torch.isfinite(parts['contrastive'])
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_hybrid_frame_channels_double_the_metadata_with_types_of_their_own():
    import augmentations as M
    b = batch()
    assert M.PAD_TYPE == PAD_TYPE and M.N_CHANNEL_TYPES == len(SENSOR_TYPES) + 1
    text = torch.arange(6).repeat(4, 1)
    same = M.frame_channels('invariant', b['channel_mask'], b['channel_type'], text)
    assert all(a is o for a, o in zip(same, (b['channel_mask'], b['channel_type'], text)))
    mask, types, texts = M.frame_channels('hybrid', b['channel_mask'], b['channel_type'], text)
    assert torch.equal(mask, torch.cat([b['channel_mask']] * 2, 1))
    assert torch.equal(texts, torch.cat([text] * 2, 1))
    assert types[1].tolist() == [0, 0, 0, PAD_TYPE, PAD_TYPE, PAD_TYPE, 4, 4, 4, PAD_TYPE, PAD_TYPE, PAD_TYPE]
    assert types[0, 6:].tolist() == [4, 4, 4, 5, 5, 5]
    assert M.frame_channels('hybrid', b['channel_mask'], b['channel_type'])[2] is None
    cfg = EncoderConfig(**{**tiny_cfg().__dict__, 'input_frame': 'hybrid'})
    enc = IMUEncoder(cfg)
    mag = M.frame_channels('hybrid', b['channel_mask'][:, :1], torch.full((4, 1), 2))[1]   # magnetometer: 2 -> 6
    assert enc.type_embed.num_embeddings == int(mag.max()) + 1 == 7
    assert IMUEncoder(tiny_cfg()).type_embed.num_embeddings == M.N_CHANNEL_TYPES   # older checkpoints still load
    x = torch.cat([b['x'], b['x']], 2)
    h, _ = enc(x, b['length'], mask, types)
    assert h.shape == (4, 12, T // PATCH, 32) and torch.isfinite(h).all()
