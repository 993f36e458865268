"""semantic_loss: the Stage 2 InfoNCE against a plain loop-based reference (K=1 and K=3, every
`combine`, with and without memory bank), soft targets, masking of same-class and empty bank
entries, and the prototype combination."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from semantic_loss import class_scores, combine_prototypes, semantic_infonce, soft_targets

pytestmark = pytest.mark.usefixtures('one_torch_thread')

COMBINES = ('logsumexp', 'max', 'mean')


# ------------------------------------------------------------------ plain reference (python loops)

def ref_combine(cosines, combine, tau):
    """Cosines (list of K floats) of one class -> its score."""
    K = len(cosines)
    if K == 1 or combine == 'mean':
        return sum(cosines) / K
    if combine == 'max':
        return max(cosines)
    return tau * math.log(sum(math.exp(c / tau) for c in cosines) / K)


def ref_logsumexp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def ref_soft_targets(labels, label_sim, smoothing, sim_t, L=None):
    """Per window: (1 - smoothing) on the true class, the rest spread over the other classes in
    proportion to exp(text similarity / sim_t)."""
    L = L or len(label_sim)
    out = []
    for y in labels:
        row = [0.0] * L
        if smoothing <= 0:
            row[y] = 1.0
        else:
            w = {l: math.exp(label_sim[y][l] / sim_t) for l in range(L) if l != y}
            z = sum(w.values())
            for l in range(L):
                row[l] = 1 - smoothing if l == y else smoothing * w[l] / z
        out.append(row)
    return out


def ref_loss(imu, protos, labels, scale, label_sim=None, smoothing=0.0, bank_feats=None, bank_labels=None,
             combine='logsumexp', tau=0.1, sim_t=0.1):
    """Both directions of the semantic InfoNCE, written out window by window."""
    imu, protos, labels = imu.tolist(), protos.tolist(), labels.tolist()
    B, L = len(imu), len(protos)

    def score(u, l):
        return ref_combine([dot(u, p) for p in protos[l]], combine, tau)

    if smoothing > 0 and label_sim is not None:
        targets = ref_soft_targets(labels, label_sim.tolist(), smoothing, sim_t)
    else:
        targets = ref_soft_targets(labels, None, 0.0, sim_t, L)
    i2t = 0.0
    for b in range(B):
        logits = [scale * score(imu[b], l) for l in range(L)]
        lse = ref_logsumexp(logits)
        i2t -= sum(targets[b][l] * (logits[l] - lse) for l in range(L))
    i2t /= B

    keys, key_labels = list(imu), list(labels)
    if bank_feats is not None:
        keys += bank_feats.tolist()
        key_labels += bank_labels.tolist()
    t2i = 0.0
    for b in range(B):
        y = labels[b]
        kept = []
        for m, (key, kl) in enumerate(zip(keys, key_labels)):
            if m != b and (kl == y or kl < 0):      # same class (other than itself) or an empty slot
                continue
            kept.append(scale * ref_combine([dot(p, key) for p in protos[y]], combine, tau))
            if m == b:
                positive = kept[-1]
        t2i -= positive - ref_logsumexp(kept)
    t2i /= B
    return 0.5 * (i2t + t2i), i2t, t2i


# ------------------------------------------------------------------ data

def unit(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def problem(K, seed=0, B=6, L=4, E=8, M=7):
    g = torch.Generator().manual_seed(seed + 100)
    imu = unit(B, E, seed=seed)
    protos = unit(L, K, E, seed=seed + 1)
    labels = torch.tensor([0, 1, 1, 2, 3, 1])[:B]
    bank_feats = unit(M, E, seed=seed + 2)
    bank_labels = torch.tensor([1, -1, 0, 3, 1, -1, 2])[:M]
    sent = unit(L, E, seed=seed + 3)
    label_sim = sent @ sent.T
    scale = torch.tensor(1 / 0.07, dtype=torch.float64) * (1 + 0.1 * torch.rand((), generator=g, dtype=torch.float64))
    return imu, protos, labels, scale, label_sim, bank_feats, bank_labels


# ------------------------------------------------------------------ the loss against the reference

@pytest.mark.parametrize('K', [1, 3])
@pytest.mark.parametrize('combine', COMBINES)
@pytest.mark.parametrize('with_bank', [False, True])
@pytest.mark.parametrize('smoothing', [0.0, 0.2])
def test_semantic_infonce_matches_loop_reference(K, combine, with_bank, smoothing):
    imu, protos, labels, scale, label_sim, bank_feats, bank_labels = problem(K, seed=K)
    bank = dict(bank_feats=bank_feats, bank_labels=bank_labels) if with_bank else {}
    loss, parts = semantic_infonce(imu, protos, labels, scale, label_sim, smoothing, combine=combine,
                                   proto_temperature=0.1, sim_temperature=0.1, **bank)
    ref, ref_i2t, ref_t2i = ref_loss(imu, protos, labels, float(scale), label_sim, smoothing,
                                     combine=combine, tau=0.1, sim_t=0.1, **bank)
    # soft_targets builds its one-hot part in float32 (1 - smoothing is rounded there), hence 1e-6
    tol = dict(rtol=1e-6, atol=1e-9) if smoothing else dict(rtol=1e-9, atol=1e-9)
    assert_close(parts['imu_to_text'], torch.tensor(ref_i2t, dtype=torch.float64), **tol)
    assert_close(parts['text_to_imu'], torch.tensor(ref_t2i, dtype=torch.float64), rtol=1e-9, atol=1e-9)
    assert_close(loss, torch.tensor(ref, dtype=torch.float64), **tol)
    # accuracy: argmax of the class scores
    scores = [[ref_combine([dot(u, p) for p in protos[l].tolist()], combine, 0.1) for l in range(len(protos))]
              for u in imu.tolist()]
    acc = sum(max(range(len(s)), key=s.__getitem__) == y for s, y in zip(scores, labels.tolist())) / len(labels)
    assert parts['accuracy'].item() == pytest.approx(acc)


def test_semantic_infonce_float32_close_to_reference_and_differentiable():
    imu, protos, labels, scale, label_sim, bank_feats, bank_labels = problem(3, seed=5)
    imu32 = imu.float().requires_grad_()
    protos32 = protos.float().requires_grad_()
    loss, _ = semantic_infonce(imu32, protos32, labels, scale.float(), label_sim.float(), 0.1,
                               bank_feats.float(), bank_labels)
    ref, _, _ = ref_loss(imu, protos, labels, float(scale), label_sim, 0.1, bank_feats, bank_labels)
    assert loss.item() == pytest.approx(ref, rel=1e-4)
    loss.backward()
    assert torch.isfinite(imu32.grad).all() and imu32.grad.abs().sum() > 0
    assert torch.isfinite(protos32.grad).all() and protos32.grad.abs().sum() > 0


# ------------------------------------------------------------------ soft targets

def test_soft_targets_are_hard_at_zero_smoothing():
    _, _, labels, _, label_sim, _, _ = problem(1)
    assert torch.equal(soft_targets(labels, label_sim, 0.0), F.one_hot(labels, 4).float())
    assert torch.equal(soft_targets(labels, label_sim, -0.5), F.one_hot(labels, 4).float())


@pytest.mark.parametrize('K', [1, 3])
def test_loss_at_zero_smoothing_equals_hard_target_loss(K):
    imu, protos, labels, scale, label_sim, bank_feats, bank_labels = problem(K, seed=3)
    with_sim, _ = semantic_infonce(imu, protos, labels, scale, label_sim, 0.0, bank_feats, bank_labels)
    without, _ = semantic_infonce(imu, protos, labels, scale, None, 0.0, bank_feats, bank_labels)
    assert torch.equal(with_sim, without)
    # and smoothing without a similarity matrix falls back to hard targets too
    no_sim, _ = semantic_infonce(imu, protos, labels, scale, None, 0.3, bank_feats, bank_labels)
    assert torch.equal(no_sim, without)
    # while smoothing with similarities changes it
    soft, _ = semantic_infonce(imu, protos, labels, scale, label_sim, 0.3, bank_feats, bank_labels)
    assert not torch.allclose(soft, without)


@pytest.mark.parametrize('smoothing', [0.05, 0.1, 0.5, 0.9])
def test_soft_targets_sum_to_one_and_keep_one_minus_smoothing_on_true_class(smoothing):
    _, _, labels, _, label_sim, _, _ = problem(1, seed=7)
    t = soft_targets(labels, label_sim, smoothing, sim_temperature=0.1)
    assert t.shape == (len(labels), 4)
    assert_close(t.sum(-1), torch.ones(len(labels), dtype=t.dtype))
    assert_close(t[torch.arange(len(labels)), labels], torch.full((len(labels),), 1 - smoothing, dtype=t.dtype))
    assert (t >= 0).all()
    assert_close(t.double(), torch.tensor(ref_soft_targets(labels.tolist(), label_sim.tolist(), smoothing, 0.1),
                                          dtype=torch.float64))


def test_soft_targets_favour_textually_similar_classes():
    """'walking' spreads more of its smoothing mass to 'walking upstairs' than to 'lying'."""
    sim = torch.tensor([[1.0, 0.8, 0.1], [0.8, 1.0, 0.2], [0.1, 0.2, 1.0]])
    t = soft_targets(torch.tensor([0]), sim, 0.2)[0]
    assert t[1] > t[2] > 0


# ------------------------------------------------------------------ what is never a negative

@pytest.mark.parametrize('combine', COMBINES)
@pytest.mark.parametrize('K', [1, 3])
def test_same_class_and_empty_bank_entries_are_never_negatives(K, combine):
    imu, protos, labels, scale, label_sim, bank_feats, bank_labels = problem(K, seed=11)
    # a bank whose entries all share class 1 with some windows, or are empty (-1)
    bank_labels = torch.tensor([1, -1, 1, -1, 1, -1, 1])
    # entries of class 1 are negatives for windows of other classes only: take the class-1 windows
    ones = labels == 1
    _, a = semantic_infonce(imu[ones], protos, labels[ones], scale, label_sim, 0.1, bank_feats, bank_labels, combine)
    changed = bank_feats.clone()
    changed[:] = unit(*bank_feats.shape, seed=99)                  # every entry is class 1 or empty
    _, b = semantic_infonce(imu[ones], protos, labels[ones], scale, label_sim, 0.1, changed, bank_labels, combine)
    assert torch.equal(a['text_to_imu'], b['text_to_imu'])
    assert torch.equal(a['imu_to_text'], b['imu_to_text'])
    # and a bank of only such entries is the same as no bank at all
    _, none = semantic_infonce(imu[ones], protos, labels[ones], scale, label_sim, 0.1, combine=combine)
    assert_close(a['text_to_imu'], none['text_to_imu'], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('K', [1, 3])
def test_empty_slots_never_count_even_for_other_classes(K):
    imu, protos, labels, scale, label_sim, bank_feats, bank_labels = problem(K, seed=13)
    changed = bank_feats.clone()
    empty = bank_labels < 0
    changed[empty] = unit(int(empty.sum()), bank_feats.shape[1], seed=42)
    _, a = semantic_infonce(imu, protos, labels, scale, label_sim, 0.1, bank_feats, bank_labels)
    _, b = semantic_infonce(imu, protos, labels, scale, label_sim, 0.1, changed, bank_labels)
    assert torch.equal(a['text_to_imu'], b['text_to_imu'])
    # the other side: moving an entry of another class does change the loss
    other = bank_feats.clone()
    other[(bank_labels >= 0).nonzero()[0]] = unit(1, bank_feats.shape[1], seed=43)[0]
    _, c = semantic_infonce(imu, protos, labels, scale, label_sim, 0.1, other, bank_labels)
    assert not torch.equal(a['text_to_imu'], c['text_to_imu'])


def test_same_class_windows_of_the_batch_are_not_negatives():
    """Two windows of one class: moving the second does not change the first query's text->IMU
    term (it is masked), so with a batch of one class only the diagonal counts."""
    E = 8
    protos = unit(3, 2, E, seed=1)
    imu = unit(3, E, seed=2)
    labels = torch.tensor([2, 2, 2])
    _, parts = semantic_infonce(imu, protos, labels, torch.tensor(10.0, dtype=torch.float64))
    # every key but the positive is masked: text->IMU loss is exactly 0
    assert parts['text_to_imu'].item() == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------ combining prototypes

def test_combine_logsumexp_between_mean_and_max():
    sims = unit(50, 3, 8, seed=3) @ unit(8, seed=4)                  # (50, 3) cosines in [-1, 1]
    for tau in (0.01, 0.1, 1.0, 10.0):
        lse = combine_prototypes(sims, 'logsumexp', tau)
        assert (lse >= sims.mean(-1) - 1e-12).all()
        assert (lse <= sims.max(-1).values + 1e-12).all()
    # limits: small tau -> max, large tau -> mean
    assert_close(combine_prototypes(sims, 'logsumexp', 1e-4), sims.max(-1).values, atol=1e-3, rtol=0)
    assert_close(combine_prototypes(sims, 'logsumexp', 1e4), sims.mean(-1), atol=1e-4, rtol=0)
    assert torch.equal(combine_prototypes(sims, 'max'), sims.max(-1).values)
    assert torch.equal(combine_prototypes(sims, 'mean'), sims.mean(-1))


@pytest.mark.parametrize('combine', COMBINES)
def test_single_prototype_score_is_the_cosine(combine):
    imu = unit(5, 8, seed=5)
    protos = unit(4, 1, 8, seed=6)
    assert_close(class_scores(imu, protos, combine), imu @ protos[:, 0].T, rtol=1e-12, atol=1e-12)
    assert_close(combine_prototypes((imu @ protos[:, 0].T)[..., None], combine, 0.1), imu @ protos[:, 0].T)


def test_unknown_combine_is_refused():
    with pytest.raises(ValueError, match='combine'):
        combine_prototypes(torch.zeros(2, 3), 'median')
