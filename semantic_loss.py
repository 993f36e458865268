"""Stage 2 loss: InfoNCE between IMU embeddings and activity-label embeddings.

Each class l has K prototypes p_lk (LearnableLabelBank). The class score of an IMU embedding
u is a smooth maximum over its prototypes:

    s(u, l) = tau_k * log( mean_k exp(cos(u, p_lk) / tau_k) )         combine='logsumexp'

which lies between the mean and the max of the K cosines (tau_k -> 0 gives the max; with K=1
it is the plain cosine). 'max' and 'mean' are the other documented choices. Logits are
s / temperature, with temperature learnable (the model's logit_scale) or fixed.

Two directions, averaged:
  IMU -> text: each window against every class of the label bank, cross-entropy against hard
      or soft targets. Soft targets put `smoothing` of the mass on the other classes in
      proportion to softmax(text similarity / sim_temperature), so "walking" is not pushed
      away from "walking upstairs" as hard as from "lying". smoothing=0 gives hard targets.
  text -> IMU: each window's class against all windows of the batch plus the memory bank;
      positive: the window itself; windows and bank entries of the same class are not
      negatives (masked out).
"""
import math

import torch
import torch.nn.functional as F

from distributed import LOCAL


def combine_prototypes(sims, combine='logsumexp', proto_temperature=0.1):
    """Cosines to the K prototypes of a class -> one class score. sims (..., K) -> (...)"""
    K = sims.shape[-1]
    if K == 1 or combine == 'mean':
        return sims.mean(-1)
    if combine == 'max':
        return sims.max(-1).values
    if combine == 'logsumexp':
        return proto_temperature * (torch.logsumexp(sims / proto_temperature, -1) - math.log(K))
    raise ValueError(f"combine must be 'logsumexp', 'max' or 'mean', got {combine!r}")


def class_scores(imu, protos, combine='logsumexp', proto_temperature=0.1):
    """imu (B, E), protos (L, K, E), both L2-normalised -> scores (B, L) in cosine units."""
    return combine_prototypes(torch.einsum('be,lke->blk', imu, protos), combine, proto_temperature)


def soft_targets(labels, label_sim, smoothing, sim_temperature=0.1):
    """labels (B,), label_sim (L, L) text cosine similarities -> targets (B, L) summing to 1."""
    L = label_sim.shape[0]
    hard = F.one_hot(labels, L).float()
    if smoothing <= 0:
        return hard
    others = (label_sim[labels] / sim_temperature).masked_fill(hard.bool(), float('-inf')).softmax(-1)
    return (1 - smoothing) * hard + smoothing * others


def semantic_infonce(imu, protos, labels, logit_scale, label_sim=None, smoothing=0.0,
                     bank_feats=None, bank_labels=None, combine='logsumexp', proto_temperature=0.1,
                     sim_temperature=0.1, d=LOCAL):
    """imu (b, E) normalised, this rank's windows; protos (L, K, E) normalised; labels (b,) in
    0..L-1; logit_scale: scalar (1 / temperature); bank_feats (M, E), bank_labels (M,) (-1 =
    empty). Under torchrun the text -> IMU keys are the windows of all ranks (see distributed.py).
    Returns the loss (a mean over the global batch) and a dict of logged parts."""
    b = imu.shape[0]
    # IMU -> text: (b, L)
    logits = logit_scale * class_scores(imu, protos, combine, proto_temperature)
    if smoothing > 0 and label_sim is not None:
        target = soft_targets(labels, label_sim, smoothing, sim_temperature)
    else:
        target = F.one_hot(labels, protos.shape[0]).float()
    n = torch.tensor(float(b), device=imu.device)
    i2t = d.mean(-(target * logits.log_softmax(-1)).sum(), n)

    # text -> IMU: queries are this rank's classes, keys the global batch's windows plus the bank: (b, B + M)
    keys, key_labels = d.gather(imu), d.gather_nograd(labels)
    if bank_feats is not None:
        keys = torch.cat([keys, bank_feats.to(imu.dtype)])
        key_labels = torch.cat([key_labels, bank_labels])
    sims = torch.einsum('bke,me->bmk', protos[labels], keys)             # (b, B+M, K)
    t_logits = logit_scale * combine_prototypes(sims, combine, proto_temperature)
    pos_idx = d.offset(b) + torch.arange(b, device=imu.device)
    self_pos = torch.zeros_like(t_logits, dtype=torch.bool)
    self_pos[torch.arange(b, device=imu.device), pos_idx] = True
    same = key_labels[None, :] == labels[:, None]                        # same class: not a negative
    t_logits = t_logits.masked_fill((same & ~self_pos) | (key_labels[None, :] < 0), float('-inf'))
    t2i = d.mean(F.cross_entropy(t_logits, pos_idx, reduction='sum'), n)

    acc = d.average((logits.argmax(-1) == labels).float().mean())
    return 0.5 * (i2t + t2i), {'imu_to_text': i2t.detach(), 'text_to_imu': t2i.detach(), 'accuracy': acc}
