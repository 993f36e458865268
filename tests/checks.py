"""Assertions shared by several test files."""
import torch


def assert_same_tensors(a, b, where=''):
    """Recursively: tensors bitwise equal (torch.equal, same dtype), everything else equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            assert_same_tensors(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


def spy_reverse_partnered(monkeypatch):
    """Record every augmentations.reverse_partnered call as (labels in, labels out, partner, p)."""
    import augmentations as A
    seen, real = [], A.reverse_partnered

    def spy(x, length, channel_type, labels, partner, g, p):
        out = real(x, length, channel_type, labels, partner, g, p)
        seen.append((labels.clone(), out[1].clone(), partner.clone(), p))
        return out

    monkeypatch.setattr(A, 'reverse_partnered', spy)
    return seen


def assert_relabelled_as_partners(seen):
    """With probability 1: every window of a partnered class got its partner's label, the rest
    kept theirs, and some window had a partner. -> labels out, concatenated"""
    before, after = torch.cat([s[0] for s in seen]), torch.cat([s[1] for s in seen])
    partner = seen[0][2]
    has = partner[before] >= 0
    assert has.any() and torch.equal(after[has], partner[before[has]]) and torch.equal(after[~has], before[~has])
    return after
