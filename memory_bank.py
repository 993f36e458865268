"""MoCo-style FIFO memory bank of recent IMU embeddings, used as extra negatives in Stage 2.

The queue holds embeddings of earlier batches (detached, from the model as it was then; there is
no separate momentum encoder: with a slowly changing encoder and a short queue of 256, the
stale entries stay close enough to serve as negatives). Entries keep their labels so that the
loss never uses an entry of the same class as a negative.
"""
import torch
import torch.nn as nn


class MemoryBank(nn.Module):
    def __init__(self, size=256, dim=384):
        super().__init__()
        self.size = size
        # buffers: move with .to(), live in state_dict, so the queue resumes exactly
        self.register_buffer('feats', torch.zeros(size, dim))
        self.register_buffer('labels', torch.full((size,), -1, dtype=torch.long))   # -1: empty
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, feats, labels):
        """feats (B, E), labels (B,): overwrite the oldest entries (wrapping around)."""
        if self.size == 0:
            return
        feats, labels = feats[-self.size:], labels[-self.size:]        # a batch larger than the queue
        idx = (self.ptr + torch.arange(len(feats), device=feats.device)) % self.size
        self.feats[idx] = feats.detach().to(self.feats.dtype)
        self.labels[idx] = labels
        self.ptr.copy_((self.ptr + len(feats)) % self.size)

    def entries(self):
        """All slots: feats (M, E), labels (M,) with -1 for slots not yet filled."""
        return self.feats, self.labels
