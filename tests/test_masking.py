"""Structured masking: ratios, span shapes, whole-channel dropout, strategy mix, padding, determinism."""
import pytest
import torch

from losses import CHANNEL, RANDOM, SPAN, channel_mask_out, random_mask, span_mask, structured_mask
from model import token_validity


def padded_valid(B, C, P, seed=0, min_ch=1, min_p=1):
    """(B, C, P) validity with a random number of real channels and real patches per sample
    (prefixes, as the loader makes them)."""
    g = torch.Generator().manual_seed(seed)
    n_ch = torch.randint(min_ch, C + 1, (B,), generator=g)
    n_p = torch.randint(min_p, P + 1, (B,), generator=g)
    return token_validity(torch.arange(C)[None] < n_ch[:, None], torch.arange(P)[None] < n_p[:, None])


def gen(seed):
    return torch.Generator().manual_seed(seed)


def runs_along_time(row):
    """[(start, length)] of the True runs of a 1-D bool tensor."""
    out, start = [], None
    for p, m in enumerate(row.tolist() + [False]):
        if m and start is None:
            start = p
        elif not m and start is not None:
            out.append((start, p - start))
            start = None
    return out


def rounded(x):
    """round(x); at an exact half either neighbour (float32 and float64 products round differently)."""
    lo = int(x // 1)
    return {lo, lo + 1} if abs(x - lo - 0.5) < 1e-4 else {round(x)}


def expected_random_counts(n, ratio):
    return {min(max(1, k), max(n - 1, 1)) for k in rounded(ratio * n)}


# ------------------------------------------------------------------ random

@pytest.mark.parametrize('ratio', [0.5, 0.3, 0.7, 0.75, 0.01, 0.99])
def test_random_mask_count_per_sample(ratio):
    valid = padded_valid(64, 5, 9, seed=1)
    mask = random_mask(valid, ratio, gen(0))
    assert not (mask & ~valid).any()
    for b in range(len(valid)):
        n = int(valid[b].sum())
        assert int(mask[b].sum()) in expected_random_counts(n, ratio), (b, n)


def test_random_mask_is_uniform_over_valid_tokens():
    valid = torch.ones(2000, 2, 5, dtype=torch.bool)
    valid[:, 1, 3:] = False
    mask = random_mask(valid, 0.5, gen(3)).float()
    freq = mask.mean(0)[valid[0]]                                    # 8 valid tokens, 4 masked each time
    assert torch.allclose(freq, torch.full_like(freq, 4 / 8), atol=0.04)
    assert not mask[:, 1, 3:].any()


def test_random_mask_single_token():
    valid = torch.zeros(3, 2, 4, dtype=torch.bool)
    valid[0, 0, 0] = True                                            # one real token: it is masked (min 1)
    valid[1, :, :1] = True                                           # two: one masked (max n-1)
    mask = random_mask(valid, 0.9, gen(0))
    assert mask[0].sum() == 1 and mask[0, 0, 0]
    assert mask[1].sum() == 1
    assert mask[2].sum() == 0                                        # nothing real, nothing masked


# ------------------------------------------------------------------ span

def test_span_mask_runs_have_length_2_to_4_inside_the_window():
    valid = padded_valid(200, 3, 30, seed=2, min_p=1)
    mask = span_mask(valid, 0.3, gen(1))
    assert not (mask & ~valid).any()
    n_runs = 0
    for b in range(valid.shape[0]):
        for c in range(valid.shape[1]):
            n_real = int(valid[b, c].sum())
            for start, length in runs_along_time(mask[b, c]):
                assert 2 <= length <= 4, (b, c, start, length)
                assert start + length <= n_real                      # never crosses the real end
                n_runs += 1
    assert n_runs > 200


def test_span_mask_average_ratio():
    valid = torch.ones(400, 4, 50, dtype=torch.bool)
    mask = span_mask(valid, 0.3, gen(7))
    assert abs(mask.float().mean().item() - 0.3) < 0.05
    # spread over the window, not piled at its start
    first, second = mask[..., :25].float().mean().item(), mask[..., 25:].float().mean().item()
    assert abs(first - second) < 0.05


def test_span_mask_other_ratio_and_lengths():
    valid = torch.ones(300, 2, 60, dtype=torch.bool)
    mask = span_mask(valid, 0.5, gen(8), min_len=3, max_len=5)
    assert abs(mask.float().mean().item() - 0.5) < 0.06
    for b in range(20):
        for c in range(2):
            assert all(3 <= n <= 5 for _, n in runs_along_time(mask[b, c]))


def test_span_mask_padded_channels_and_short_windows_get_nothing():
    valid = torch.zeros(2, 3, 10, dtype=torch.bool)
    valid[0, :2, :1] = True                                          # one real patch: no room for a span
    valid[1, :1, :] = True                                           # channels 1, 2 padded
    mask = span_mask(valid, 0.3, gen(0))
    assert not mask[0].any()
    assert not mask[1, 1:].any()


# ------------------------------------------------------------------ channel

@pytest.mark.parametrize('ratio', [0.3, 0.5, 0.9])
def test_channel_mask_out_drops_whole_channels(ratio):
    valid = padded_valid(200, 9, 6, seed=4)
    mask = channel_mask_out(valid, ratio, gen(2))
    assert not (mask & ~valid).any()
    for b in range(valid.shape[0]):
        real = valid[b].any(-1)
        n = int(real.sum())
        dropped = mask[b].any(-1)
        for c in range(valid.shape[1]):                              # whole channel or nothing
            assert torch.equal(mask[b, c], valid[b, c] & dropped[c])
        want = {0} if n == 1 else {min(max(1, k), n - 1) for k in rounded(ratio * n)}
        assert int(dropped.sum()) in want, (b, n)
        assert (real & ~dropped).any()                               # at least one real channel kept


def test_channel_mask_out_picks_channels_uniformly():
    valid = torch.ones(3000, 6, 2, dtype=torch.bool)
    mask = channel_mask_out(valid, 0.3, gen(5))                      # round(1.8) = 2 of 6
    freq = mask[..., 0].float().mean(0)
    assert torch.allclose(freq, torch.full_like(freq, 2 / 6), atol=0.04)


# ------------------------------------------------------------------ structured

def test_structured_mask_strategy_frequencies_and_shapes():
    valid = torch.ones(4000, 6, 50, dtype=torch.bool)
    mask, strategy = structured_mask(valid, gen(11))
    freq = torch.bincount(strategy, minlength=3).float() / len(strategy)
    assert torch.allclose(freq, torch.tensor([0.4, 0.4, 0.2]), atol=0.03), freq
    n = 6 * 50
    for b in range(300):                                             # each sample looks like its strategy
        s = int(strategy[b])
        if s == RANDOM:
            assert int(mask[b].sum()) == round(0.5 * n)
        elif s == CHANNEL:
            dropped = mask[b].all(-1)
            assert torch.equal(mask[b], dropped[:, None].expand_as(mask[b]))
            assert int(dropped.sum()) == round(0.3 * 6)
        else:
            for c in range(6):
                assert all(2 <= length <= 4 for _, length in runs_along_time(mask[b, c]))


def test_structured_mask_padding_and_at_least_one():
    valid = padded_valid(2000, 4, 8, seed=6)
    mask, strategy = structured_mask(valid, gen(12))
    assert not (mask & ~valid).any()                                 # padding is never masked
    assert mask.flatten(1).any(1).all()                              # every sample has a masked token
    # a sample whose span strategy had no room (one real patch) fell back to random
    short = valid.sum(-1).max(-1).values == 1
    assert short.any()
    assert not (strategy[short] == SPAN).any()


def test_structured_mask_one_channel_falls_back_to_random():
    valid = torch.zeros(3000, 4, 20, dtype=torch.bool)
    valid[:, 0, :] = True                                            # one real channel each
    mask, strategy = structured_mask(valid, gen(13))
    assert not (strategy == CHANNEL).any()
    assert mask.flatten(1).any(1).all()
    assert abs((strategy == RANDOM).float().mean().item() - 0.6) < 0.03   # 0.4 random + 0.2 channel
    rnd = strategy == RANDOM
    assert torch.all(mask[rnd].flatten(1).sum(1) == 10)              # round(0.5 * 20)


def test_masks_are_deterministic_for_a_seed():
    valid = padded_valid(32, 5, 12, seed=9)
    for fn in (lambda g: random_mask(valid, 0.5, g), lambda g: span_mask(valid, 0.3, g),
               lambda g: channel_mask_out(valid, 0.3, g)):
        assert torch.equal(fn(gen(3)), fn(gen(3)))
        assert not torch.equal(fn(gen(3)), fn(gen(4)))
    m1, s1 = structured_mask(valid, gen(3))
    m2, s2 = structured_mask(valid, gen(3))
    m3, _ = structured_mask(valid, gen(4))
    assert torch.equal(m1, m2) and torch.equal(s1, s2)
    assert not torch.equal(m1, m3)
