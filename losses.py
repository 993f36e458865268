"""Stage 1 losses: structured masking, normalised masked MSE, patch-level InfoNCE, their sum.

Tokens are indexed (B, C, P): sample, channel, patch. `valid` (B, C, P) marks real tokens
(model.token_validity: a real channel and a patch inside the window's length); padding is never
masked and never scored.
Mask convention as in MAE: True = masked (to reconstruct), False = visible.
"""
import torch

from distributed import LOCAL

RANDOM, SPAN, CHANNEL = 0, 1, 2      # masking strategies


def random_mask(valid, ratio, g):
    """Mask round(ratio * n_valid) valid tokens per sample, uniformly; at least 1, at most n-1.
    valid: (B, C, P) -> (B, C, P)"""
    B = valid.shape[0]
    flat = valid.reshape(B, -1)
    noise = torch.rand(flat.shape, generator=g, device=valid.device).masked_fill(~flat, 2.0)
    rank = noise.argsort(1).argsort(1)                                  # rank of each token
    n_valid = flat.sum(1)
    n_mask = (ratio * n_valid).round().long().clamp(min=1).minimum((n_valid - 1).clamp(min=1))
    return ((rank < n_mask[:, None]) & flat).view_as(valid)


def span_mask(valid, ratio, g, min_len=2, max_len=4):
    """Contiguous spans of min_len..max_len patches along time, per channel, covering about
    `ratio` of the patches. Spans never overlap, touch, or cross the end of the real window.
    valid: (B, C, P) -> (B, C, P)"""
    B, C, P = valid.shape
    dev = valid.device
    mean_len = (min_len + max_len) / 2
    mean_gap = mean_len * (1 - ratio) / ratio                          # renewal process: len / (len + gap) = ratio
    hi_gap = max(1, int(round(2 * mean_gap - 1)))
    K = P // (min_len + 1) + 1                                         # enough spans to pass the end
    lens = torch.randint(min_len, max_len + 1, (B, C, K), generator=g, device=dev)
    gaps = torch.randint(1, hi_gap + 1, (B, C, K), generator=g, device=dev)
    phase = (torch.rand((B, C, 1), generator=g, device=dev) * (mean_len + mean_gap)).long()
    gaps = torch.cat([phase, gaps[..., 1:]], -1)
    starts = torch.cumsum(gaps, -1) + torch.cumsum(lens, -1) - lens    # (B, C, K)
    ends = starts + lens
    n_real = valid.sum(-1, keepdim=True)                               # (B, C, 1) real patches
    ok = ends <= n_real                                                # span inside the real window
    p = torch.arange(P, device=dev)
    inside = (p >= starts[..., None]) & (p < ends[..., None]) & ok[..., None]   # (B, C, K, P)
    return inside.any(2) & valid


def channel_mask_out(valid, ratio, g):
    """Mask every patch of round(ratio * n) real channels per sample, keeping at least one.
    valid: (B, C, P) -> (B, C, P) (all False for a sample with one channel)"""
    B, C, P = valid.shape
    ch = valid.any(-1)                                                  # (B, C) real channels
    noise = torch.rand((B, C), generator=g, device=valid.device).masked_fill(~ch, 2.0)
    rank = noise.argsort(1).argsort(1)
    n = ch.sum(1)
    n_drop = (ratio * n).round().long().clamp(min=1).minimum(n - 1)
    return (rank < n_drop[:, None])[:, :, None] & valid


def structured_mask(valid, g, mask_ratio=0.5, span_ratio=0.3, channel_ratio=0.3,
                    probs=(0.4, 0.4, 0.2), span_len=(2, 4)):
    """Per sample, one strategy: random (mask_ratio of tokens), span (about span_ratio of
    patches in 2-4 patch spans) or channel dropout (channel_ratio of channels). A sample whose
    strategy masked nothing (one channel, or too short for a span) falls back to random.
    valid: (B, C, P) -> mask (B, C, P), strategy (B,)"""
    B = valid.shape[0]
    strategy = torch.multinomial(torch.tensor(probs, device=valid.device), B, replacement=True, generator=g)
    rnd = random_mask(valid, mask_ratio, g)
    spn = span_mask(valid, span_ratio, g, *span_len)
    chn = channel_mask_out(valid, channel_ratio, g)
    s = strategy[:, None, None]
    mask = torch.where(s == SPAN, spn, torch.where(s == CHANNEL, chn, rnd))
    empty = ~mask.flatten(1).any(1)
    mask = torch.where(empty[:, None, None], rnd, mask)
    strategy = torch.where(empty, torch.full_like(strategy, RANDOM), strategy)
    return mask, strategy


def masked_mse(pred, target, mask, norm_target=True, eps=1e-6):
    """MSE on masked patches only, target normalised per patch (MAE's norm_pix_loss).
    pred, target: (B, C, P, S); mask: (B, C, P) -> scalar (and per-sample (B,) numerators/denominators)"""
    target = target.float()
    if norm_target:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True, unbiased=False)
        target = (target - mean) / (var + eps).sqrt()
    per_patch = ((pred.float() - target) ** 2).mean(-1)               # (B, C, P)
    m = mask.float()
    return (per_patch * m).sum() / m.sum().clamp(min=1), (per_patch * m).flatten(1).sum(1), m.flatten(1).sum(1)


def patch_infonce(z1, z2, valid, temperature=0.2, d=LOCAL):
    """Patch-level InfoNCE between two views, symmetric. Positive: the same (channel, patch) of
    the same sample in the other view; negatives: the same position in the other samples (of
    the global batch, gathered from all ranks under torchrun).
    z1, z2: (b, C, P, E) L2-normalised, this rank's samples; valid: (b, C, P)
    -> scalar loss (global mean), per-sample sums (b,), per-sample counts (b,)"""
    b, C, P, E = z1.shape
    v = valid.permute(1, 2, 0).reshape(C * P, b)                       # (CP, b) this rank
    v_all = d.gather_nograd(valid).permute(1, 2, 0).reshape(C * P, -1)  # (CP, B) global batch
    pos_idx = d.offset(b) + torch.arange(b, device=z1.device)          # where each query's positive is

    def one_way(q, k):
        """queries (b, C, P, E) vs keys of the global batch -> per-query loss (CP, b)"""
        q = q.permute(1, 2, 0, 3).reshape(C * P, b, E)
        k = d.gather(k).permute(1, 2, 0, 3).reshape(C * P, -1, E)
        logits = torch.bmm(q, k.transpose(1, 2)) / temperature           # (CP, b, B)
        pos = logits[:, torch.arange(b, device=z1.device), pos_idx]       # (CP, b)
        return logits.masked_fill(~v_all[:, None, :], float('-inf')).logsumexp(2) - pos

    loss = 0.5 * (one_way(z1, z2) + one_way(z2, z1))                    # (CP, b)
    # a query counts if it is real and has at least one real negative at its position
    q_ok = v & (v_all.sum(1, keepdim=True) > 1)
    loss = torch.where(q_ok, loss, torch.zeros_like(loss))
    per_sample, count = loss.sum(0), q_ok.float().sum(0)
    return d.mean(per_sample.sum(), count.sum()), per_sample, count


def pretrain_loss(pred, target, z1, z2, mask, valid, mae_weight=1.0, contrastive_weight=0.5,
                  temperature=0.2, d=LOCAL, norm_eps=1e-6):
    """total = mae_weight * MAE + contrastive_weight * patch InfoNCE, each a mean over the global
    batch (see distributed.py). Returns total and a dict of the parts (tensors; .item() only
    when logging)."""
    _, num, den = masked_mse(pred, target, mask, eps=norm_eps)
    mae = d.mean(num.sum(), den.sum())
    con = patch_infonce(z1, z2, valid, temperature, d)[0]
    return mae_weight * mae + contrastive_weight * con, {'mae': mae, 'contrastive': con}
