"""IMU encoder, MAE decoder (Stage 1) and the semantic alignment model (Stage 2).

Shapes: B batch, T samples, C channels, P patches per channel (T = P * S), S samples per
patch, D model width, K prototypes per class, L labels, N text tokens.

A window (B, T, C) is cut into per-channel patches (B, C, P, S) and embedded to tokens
(B, C, P, D). Blocks alternate between attention over time (within a channel) and attention
over channels (within a patch position), so any channel count works and no channel identity
is baked in: the encoder is equivariant to channel order. A channel's sensor type (acc / gyro
/ mag, and in the hybrid input frame whether it is a recorded or an invariant channel) is the
only per-channel embedding.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from augmentations import n_channel_types

@dataclass
class EncoderConfig:
    d_model: int = 384
    depth: int = 6               # blocks; even ones attend over time, odd ones over channels
    n_heads: int = 6
    patch_size: int = 20         # samples per patch (0.4 s at 50 Hz)
    max_patches: int = 64
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    decoder_depth: int = 2       # MAE decoder blocks (Stage 1 only)
    proj_dim: int = 128          # patch-contrastive projection width (Stage 1 only)
    input_frame: str = 'device'  # 'device', 'gravity' (gravity turned to +z), 'invariant' or 'hybrid' (augmentations.input_frame)
    sampling_rate_hz: float = 50.0  # the windows' rate (the invariant frame smooths and integrates over time)


def patchify(x, patch_size):
    """(B, T, C) -> (B, C, P, S), dropping a trailing partial patch."""
    B, T, C = x.shape
    P = T // patch_size
    return x[:, :P * patch_size].reshape(B, P, patch_size, C).permute(0, 3, 1, 2)


def patch_valid(length, n_patches, patch_size):
    """Patches fully inside the real part of each window. length (B,) -> (B, P) bool"""
    ends = (torch.arange(n_patches, device=length.device) + 1) * patch_size
    return ends[None, :] <= length[:, None]


def token_validity(channel_mask, valid_p):
    """Real tokens: a real channel and a patch inside the window. (B, C), (B, P) -> (B, C, P) bool"""
    return channel_mask[:, :, None] & valid_p[:, None, :]


class Block(nn.Module):
    """Pre-norm transformer block over one token axis. x: (N, L, D), keep: (N, L) bool keys."""

    def __init__(self, d, heads, mlp_ratio, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, int(d * mlp_ratio)), nn.GELU(),
                                 nn.Linear(int(d * mlp_ratio), d), nn.Dropout(dropout))

    def forward(self, x, keep):
        N, L, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(N, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        mask = None if keep is None else keep[:, None, None, :]                  # (N, 1, 1, L)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(a.transpose(1, 2).reshape(N, L, D))
        return x + self.mlp(self.norm2(x))


class AxialStack(nn.Module):
    """Blocks alternating time attention and channel attention over tokens (B, C, P, D)."""

    def __init__(self, d, depth, heads, mlp_ratio, dropout):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d, heads, mlp_ratio, dropout) for _ in range(depth))

    def forward(self, h, valid_p, channel_mask):
        # h: (B, C, P, D); valid_p: (B, P); channel_mask: (B, C)
        B, C, P, D = h.shape
        keep_t = None if bool(valid_p.all()) else valid_p[:, None, :].expand(B, C, P).reshape(B * C, P)
        keep_c = None if bool(channel_mask.all()) else channel_mask[:, None, :].expand(B, P, C).reshape(B * P, C)
        for i, blk in enumerate(self.blocks):
            if i % 2 == 0:   # over time, within each channel
                h = blk(h.reshape(B * C, P, D), keep_t).view(B, C, P, D)
            else:            # over channels, within each patch position
                h = blk(h.transpose(1, 2).reshape(B * P, C, D), keep_c).view(B, P, C, D).transpose(1, 2)
        return h


class IMUEncoder(nn.Module):
    """(B, T, C) windows -> tokens (B, C, P, D)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.patch_embed = nn.Linear(cfg.patch_size, d)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.max_patches, d))
        self.type_embed = nn.Embedding(n_channel_types(cfg.input_frame), d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.stack = AxialStack(d, cfg.depth, cfg.n_heads, cfg.mlp_ratio, cfg.dropout)
        self.norm = nn.LayerNorm(d)
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.type_embed.weight, std=0.02)

    def forward(self, x, length, channel_mask, channel_type, mask=None):
        """x: (B, T, C); length: (B,); channel_mask, channel_type: (B, C);
        mask: optional (B, C, P) bool, True = replace the patch by the mask token.
        Returns tokens (B, C, P, D) and patch validity (B, P)."""
        patches = patchify(x, self.cfg.patch_size)                     # (B, C, P, S)
        B, C, P, _ = patches.shape
        if P > self.cfg.max_patches:
            raise ValueError(f'{P} patches per window exceed max_patches={self.cfg.max_patches}')
        h = self.patch_embed(patches)                                  # (B, C, P, D)
        if mask is not None:
            h = torch.where(mask[..., None], self.mask_token.to(h.dtype), h)
        h = h + self.pos_embed[:P] + self.type_embed(channel_type)[:, :, None, :]
        valid_p = patch_valid(length, P, self.cfg.patch_size)
        h = self.stack(h, valid_p, channel_mask)
        return self.norm(h), valid_p


class MAEPretrainModel(nn.Module):
    """Stage 1: encoder + MAE decoder (reconstructs patches) + patch projection (contrastive)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.encoder = IMUEncoder(cfg)
        self.decoder = AxialStack(d, cfg.decoder_depth, cfg.n_heads, cfg.mlp_ratio, cfg.dropout)
        self.decoder_norm = nn.LayerNorm(d)
        self.decoder_pred = nn.Linear(d, cfg.patch_size)
        self.projector = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, cfg.proj_dim))

    def forward(self, x1, x2, length, channel_mask, channel_type, mask):
        """Two views x1, x2: (B, T, C); mask (B, C, P) applies to view 1.
        Returns pred (B, C, P, S) for view 1's patches, projections z1, z2 (B, C, P, E)
        (L2-normalised), and patch validity (B, P)."""
        h1, valid_p = self.encoder(x1, length, channel_mask, channel_type, mask)
        h2, _ = self.encoder(x2, length, channel_mask, channel_type)
        pred = self.decoder_pred(self.decoder_norm(self.decoder(h1, valid_p, channel_mask)))
        z1 = F.normalize(self.projector(h1).float(), dim=-1)
        z2 = F.normalize(self.projector(h2).float(), dim=-1)
        return pred, z1, z2, valid_p


def config_dict(cfg):
    return asdict(cfg)


# ============================================================================ Stage 2

class ChannelTextFusion(nn.Module):
    """Tells sensor tokens what their channels are. Each token gets its own channel's text
    embedding added, then cross-attends over the descriptions of all channels of its window.
    h (B, C, P, D), channel_emb (B, C, E) text embeddings, channel_mask (B, C) -> (B, C, P, D)"""

    def __init__(self, d, text_dim, heads):
        super().__init__()
        self.heads = heads
        self.text_proj = nn.Sequential(nn.Linear(text_dim, d), nn.GELU(), nn.Linear(d, d))
        self.norm_q, self.norm_kv = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.kv, self.out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def forward(self, h, channel_emb, channel_mask):
        B, C, P, D = h.shape
        t = self.text_proj(channel_emb.to(h.dtype))                        # (B, C, D)
        h = h + t[:, :, None, :]
        H = self.heads
        q = self.q(self.norm_q(h)).view(B, C * P, H, D // H).transpose(1, 2)      # (B, H, CP, D/H)
        k, v = self.kv(self.norm_kv(t)).view(B, C, 2, H, D // H).permute(2, 0, 3, 1, 4)  # (B, H, C, D/H) each
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=channel_mask[:, None, None, :])
        return h + self.out(a.transpose(1, 2).reshape(B, C, P, D))


class SemanticAlignmentHead(nn.Module):
    """Attention pooling of the real tokens into one L2-normalised vector per window.
    h (B, C, P, D), valid (B, C, P) -> (B, out_dim)"""

    def __init__(self, d, out_dim, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.randn(d) * 0.02)
        self.norm = nn.LayerNorm(d)
        self.kv = nn.Linear(d, 2 * d)
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, out_dim))

    def forward(self, h, valid):
        B, C, P, D = h.shape
        H = self.heads
        k, v = self.kv(self.norm(h)).view(B, C * P, 2, H, D // H).permute(2, 0, 3, 1, 4)  # (B, H, CP, D/H)
        q = self.query.to(h.dtype).view(1, H, 1, D // H).expand(B, H, 1, D // H)
        pooled = F.scaled_dot_product_attention(q, k, v, attn_mask=valid.reshape(B, 1, 1, C * P))
        return F.normalize(self.mlp(pooled.reshape(B, D)).float(), dim=-1)


LABEL_BANKS = ('learned', 'frozen')      # SemanticAlignmentModel(label_bank=...)


class LearnableLabelBank(nn.Module):
    """K prototypes per label from the label text's token embeddings.

    Each of K learned queries attends over the text's tokens; the pooled vector, projected,
    is added to the text's sentence embedding and normalised. Works for any label text, so
    zero-shot classes never seen in training get prototypes too.
    tokens (L, N, E), token_mask (L, N), sentence (L, E) -> prototypes (L, K, E)"""

    def __init__(self, text_dim=384, num_prototypes=3, heads=4):
        super().__init__()
        self.heads, self.K = heads, num_prototypes
        self.queries = nn.Parameter(torch.randn(num_prototypes, text_dim) * 0.02)
        self.norm = nn.LayerNorm(text_dim)
        self.kv = nn.Linear(text_dim, 2 * text_dim)
        self.out = nn.Linear(text_dim, text_dim)
        nn.init.normal_(self.out.weight, std=0.02)
        nn.init.zeros_(self.out.bias)

    def forward(self, tokens, token_mask, sentence):
        L, N, E = tokens.shape
        H = self.heads
        k, v = self.kv(self.norm(tokens)).view(L, N, 2, H, E // H).permute(2, 0, 3, 1, 4)   # (L, H, N, E/H)
        q = self.queries.view(1, self.K, H, E // H).transpose(1, 2).expand(L, H, self.K, E // H)
        pooled = F.scaled_dot_product_attention(q, k, v, attn_mask=token_mask[:, None, None, :])  # (L, H, K, E/H)
        pooled = pooled.transpose(1, 2).reshape(L, self.K, E)
        return F.normalize(sentence[:, None, :] + self.out(pooled), dim=-1)


class FrozenLabelBank(nn.Module):
    """The ablation of LearnableLabelBank: nothing is trained, every one of the K prototypes is
    the normalised sentence embedding itself, as in the naive reference.
    tokens (L, N, E), token_mask (L, N), sentence (L, E) -> prototypes (L, K, E)"""

    def __init__(self, num_prototypes=3):
        super().__init__()
        self.K = num_prototypes

    def forward(self, tokens, token_mask, sentence):
        return F.normalize(sentence, dim=-1)[:, None, :].expand(len(sentence), self.K, sentence.shape[-1])


class SemanticAlignmentModel(nn.Module):
    """Stage 2: encoder -> channel-text fusion -> pooled, normalised IMU embedding; plus the
    label bank and a learnable temperature. Text embeddings come in as tensors (the text
    model itself is not part of this module). fusion=False (ablation): no channel-text fusion,
    the encoder's tokens go straight to the pooling head."""

    def __init__(self, enc_cfg: EncoderConfig, text_dim=384, num_prototypes=3, temperature=0.07,
                 learn_temperature=True, memory_bank_size=256, label_bank='learned', fusion=True):
        super().__init__()
        from memory_bank import MemoryBank
        d, heads = enc_cfg.d_model, enc_cfg.n_heads
        self.cfg = enc_cfg
        self.encoder = IMUEncoder(enc_cfg)
        self.fusion = ChannelTextFusion(d, text_dim, heads) if fusion else None
        self.head = SemanticAlignmentHead(d, text_dim, heads)
        if label_bank not in LABEL_BANKS:
            raise ValueError(f"label_bank must be 'learned' or 'frozen', got {label_bank!r}")
        self.label_bank = (LearnableLabelBank(text_dim, num_prototypes, heads=4 if text_dim % 4 == 0 else 1)
                           if label_bank == 'learned' else FrozenLabelBank(num_prototypes))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)), requires_grad=learn_temperature)
        self.memory_bank = MemoryBank(memory_bank_size, text_dim)

    def scale(self):
        return self.logit_scale.exp().clamp(max=100.0)

    def forward(self, x, length, channel_mask, channel_type, channel_emb):
        """x (B, T, C), length (B,), channel_mask/channel_type (B, C), channel_emb (B, C, E) -> (B, E)"""
        h, valid_p = self.encoder(x, length, channel_mask, channel_type)
        if self.fusion is not None:
            h = self.fusion(h, channel_emb, channel_mask)
        return self.head(h, token_validity(channel_mask, valid_p))
