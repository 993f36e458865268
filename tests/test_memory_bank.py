"""memory_bank.MemoryBank: FIFO order and wrap-around against a plain deque, a batch
larger than the queue, buffers in state_dict (round trip with weights_only=True) and `.to()`."""
from collections import deque

import pytest
import torch

from memory_bank import MemoryBank

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def batch(start, n, dim=4):
    """n distinct entries numbered start..start+n-1: feats[i] = number, labels = number % 5."""
    ids = torch.arange(start, start + n)
    return ids[:, None].float().expand(n, dim).clone(), ids % 5


def chronological(bank):
    """Filled entries from oldest to newest (the slot at ptr is the oldest once the queue is full)."""
    feats, labels = bank.entries()
    filled = labels >= 0
    if filled.all():
        order = (bank.ptr + torch.arange(bank.size)) % bank.size
    else:
        order = torch.arange(int(filled.sum()))
    return feats[order, 0].long().tolist()


def test_starts_empty():
    bank = MemoryBank(size=6, dim=4)
    feats, labels = bank.entries()
    assert feats.shape == (6, 4) and labels.shape == (6,)
    assert (labels == -1).all() and int(bank.ptr) == 0 and labels.dtype == torch.long


def test_fifo_order_and_wrap_around_match_a_deque():
    size = 7
    bank = MemoryBank(size=size, dim=4)
    ref = deque(maxlen=size)
    n_seen = 0
    for n in (3, 2, 4, 1, 5, 7, 6, 2):
        f, l = batch(n_seen, n)
        bank.enqueue(f, l)
        ref.extend(range(n_seen, n_seen + n))
        n_seen += n
        assert int(bank.ptr) == n_seen % size                 # the pointer advances modulo size
        assert chronological(bank) == list(ref)               # oldest overwritten first
        feats, labels = bank.entries()
        filled = labels >= 0
        assert torch.equal(labels[filled], feats[filled, 0].long() % 5)   # labels stay with their entries


def test_slots_are_written_in_place_oldest_first():
    bank = MemoryBank(size=4, dim=2)
    bank.enqueue(*batch(0, 3, 2))                              # slots 0, 1, 2
    assert bank.labels.tolist() == [0, 1, 2, -1]
    bank.enqueue(*batch(3, 2, 2))                              # slot 3, then wraps to slot 0
    assert bank.feats[:, 0].tolist() == [4, 1, 2, 3] and int(bank.ptr) == 1
    bank.enqueue(*batch(5, 1, 2))                              # overwrites slot 1 (the oldest: entry 1)
    assert bank.feats[:, 0].tolist() == [4, 5, 2, 3] and int(bank.ptr) == 2


@pytest.mark.parametrize('ptr_before', [0, 3])
def test_batch_larger_than_queue_keeps_the_last_size_entries(ptr_before):
    size = 5
    bank = MemoryBank(size=size, dim=4)
    if ptr_before:
        bank.enqueue(*batch(100, ptr_before))
    f, l = batch(0, 13)
    bank.enqueue(f, l)
    assert sorted(bank.feats[:, 0].long().tolist()) == list(range(13 - size, 13))
    assert chronological(bank) == list(range(13 - size, 13))
    assert int(bank.ptr) == (ptr_before + size) % size
    assert torch.equal(bank.labels, bank.feats[:, 0].long() % 5)


def test_enqueue_detaches_and_casts():
    bank = MemoryBank(size=3, dim=2)
    x = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    bank.enqueue(x * 2, torch.tensor([1, 2]))
    assert bank.feats.dtype == torch.float32 and not bank.feats.requires_grad
    assert bank.feats[:2].tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_size_zero_is_a_no_op():
    bank = MemoryBank(size=0, dim=4)
    bank.enqueue(*batch(0, 3))
    feats, labels = bank.entries()
    assert feats.shape == (0, 4) and labels.shape == (0,)


def test_buffers_live_in_state_dict_and_survive_a_save_load_round_trip(tmp_path):
    bank = MemoryBank(size=5, dim=4)
    bank.enqueue(*batch(0, 8))
    sd = bank.state_dict()
    assert set(sd) == {'feats', 'labels', 'ptr'}
    assert not list(bank.parameters())                         # buffers, not trained parameters
    torch.save(sd, tmp_path / 'bank.pt')
    loaded = torch.load(tmp_path / 'bank.pt', weights_only=True)
    other = MemoryBank(size=5, dim=4)
    other.load_state_dict(loaded)
    for k in sd:
        assert torch.equal(getattr(other, k), getattr(bank, k)), k
    # the restored queue continues exactly like the original
    for b in (bank, other):
        b.enqueue(*batch(8, 3))
    for k in sd:
        assert torch.equal(getattr(other, k), getattr(bank, k)), k


def test_buffers_inside_a_module_state_dict():
    from model import EncoderConfig, SemanticAlignmentModel
    m = SemanticAlignmentModel(EncoderConfig(d_model=16, depth=2, n_heads=2), text_dim=8, memory_bank_size=6)
    sd = m.state_dict()
    assert {'memory_bank.feats', 'memory_bank.labels', 'memory_bank.ptr'} <= set(sd)
    assert sd['memory_bank.feats'].shape == (6, 8)


def test_to_moves_and_casts_buffers():
    bank = MemoryBank(size=5, dim=4)
    bank.enqueue(*batch(0, 2))
    bank.to(torch.float64)
    assert bank.feats.dtype == torch.float64 and bank.labels.dtype == torch.long
    bank.to('meta')                                            # a device move, on any machine
    assert bank.feats.device.type == 'meta' and bank.labels.device.type == 'meta'
    assert bank.ptr.device.type == 'meta'


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_to_cuda_and_enqueue_there():
    bank = MemoryBank(size=5, dim=4).to('cuda')
    assert bank.feats.is_cuda and bank.labels.is_cuda and bank.ptr.is_cuda
    f, l = batch(0, 7)
    bank.enqueue(f.cuda(), l.cuda())
    assert chronological(bank) == [2, 3, 4, 5, 6]
