"""Loading checkpoints and using them: embeddings and zero-shot classification.

In a notebook, from the repo root:

    from model_loading import load_model, load_label_bank, embed_windows, zero_shot_classify
    model, checkpoint, hyperparams_path = load_model('training_output/.../best.pt', 'cpu')
    label_bank = load_label_bank(checkpoint, 'cpu', hyperparams_path)
    emb = embed_windows(model, checkpoint, X, channels=['acc_x', 'acc_y', 'acc_z'], rate_hz=50)
    pred, scores = zero_shot_classify(model, checkpoint, label_bank, X, ['walking', 'sitting'],
                                      channels=['acc_x', 'acc_y', 'acc_z'], rate_hz=50)

Works for Stage 1 checkpoints too (embeddings = mean of the encoder's tokens; the "label bank"
is then the plain sentence embeddings of the labels, which Stage 1 was never aligned with).
"""
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from augmentations import check_rotation_views, frame_channels, input_frame, rotation_views
from datasets.format import Seg
from datasets.loader import Win
from model import EncoderConfig, MAEPretrainModel, SemanticAlignmentModel, token_validity
from semantic_loss import class_scores
from text_encoder import DEFAULT_TEXT_MODEL
from train_common import STAGE1_KIND as STAGE1
from train_common import STAGE2_KIND as STAGE2
from train_common import load_checkpoint


def build_model(ckpt):
    """The (uninitialised) module a checkpoint's weights belong to."""
    enc_cfg = EncoderConfig(**ckpt['encoder_config'])
    if ckpt['kind'] == STAGE1:
        return MAEPretrainModel(enc_cfg)
    cfg = ckpt['config']
    return SemanticAlignmentModel(enc_cfg, ckpt['text_dim'], cfg['NUM_PROTOTYPES'], cfg['TEMPERATURE'],
                                  cfg['LEARN_TEMPERATURE'], cfg['MEMORY_BANK_SIZE'], cfg.get('LABEL_BANK', 'learned'),
                                  cfg.get('CHANNEL_TEXT_FUSION', True))


def load_model(path, device='cpu'):
    """-> (model in eval mode on device, checkpoint dict, path of the run's config.yaml or None)."""
    ckpt = load_checkpoint(path, [STAGE1, STAGE2])
    model = build_model(ckpt)
    model.load_state_dict(ckpt['model'])
    model.to(device).eval()
    hyperparams = Path(path).parent / 'config.yaml'
    return model, ckpt, (hyperparams if hyperparams.exists() else None)


class LabelBank:
    """Prototypes (L, K, E) for any list of label texts, from the checkpoint's trained
    LearnableLabelBank (Stage 2) or plain sentence embeddings (Stage 1, K = 1)."""

    def __init__(self, module, text_model, device, trained_labels, combine='logsumexp', proto_temperature=0.1):
        from text_encoder import TextEmbedder
        self.module, self.device = module, torch.device(device)
        self.embedder = TextEmbedder(text_model)
        self.trained_labels = list(trained_labels)
        self.combine, self.proto_temperature = combine, proto_temperature

    @torch.no_grad()
    def prototypes(self, labels):
        from datasets.format import label_text
        texts = [label_text(l) for l in labels]
        sent = self.embedder.sentences(texts).to(self.device)
        if self.module is None:
            return sent[:, None, :]
        tok, mask = self.embedder.tokens(texts)
        return self.module(tok.to(self.device), mask.to(self.device), sent)


def load_label_bank(checkpoint, device='cpu', hyperparams_path=None):
    """The label bank of a loaded checkpoint (see LabelBank). `hyperparams_path` is accepted
    for the seed's call signature; everything needed is inside the checkpoint."""
    cfg = checkpoint['config']
    text_model = text_model_of(checkpoint)
    if checkpoint['kind'] == STAGE1:
        return LabelBank(None, text_model, device, [])
    model = build_model(checkpoint)
    model.load_state_dict(checkpoint['model'])
    bank = model.label_bank.to(device).eval()
    return LabelBank(bank, text_model, device, checkpoint['data']['label_names'],
                     cfg['PROTOTYPE_COMBINE'], cfg['PROTO_TEMPERATURE'])


# ----------------------------------------------------------------------------- embedding

def embed_batch(model, batch, channel_table, views=1, rotation='so3', ctx=None):
    """batch dict of device tensors (datasets.loader keys) -> (B, E) L2-normalised, fp32.
    views > 1: test-time rotation averaging, the mean of the embeddings of `views` rotated
    copies of each window (augmentations.rotation_views, `rotation` 'so3' or 'gravity', the
    rotation the model was trained with), renormalised. ctx: the precision's autocast, around
    the model only (the input frame and the rotations stay fp32)."""
    ctx = ctx or nullcontext()
    length = batch['length']
    x = input_frame(batch['x'], length, batch['triads'], model.cfg.input_frame, model.cfg.sampling_rate_hz)
    channel_mask, channel_type, channel_text = frame_channels(model.cfg.input_frame, batch['channel_mask'],
                                                              batch['channel_type'], batch.get('channel_text'))
    xs = rotation_views(x, length, batch['triads'], views, rotation) if views > 1 else x[None]   # (V, B, T, C')
    out = 0
    for xv in xs:
        if isinstance(model, SemanticAlignmentModel):
            with ctx:
                emb = model(xv, length, channel_mask, channel_type, channel_table[channel_text])
            out = out + emb.float()
        else:
            with ctx:
                h, valid_p = model.encoder(xv, length, channel_mask, channel_type)
            valid = token_validity(channel_mask, valid_p).float()[..., None]
            out = out + F.normalize((h.float() * valid).sum((1, 2)) / valid.sum((1, 2)).clamp(min=1), dim=-1)
    return out if len(xs) == 1 else F.normalize(out, dim=-1)


@torch.no_grad()
def embed_split(model, data, split, channel_table, device, ctx=None, batch_size=256, show_progress=False,
                rows=None, views=1, rotation='so3', transform=None):
    """Embed every window of a split (or the given window rows) of a HARData; `views`,
    `rotation`: test-time rotation averaging (embed_batch); `transform`: batch -> batch before
    embedding (an evaluation condition, augmentations.condition).
    -> emb (N, E) float32 CPU, labels (N,), subjects (N,), datasets (N,) numpy"""
    idx = np.arange(len(data.windows[split])) if rows is None else np.asarray(rows)
    chunks = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    if show_progress:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc=f'embedding {split}', unit='batch')
    out = []
    model.eval()
    for chunk in chunks:
        batch = {k: torch.from_numpy(v).to(device) for k, v in data.read_batch(split, chunk).items()}
        if transform is not None:
            batch = transform(batch)
        out.append(embed_batch(model, batch, channel_table, views, rotation, ctx).cpu())
    w = data.windows[split][idx]
    emb = torch.cat(out) if out else torch.zeros(0, channel_table.shape[1])
    return emb, w[:, Win.LABEL], w[:, Win.SUBJECT], w[:, Win.DATASET]


def average_per_segment(emb, data, split='test'):
    """Average (and renormalise) the embeddings of the model windows cut from one segment of a
    one-dataset HARData: for pre-windowed input, one embedding per source window.
    emb (N, E) for data.windows[split] -> emb (S, E), segment index (S,), first window of each (S,)"""
    seg = np.searchsorted(data.datasets[0].segments[:, Seg.START], data.windows[split][:, Win.START], side='right') - 1
    segs, first, inv = np.unique(seg, return_index=True, return_inverse=True)
    out = torch.zeros(len(segs), emb.shape[1]).index_add_(0, torch.from_numpy(inv.ravel()), emb)
    return F.normalize(out, dim=-1), segs, first


def predict(emb, protos, combine='logsumexp', proto_temperature=0.1):
    """emb (N, E), protos (L, K, E) -> predicted class (N,) numpy, scores (N, L) tensor."""
    scores = class_scores(emb.to(protos.device, protos.dtype), protos, combine, proto_temperature)
    return scores.argmax(-1).cpu().numpy(), scores


def tta_rotation(checkpoint, views):
    """The rotation test-time averaging uses: the one the checkpoint was trained with. A
    checkpoint trained without rotation augmentation cannot take views > 1 (ValueError)."""
    rotation = checkpoint['config'].get('ROTATION', 'so3')
    check_rotation_views(views, rotation, f'the checkpoint was trained with ROTATION={rotation!r}')
    return rotation


def text_model_of(checkpoint):
    """The text model a checkpoint's label and channel texts are embedded with (a Stage 1
    checkpoint has none of its own: the default)."""
    return checkpoint['config'].get('TEXT_MODEL', DEFAULT_TEXT_MODEL)


def channel_table_for(texts, text_model, device):
    """Sentence embeddings of channel descriptions: (n_texts, E) on device."""
    from text_encoder import TextEmbedder
    return TextEmbedder(text_model).sentences(list(texts)).to(device)


# ----------------------------------------------------------------------------- raw windows

def _raw_data(checkpoint, X, channels, rate_hz):
    """Wrap raw windows (N, T, C) as a one-dataset HARData held in memory (each window one
    segment, all in 'test') with the checkpoint's window settings. Channel descriptions and
    units are read as for a user's .npz (datasets.user_npz.parse_channels); NaN gaps are
    interpolated, a channel that is NaN throughout is refused."""
    from datasets.format import ConversionError, PreparedDataset, interpolate_nans
    from datasets.loader import HARData
    from datasets.user_npz import parse_channels
    cfg = checkpoint['config']
    X = np.asarray(X, np.float32)
    if X.ndim != 3 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f'X must be a non-empty (N, T, C) array of windows, got shape {X.shape}')
    if len(channels) != X.shape[2]:
        raise ValueError(f'{len(channels)} channel descriptions for the {X.shape[2]} channels of X')
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f'rate_hz must be a positive number, got {rate_hz}')
    dead = np.flatnonzero(np.isnan(X).all(1).any(1))
    if len(dead):
        raise ValueError(f'windows {dead[:10].tolist()}: a channel is NaN throughout; drop or fill them first')
    try:
        layout, scale, _ = parse_channels([str(c) for c in channels], 'channels')
    except ConversionError as e:
        raise ValueError(str(e)) from None
    N, T, _ = X.shape
    signals = np.concatenate([interpolate_nans(w)[0] for w in X]) * scale               # (N * T, C)
    segments = np.stack([np.arange(N) * T, np.full(N, T), np.zeros(N), np.zeros(N), np.zeros(N)], 1)
    ds = PreparedDataset.from_arrays('windows', signals, segments, [('unlabelled', 'unlabelled')], [layout],
                                     ['unknown'], rate_hz)
    patch_s = checkpoint['encoder_config']['patch_size'] / cfg['SAMPLING_RATE_HZ']
    return HARData([ds], cfg['WINDOW_SECONDS'], cfg['SAMPLING_RATE_HZ'], hop_s=cfg['WINDOW_SECONDS'], min_window_s=patch_s,
                   subjects_override={'windows': {'train': [], 'val': [], 'test': [0]}})


@torch.no_grad()
def embed_windows(model, checkpoint, X, channels, rate_hz, device='cpu', batch_size=256, views=1, precision='auto'):
    """Raw windows X (N, T, C) with channel descriptions (C,) at rate_hz -> embeddings (N, E).
    A window longer than the model's window is cut into consecutive model windows whose
    embeddings are averaged; a shorter one is time-masked. views > 1: test-time rotation
    averaging with the checkpoint's training rotation (embed_batch). precision: as in training
    (train_common.choose_precision: 'auto' is fp16 on CUDA, bf16 on a CPU with native bf16,
    else fp32); the model runs under its autocast, within a cosine of 0.99 of fp32 (tested)."""
    from train_common import autocast, choose_precision
    data = _raw_data(checkpoint, X, channels, rate_hz)
    table = channel_table_for(data.channel_texts, text_model_of(checkpoint), device)
    ctx = autocast(torch.device(device), choose_precision(precision, torch.device(device))[0])
    emb, _, _, _ = embed_split(model, data, 'test', table, device, ctx, batch_size=batch_size, views=views,
                               rotation=tta_rotation(checkpoint, views))
    out, segs, _ = average_per_segment(emb, data)          # one raw window = one segment
    short = np.setdiff1d(np.arange(len(X)), segs)
    if len(short):                       # not even one patch: nothing of the window would reach the model
        raise ValueError(f'windows {short[:10].tolist()}: shorter than one patch '
                         f'({checkpoint["encoder_config"]["patch_size"]} samples at {checkpoint["config"]["SAMPLING_RATE_HZ"]:g} Hz)')
    return out


@torch.no_grad()
def zero_shot_classify(model, checkpoint, label_bank, X, labels, channels, rate_hz, device='cpu', views=1,
                       precision='auto'):
    """Raw windows (N, T, C) -> predicted label strings (N,), scores (N, L) against `labels`."""
    emb = embed_windows(model, checkpoint, X, channels, rate_hz, device, views=views, precision=precision)
    protos = label_bank.prototypes(labels)
    if emb.shape[1] != protos.shape[-1]:
        raise ValueError(f'{checkpoint["kind"]} checkpoint: its {emb.shape[1]}-wide embeddings cannot be compared '
                         f'with {protos.shape[-1]}-wide label texts; zero-shot needs a Stage 2 checkpoint')
    pred, scores = predict(emb, protos, label_bank.combine, label_bank.proto_temperature)
    return [labels[i] for i in pred], scores.cpu()
