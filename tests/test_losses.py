"""Stage 1 losses against plain loop references, and their invariances (padding, visible patches)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from losses import masked_mse, patch_infonce, pretrain_loss
from model import token_validity

B, C, P, S, E = 5, 4, 6, 8, 7


def make_valid(g):
    """Padding like the loader makes it: per sample a prefix of real channels and of real patches."""
    n_ch = torch.tensor([4, 2, 1, 3, 4])
    n_p = torch.tensor([6, 3, 6, 1, 4])
    channel_mask = torch.arange(C)[None, :] < n_ch[:, None]
    valid_p = torch.arange(P)[None, :] < n_p[:, None]
    return token_validity(channel_mask, valid_p)


def rand_inputs(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(B, C, P, S, generator=g, dtype=dtype)
    target = 3 * torch.randn(B, C, P, S, generator=g, dtype=dtype) + 1
    z1 = F.normalize(torch.randn(B, C, P, E, generator=g, dtype=dtype), dim=-1)
    z2 = F.normalize(torch.randn(B, C, P, E, generator=g, dtype=dtype), dim=-1)
    valid = make_valid(g)
    mask = valid & (torch.rand(B, C, P, generator=g) < 0.5)
    mask[0, 0, 0] = True
    return pred, target, z1, z2, mask, valid


# ------------------------------------------------------------------ references

def ref_masked_mse(pred, target, mask, norm_target=True, eps=1e-6):
    num = torch.zeros(pred.shape[0], dtype=torch.float64)
    den = torch.zeros(pred.shape[0], dtype=torch.float64)
    for b in range(pred.shape[0]):
        for c in range(pred.shape[1]):
            for p in range(pred.shape[2]):
                if not mask[b, c, p]:
                    continue
                t = target[b, c, p].double()
                if norm_target:
                    m = t.mean()
                    v = ((t - m) ** 2).mean()
                    t = (t - m) / math.sqrt(v + eps)
                num[b] += ((pred[b, c, p].double() - t) ** 2).mean()
                den[b] += 1
    return num.sum() / max(den.sum().item(), 1.0), num, den


def ref_infonce(z1, z2, valid, temperature):
    Bn, Cn, Pn, _ = z1.shape
    per_sample = torch.zeros(Bn, dtype=torch.float64)
    count = torch.zeros(Bn, dtype=torch.float64)
    for c in range(Cn):
        for p in range(Pn):
            keys = [j for j in range(Bn) if valid[j, c, p]]
            if len(keys) < 2:
                continue
            for i in keys:
                pos = float(z1[i, c, p] @ z2[i, c, p]) / temperature
                ab = [float(z1[i, c, p] @ z2[j, c, p]) / temperature for j in keys]
                ba = [float(z2[i, c, p] @ z1[j, c, p]) / temperature for j in keys]
                lse_ab = math.log(sum(math.exp(v) for v in ab))
                lse_ba = math.log(sum(math.exp(v) for v in ba))
                per_sample[i] += 0.5 * ((lse_ab - pos) + (lse_ba - pos))
                count[i] += 1
    return per_sample.sum() / max(count.sum().item(), 1.0), per_sample, count


# ------------------------------------------------------------------ masked MSE

@pytest.mark.parametrize('norm_target', [True, False])
def test_masked_mse_matches_reference(norm_target):
    pred, target, _, _, mask, _ = rand_inputs()
    got, num, den = masked_mse(pred, target, mask, norm_target=norm_target)
    want, rnum, rden = ref_masked_mse(pred, target, mask, norm_target=norm_target)
    assert_close(got.double(), want)
    assert_close(num.double(), rnum)
    assert_close(den.double(), rden)


def test_masked_mse_ignores_visible_and_padding():
    pred, target, _, _, mask, valid = rand_inputs()
    base = masked_mse(pred, target, mask)[0]
    g = torch.Generator().manual_seed(1)
    outside = ~mask                                                   # visible or padding
    pred2 = torch.where(outside[..., None], 100 * torch.randn(pred.shape, generator=g, dtype=pred.dtype), pred)
    target2 = torch.where(outside[..., None], -50 * torch.randn(pred.shape, generator=g, dtype=pred.dtype), target)
    assert torch.equal(masked_mse(pred2, target2, mask)[0], base)
    # the gradient reaches masked patches only
    pred.requires_grad_(True)
    masked_mse(pred, target, mask)[0].backward()
    assert torch.all(pred.grad[~mask] == 0)
    assert torch.all(pred.grad[mask].abs().sum(-1) > 0)


def test_masked_mse_empty_mask_is_zero():
    pred, target, _, _, mask, _ = rand_inputs()
    loss, num, den = masked_mse(pred, target, torch.zeros_like(mask))
    assert loss.item() == 0.0 and torch.all(num == 0) and torch.all(den == 0)


def test_masked_mse_normalises_target_per_patch():
    """A target that is an affine copy of the prediction per patch costs (almost) nothing."""
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 3, 4, 16, generator=g, dtype=torch.float64)
    z = (z - z.mean(-1, keepdim=True)) / z.std(-1, unbiased=False, keepdim=True)
    target = 5 * z - 7
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    assert masked_mse(z, target, mask)[0].item() < 1e-5


# ------------------------------------------------------------------ patch InfoNCE

@pytest.mark.parametrize('temperature', [0.2, 1.0])
def test_patch_infonce_matches_reference(temperature):
    _, _, z1, z2, _, valid = rand_inputs()
    got, per_sample, count = patch_infonce(z1, z2, valid, temperature)
    want, rps, rcount = ref_infonce(z1, z2, valid, temperature)
    assert_close(got.double(), want)
    assert_close(per_sample.double(), rps)
    assert_close(count.double(), rcount)


def test_patch_infonce_full_validity_matches_cross_entropy():
    """With no padding, each position is a symmetric CLIP loss over the batch."""
    g = torch.Generator().manual_seed(4)
    z1 = F.normalize(torch.randn(B, C, P, E, generator=g), dim=-1)
    z2 = F.normalize(torch.randn(B, C, P, E, generator=g), dim=-1)
    valid = torch.ones(B, C, P, dtype=torch.bool)
    got = patch_infonce(z1, z2, valid, 0.2)[0]
    losses = []
    for c in range(C):
        for p in range(P):
            logits = z1[:, c, p] @ z2[:, c, p].T / 0.2
            y = torch.arange(B)
            losses.append(0.5 * (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)))
    assert_close(got, torch.stack(losses).mean())


def test_patch_infonce_ignores_padding():
    _, _, z1, z2, _, valid = rand_inputs()
    base = patch_infonce(z1, z2, valid, 0.2)
    g = torch.Generator().manual_seed(2)
    other1 = F.normalize(torch.randn(z1.shape, generator=g, dtype=z1.dtype), dim=-1)
    other2 = F.normalize(torch.randn(z2.shape, generator=g, dtype=z2.dtype), dim=-1)
    z1b = torch.where(valid[..., None], z1, other1)
    z2b = torch.where(valid[..., None], z2, other2)
    changed = patch_infonce(z1b, z2b, valid, 0.2)
    for a, b in zip(base, changed):
        assert torch.equal(a, b)


def test_patch_infonce_positions_without_negatives():
    """A query alone at its position (or a position with no real token) adds nothing and gives
    finite gradients."""
    g = torch.Generator().manual_seed(5)
    z1 = F.normalize(torch.randn(3, 1, 3, E, generator=g), dim=-1).requires_grad_(True)
    z2 = F.normalize(torch.randn(3, 1, 3, E, generator=g), dim=-1).requires_grad_(True)
    valid = torch.tensor([[[True, True, False]], [[True, False, False]], [[True, False, False]]])
    loss, per_sample, count = patch_infonce(z1, z2, valid, 0.2)
    assert count.tolist() == [1.0, 1.0, 1.0]                      # only patch 0 has negatives
    loss.backward()
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
    assert torch.all(z1.grad[:, :, 1:] == 0) and torch.all(z2.grad[:, :, 1:] == 0)
    nothing = patch_infonce(z1, z2, torch.zeros_like(valid), 0.2)[0]
    assert nothing.item() == 0.0


def test_patch_infonce_prefers_aligned_views():
    g = torch.Generator().manual_seed(6)
    z = F.normalize(torch.randn(8, 2, 3, E, generator=g), dim=-1)
    valid = torch.ones(8, 2, 3, dtype=torch.bool)
    aligned = patch_infonce(z, z, valid, 0.2)[0]
    shuffled = patch_infonce(z, z[torch.randperm(8, generator=g)], valid, 0.2)[0]
    assert aligned < math.log(8) < shuffled


# ------------------------------------------------------------------ total

def test_pretrain_loss_is_weighted_sum():
    pred, target, z1, z2, mask, valid = rand_inputs()
    total, parts = pretrain_loss(pred, target, z1, z2, mask, valid, mae_weight=0.7,
                                 contrastive_weight=0.3, temperature=0.5)
    mae = masked_mse(pred, target, mask)
    con = patch_infonce(z1, z2, valid, 0.5)
    assert_close(total, 0.7 * mae[0] + 0.3 * con[0])
    assert_close(parts['mae'], mae[0])
    assert_close(parts['contrastive'], con[0])
    # the weights can switch a part off entirely
    assert_close(pretrain_loss(pred, target, z1, z2, mask, valid, 1.0, 0.0)[0], mae[0], check_dtype=False)
    assert_close(pretrain_loss(pred, target, z1, z2, mask, valid, 0.0, 1.0, 0.2)[0],
                 patch_infonce(z1, z2, valid, 0.2)[0], check_dtype=False)


def test_token_validity():
    cm = torch.tensor([[True, False], [True, True]])
    vp = torch.tensor([[True, True, False], [True, False, False]])
    v = token_validity(cm, vp)
    for b in range(2):
        for c in range(2):
            for p in range(3):
                assert v[b, c, p] == (cm[b, c] and vp[b, p])
