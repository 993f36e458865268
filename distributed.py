"""Data-parallel helpers: one process per device under torchrun, plain single process otherwise.

Under `torchrun --nproc_per_node=N script.py`, every rank reads the same global batch (cheap
memory-mapped reads), draws the same augmentations and masks from the per-step generator, and
runs only its own contiguous slice of the batch through the model. Losses are written as
(sum over this rank's terms) / (count over all ranks) * world_size, so DDP's gradient averaging
gives exactly the gradient of the single-process loss on the global batch; contrastive negatives
are gathered from all ranks (with autograd), so they are the same as in a single-process run.
"""
import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist


class Dist:
    """rank, world size and the few collectives the losses need; identity when world == 1."""

    def __init__(self, rank=0, world=1, local_rank=0):
        self.rank, self.world, self.local_rank = rank, world, local_rank

    @property
    def on(self):
        return self.world > 1

    @property
    def main(self):
        return self.rank == 0

    def shard(self, batch_size):
        """This rank's rows of a global batch."""
        b = batch_size // self.world
        return slice(self.rank * b, (self.rank + 1) * b)

    def offset(self, local_size):
        return self.rank * local_size

    def gather(self, x):
        """Concatenate x (b, ...) from all ranks along dim 0, differentiably -> (world * b, ...)"""
        if not self.on:
            return x
        return _GatherCat.apply(x.contiguous(), self.world)

    def gather_nograd(self, x):
        if not self.on:
            return x
        out = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out, 0)

    def sum(self, x):
        """All-reduce sum of a tensor (no gradient)."""
        if not self.on:
            return x
        x = x.detach().clone()
        dist.all_reduce(x)
        return x

    def mean(self, num, den):
        """Global mean from local numerator and local count: num * world / sum(den), whose
        DDP-averaged gradient is that of the global mean."""
        return num * self.world / self.sum(den).clamp(min=1)

    def average(self, x):
        """Average of a logged value over ranks."""
        return self.sum(x) / self.world if self.on else x


class _GatherCat(torch.autograd.Function):
    """all_gather + cat whose backward sends each rank the summed gradient of its own rows
    (every rank's loss used every rank's rows)."""

    @staticmethod
    def forward(ctx, x, world):
        out = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(out, x)
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        return torch.cat(out, 0)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows], None


LOCAL = Dist()


def quiet(*args, **kwargs):
    """print() for ranks other than 0."""


def init_distributed(timeout_s=300):
    """Start the process group when launched by torchrun (RANK and WORLD_SIZE set). A failing
    rank makes torchrun stop the others; the timeout bounds any collective left waiting."""
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        return LOCAL
    rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    local = int(os.environ.get('LOCAL_RANK', 0))
    if world == 1:
        return LOCAL
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group('nccl' if cuda else 'gloo', timeout=timedelta(seconds=timeout_s))
    return Dist(rank, world, local)


def broadcast_object(obj, d):
    """rank 0's Python object on every rank."""
    if not d.on:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextmanager
def process_group(d):
    """Around a run: leave the process group at the end, after a barrier when the run ended
    normally (no barrier after an error: the other ranks may be gone)."""
    try:
        yield
    except BaseException:
        shutdown(d, ok=False)
        raise
    shutdown(d)


def shutdown(d, ok=True):
    """Leave the process group. After a normal end all ranks first wait for each other, so no
    rank tears gloo down while rank 0 is still writing its last checkpoint (that raced into
    "terminate called without an active exception" on the other rank)."""
    if d.on and dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()
