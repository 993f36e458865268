"""Stage 2: align IMU embeddings with activity text (prototypes, memory bank, channel-text fusion).

    python semantic_alignment_train.py                       # from the newest Stage 1 best.pt
    python semantic_alignment_train.py --stage1_checkpoint=path/to/best.pt --epochs=20
    python semantic_alignment_train.py --resume training_output/semantic_alignment/<run>/latest.pt

Outputs go to training_output/semantic_alignment/<timestamp>/ (same layout as Stage 1, plus
plots/zero_shot.png). best.pt has the best zero-shot macro-F1 on held-out subjects.
"""
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

import augmentations as A
from distributed import LOCAL, process_group
from datasets.loader import HARData, open_datasets
from metrics import classification_metrics
from model import LABEL_BANKS, EncoderConfig, SemanticAlignmentModel
from model_loading import embed_split, predict
from plots import Panel
from semantic_loss import semantic_infonce
from settings import (SHARED_RULES, Refused, anything, at_least, check, count, interval, non_empty, one_of,
                      positive, run_script, shared_cross_rules, shared_warnings, window_rules)
from text_encoder import DEFAULT_TEXT_MODEL, TextEmbedder
from train_common import (PRECISIONS, STAGE1_KIND, STAGE2_KIND, check_windows, find_latest, fit, load_checkpoint,
                          make_optimizer, open_training_data, start_run)

KIND = STAGE2_KIND
PANELS = [       # plots/ after every epoch (plots.py): the training loss and the zero-shot validation apart
    Panel('overall_loss.png', 'Training loss (InfoNCE, both directions averaged)', 'loss',
          (('train (per logged step)', 'step:loss'), ('train (epoch mean)', 'train_loss'))),
    Panel('loss_components.png', 'Training loss components', 'loss',
          (('IMU -> text', 'train_imu_to_text'), ('text -> IMU', 'train_text_to_imu'))),
    Panel('per_dataset_losses.png', 'Training loss per dataset', 'loss', (('train', 'train_ds_*'),)),
    Panel('validation_loss.png', 'Validation: cross-entropy of the true label under zero-shot scores',
          'cross-entropy', (('all held-out subjects', 'val_loss'), ('held-out subjects of', 'val_ds_*'))),
    Panel('zero_shot.png', 'Zero-shot on held-out subjects / datasets', 'score',
          (('val accuracy', 'val_accuracy'), ('val macro-F1', 'val_macro_f1'),
           ('held-out datasets accuracy', 'holdout_accuracy'), ('held-out datasets macro-F1', 'holdout_macro_f1'))),
    Panel('train_accuracy.png', 'Training batch accuracy (IMU -> text)', 'accuracy',
          (('train', 'train_accuracy'),)),
]


def load_stage1(model, path, log=print):
    """Copy Stage 1 encoder weights into the Stage 2 model; assert exactly which keys are new."""
    ckpt = load_checkpoint(path, [STAGE1_KIND])
    enc = {k: v for k, v in ckpt['model'].items() if k.startswith('encoder.')}
    missing, unexpected = model.load_state_dict(enc, strict=False)
    expected_new = {k for k in model.state_dict() if not k.startswith('encoder.')}
    if set(missing) != expected_new or unexpected:
        raise Refused(f'{path} does not fit this model: missing encoder keys '
                      f'{sorted(set(missing) - expected_new)}, unexpected {sorted(unexpected)}')
    log(f'Stage 1 encoder loaded from {path}; new (trained from scratch): '
        f'{sorted({k.split(".")[0] for k in expected_new})}')
    return ckpt


def stage1_settings(cfg, ckpt, log=print):
    """The encoder shape and the Stage 1 run this run builds on: from the resumed checkpoint, or
    from cfg.STAGE1_CHECKPOINT (default: the newest Stage 1 best.pt). Sets cfg.STAGE1_CHECKPOINT
    and the window settings Stage 2 inherits (cfg.WINDOW_SECONDS, cfg.SAMPLING_RATE_HZ: 0 takes
    Stage 1's, any other value must equal it), and adds Stage 1's held-out datasets to
    cfg.HOLDOUT_DATASETS. -> EncoderConfig, stage1 = {'path', 'config', 'data'}"""
    if ckpt:
        enc_cfg, stage1 = EncoderConfig(**ckpt['encoder_config']), ckpt['stage1']
    else:
        path = cfg.STAGE1_CHECKPOINT or find_latest('training_output/imu_pretraining')
        if path is None:
            raise Refused('no Stage 1 checkpoint found under training_output/imu_pretraining; '
                          'run `python pretrain.py` first or pass --stage1_checkpoint=PATH')
        stage1_ckpt = load_checkpoint(path, [STAGE1_KIND])
        enc_cfg = EncoderConfig(**stage1_ckpt['encoder_config'])
        stage1 = {'path': str(path), 'config': stage1_ckpt['config'], 'data': stage1_ckpt['data']}
        cfg.STAGE1_CHECKPOINT = str(path)
    stage1_config = stage1['config']
    for name, default in (('WINDOW_SECONDS', 4.0), ('SAMPLING_RATE_HZ', 50.0)):
        theirs = stage1_config.get(name, default)
        if getattr(cfg, name) not in (0, theirs):
            raise Refused(f'--{name.lower()}={getattr(cfg, name)} disagrees with the Stage 1 checkpoint '
                          f'{stage1["path"]} ({theirs}); leave it 0 to take Stage 1\'s')
        setattr(cfg, name, theirs)
    try:
        A.check_frame_rotation(enc_cfg.input_frame, cfg.ROTATION)
    except ValueError as e:
        raise Refused(f'--rotation={cfg.ROTATION}: {e} (the input frame comes from the Stage 1 checkpoint)') from None
    stage1_held = set(stage1_config.get('HOLDOUT_DATASETS', []))
    if stage1_held - set(cfg.HOLDOUT_DATASETS) and not ckpt:
        log(f'note: Stage 1 held out {sorted(stage1_held)}; Stage 2 holds them out too')
        cfg.HOLDOUT_DATASETS = sorted(set(cfg.HOLDOUT_DATASETS) | stage1_held)
    check(cfg, {}, [shared_cross_rules, stage1_cross_rules(enc_cfg)])   # what Stage 1's settings decide
    return enc_cfg, stage1


def stage1_cross_rules(enc_cfg):
    """Rules that need the Stage 1 encoder: a window Stage 2 keeps must hold one patch, and the
    low-rate augmentation must name a rate below the encoder's."""
    def rules(cfg):
        return window_rules(cfg, ('MIN_WINDOW_SECONDS', 'CROP_MIN_SECONDS'), enc_cfg.patch_size, cfg.SAMPLING_RATE_HZ)
    return rules


def open_data(cfg, log=print):
    """Labelled windows of the training datasets, and of the held-out datasets that are prepared
    (every subject in 'test', for zero-shot at validation; None if there are none or
    SCORE_HOLDOUT is off)."""
    data = HARData(open_training_data(cfg, log), cfg.WINDOW_SECONDS, cfg.SAMPLING_RATE_HZ, cfg.HOP_SECONDS,
                   cfg.MIN_WINDOW_SECONDS, seed=cfg.SEED, labelled_only=True, alpha=cfg.SAMPLING_ALPHA,
                   class_alpha=cfg.CLASS_ALPHA)
    held = [n for n in cfg.HOLDOUT_DATASETS if (Path(cfg.DATA_ROOT) / n / 'meta.json').exists() and cfg.SCORE_HOLDOUT]
    if not held:
        return data, None
    held = open_datasets(held, cfg.DATA_ROOT, log=log)
    return data, HARData(held, cfg.WINDOW_SECONDS, cfg.SAMPLING_RATE_HZ, cfg.WINDOW_SECONDS, cfg.MIN_WINDOW_SECONDS,
                         seed=cfg.SEED, labelled_only=True,
                         subjects_override={h.name: {'train': [], 'val': [], 'test': list(range(len(h.subjects)))}
                                            for h in held})


@dataclass
class Texts:
    """A run's label and channel texts, embedded once and kept on the device. L labels, N tokens,
    E text width; with text augmentation V texts over all classes, class l's at rows
    variant_first[l] .. + variant_count[l]."""
    label_tok: torch.Tensor              # (L, N, E) token embeddings of each label name
    label_mask: torch.Tensor             # (L, N) their token mask
    label_sent: torch.Tensor             # (L, E) sentence embedding of each label name
    label_sim: torch.Tensor              # (L, L) cosines between the label names (soft targets)
    channel_table: torch.Tensor          # (n_texts, E) sentence embeddings of the channel descriptions
    reverse_partner: torch.Tensor        # (L,) each label's time-reversed partner (-1: none)
    gravity_removed_text: torch.Tensor   # (n_texts,) each channel text's id once gravity is removed
    variant_tok: torch.Tensor = None     # (V, N', E)  text augmentation only: every class's texts
    variant_mask: torch.Tensor = None    # (V, N')
    variant_sent: torch.Tensor = None    # (V, E)
    variant_first: torch.Tensor = None   # (L,)
    variant_count: torch.Tensor = None   # (L,)


def label_variants(data):
    """Every training label's texts: its name, then its datasets' descriptions. -> list (L,) of lists"""
    return [[name] + [t for t in data.label_descriptions.get(name, []) if t != name] for name in data.label_names]


def embed_texts(text, data, device, variants=False):
    """Embed `data`'s label names and channel descriptions with TextEmbedder `text`; with
    `variants`, also every label's descriptions (text augmentation). -> Texts"""
    tok, mask = text.tokens(data.label_names)
    sent = text.sentences(data.label_names).to(device)
    out = Texts(tok.to(device), mask.to(device), sent, sent @ sent.T, text.sentences(data.channel_texts).to(device),
                torch.tensor(A.reversal_partners(data.label_names), device=device),
                torch.from_numpy(data.gravity_removed_text).to(device))
    if variants:
        flat = label_variants(data)
        count = torch.tensor([len(v) for v in flat], device=device)
        flat = [t for v in flat for t in v]
        tok, mask = text.tokens(flat)
        out.variant_tok, out.variant_mask = tok.to(device), mask.to(device)
        out.variant_sent = text.sentences(flat).to(device)
        out.variant_first, out.variant_count = torch.cumsum(count, 0) - count, count
    return out


def label_texts_for_step(texts, g):
    """The text each class is written as at this step: its name, or with text augmentation one
    of its texts (name first, then descriptions) drawn uniformly with `g`.
    texts: Texts -> tokens (L, N, E), token mask (L, N), sentences (L, E)"""
    if texts.variant_tok is None:
        return texts.label_tok, texts.label_mask, texts.label_sent
    count = texts.variant_count
    pick = texts.variant_first + (torch.rand(len(count), generator=g, device=count.device) * count).long()
    pick = torch.minimum(pick, texts.variant_first + count - 1)                    # (L,) rows of the variants
    return texts.variant_tok[pick], texts.variant_mask[pick], texts.variant_sent[pick]


def step_loss(model, fwd, batch, g, cfg, texts, d=LOCAL, ctx=nullcontext()):
    """One Stage 2 forward: augment the global batch (fp32), run this rank's slice (all of it in
    one process) through `fwd` (the model, or its DDP / compiled wrapper) under the precision's
    autocast `ctx`, score it in fp32 against the label bank (fp32) and the memory bank, then
    enqueue the batch's embeddings. texts: Texts. -> loss, parts"""
    x, labels = batch['x'], batch['label']
    if cfg.TIME_REVERSAL_PROB > 0:                   # a transition played backwards is its reverse transition
        x, labels = A.reverse_partnered(x, batch['length'], batch['channel_type'], labels, texts.reverse_partner, g,
                                        cfg.TIME_REVERSAL_PROB)
    x, channel_mask, channel_type, no_gravity = A.recording_conditions(
        x, batch['length'], batch['channel_mask'], batch['channel_type'], g, cfg.SAMPLING_RATE_HZ, cfg.ACC_ONLY_PROB,
        cfg.GRAVITY_REMOVAL_PROB, cfg.LOW_RATE_PROB, cfg.LOW_RATE_MIN_HZ)
    channel_text = torch.where(no_gravity[:, None], texts.gravity_removed_text[batch['channel_text']],
                               batch['channel_text'])                               # (B, C)
    x, length = A.random_crop(x, batch['length'], g, round(cfg.CROP_MIN_SECONDS * cfg.SAMPLING_RATE_HZ),
                              cfg.CROP_PROB)
    x = A.input_frame(x, length, batch['triads'], model.cfg.input_frame, model.cfg.sampling_rate_hz)
    x = A.rotate(x, length, batch['triads'], g, cfg.ROTATION)
    x = A.weak(x, length, g, cfg.JITTER_SIGMA, cfg.SCALE_SIGMA)                          # (B, T, C'): 2C if hybrid
    channel_mask, channel_type, channel_text = A.frame_channels(model.cfg.input_frame, channel_mask, channel_type,
                                                                channel_text)
    s = d.shard(len(x))
    with ctx:
        imu = fwd(x[s], length[s], channel_mask[s], channel_type[s], texts.channel_table[channel_text[s]])  # (b, E)
    imu = imu.float()
    protos = model.label_bank(*label_texts_for_step(texts, g))                      # (L, K, E)
    bank_feats, bank_labels = model.memory_bank.entries()
    loss, parts = semantic_infonce(imu, protos, labels[s], model.scale(), texts.label_sim,
                                   cfg.SOFT_TARGET_SMOOTHING, bank_feats, bank_labels, cfg.PROTOTYPE_COMBINE,
                                   cfg.PROTO_TEMPERATURE, cfg.SIM_TEMPERATURE, d)
    model.memory_bank.enqueue(d.gather_nograd(imu.detach().float()), labels)
    return loss, parts


@torch.no_grad()
def zero_shot(model, data, split, texts, device, ctx, cfg):
    """Zero-shot of every window of a split against the split's own label names.
    -> metrics dict, scores (N, L), labels (N,), datasets (N,)"""
    protos = model.label_bank(texts.label_tok, texts.label_mask, texts.label_sent)
    emb, y, _, ds = embed_split(model, data, split, texts.channel_table, device, ctx)
    pred, scores = predict(emb, protos, cfg.PROTOTYPE_COMBINE, cfg.PROTO_TEMPERATURE)
    return classification_metrics(y, pred, len(data.label_names)), scores, y, ds


@torch.no_grad()
def validate(model, data, texts, holdout, holdout_texts, device, ctx, cfg):
    """Zero-shot on held-out subjects against all training labels (accuracy, macro-F1, and the
    cross-entropy of the hard label, overall and per dataset), and on held-out datasets."""
    model.eval()
    out = {}
    if len(data.windows['val']):
        met, scores, y, ds = zero_shot(model, data, 'val', texts, device, ctx, cfg)
        logits, y = model.scale().float().cpu() * scores.float().cpu(), torch.from_numpy(y)
        out['val_loss'] = float(F.cross_entropy(logits, y))
        out['val_accuracy'], out['val_macro_f1'] = met['accuracy'], met['macro_f1']
        for i, dataset in enumerate(data.datasets):
            sel = torch.from_numpy(ds == i)
            if sel.any():
                out[f'val_ds_{dataset.name}'] = float(F.cross_entropy(logits[sel], y[sel]))
    if holdout is not None:
        met = zero_shot(model, holdout, 'test', holdout_texts, device, ctx, cfg)[0]
        out['holdout_accuracy'], out['holdout_macro_f1'] = met['accuracy'], met['macro_f1']
    return out


def build_model(cfg, enc_cfg, text_dim, stage1, resumed, device, log=print):
    """The Stage 2 model on `device`, with Stage 1's encoder weights (unless resumed or
    RANDOM_ENCODER), and its optimizer."""
    model = SemanticAlignmentModel(enc_cfg, text_dim, cfg.NUM_PROTOTYPES, cfg.TEMPERATURE, cfg.LEARN_TEMPERATURE,
                                   cfg.MEMORY_BANK_SIZE, cfg.LABEL_BANK, cfg.CHANNEL_TEXT_FUSION)
    if not resumed and cfg.RANDOM_ENCODER:                                            # (a resume brings its weights)
        log(f'RANDOM_ENCODER: encoder shaped like {stage1["path"]} but randomly initialised (ablation)')
    elif not resumed:
        load_stage1(model, stage1['path'], log)
    model.to(device)
    model.encoder.mask_token.requires_grad_(False)                                  # Stage 1's MAE token: unused here
    if cfg.FREEZE_ENCODER:
        model.encoder.requires_grad_(False)
    opt = make_optimizer(model, cfg.LEARNING_RATE, cfg.WEIGHT_DECAY, scaled=model.encoder, lr_scale=cfg.ENCODER_LR_SCALE)
    return model, opt


def settings():
    """Every setting of Stage 2 with its default value. Each can be changed from the shell as
    `--name=value` (lower-case name)."""
    # I/O
    OUT_ROOT = 'training_output/semantic_alignment'
    DATA_ROOT = 'data/prepared'
    DATASETS = ['uci_har', 'hhar', 'mhealth', 'pamap2', 'wisdm', 'unimib_shar',
                'dsads', 'hapt', 'ku_har', 'recgym']
    HOLDOUT_DATASETS = []                     # seen by neither stage
    SCORE_HOLDOUT = True                      # score HOLDOUT_DATASETS zero-shot at every validation (a curve only:
                                              # best.pt is chosen on held-out subjects of the training datasets)
    STAGE1_CHECKPOINT = ''                    # '' = newest training_output/imu_pretraining/*/best.pt
    RANDOM_ENCODER = False                    # ablation: Stage 1's architecture and windows, random weights
    TEXT_MODEL = DEFAULT_TEXT_MODEL           # sentence-transformers model (packaged, or a local folder)
    # model (the encoder's shape comes from the Stage 1 checkpoint)
    NUM_PROTOTYPES = 3                        # K prototypes per class
    LABEL_BANK = 'learned'                    # 'frozen' (ablation): prototypes are the plain sentence embeddings
    LABEL_TEXTS = 'name+description'          # each step writes each class as its name or one of its datasets'
                                              # descriptions (text augmentation); 'name': names only. Validation: names
    PROTOTYPE_COMBINE = 'logsumexp'           # how K prototype cosines make one class score: logsumexp | max | mean
    PROTO_TEMPERATURE = 0.1                   # sharpness of the logsumexp combination
    MEMORY_BANK_SIZE = 256                    # 0: no memory bank (ablation)
    CHANNEL_TEXT_FUSION = True                # False (ablation): the encoder's tokens go straight to the pooling head
    TEMPERATURE = 0.07                        # initial InfoNCE temperature
    LEARN_TEMPERATURE = True
    SOFT_TARGET_SMOOTHING = 0.1               # 0 = hard targets
    SIM_TEMPERATURE = 0.1                     # label-text similarity -> soft target spread
    FREEZE_ENCODER = False                    # encoder unfrozen for discriminative learning
    ENCODER_LR_SCALE = 1.0                    # encoder LR relative to the new modules
    # data and augmentation (window settings are Stage 1's)
    WINDOW_SECONDS = 0.0                      # 0: Stage 1's window (any other value must equal it)
    SAMPLING_RATE_HZ = 0.0                    # 0: Stage 1's rate (any other value must equal it)
    HOP_SECONDS = 1.0
    MIN_WINDOW_SECONDS = 1.0
    SAMPLING_ALPHA = 0.5                      # dataset i drawn with p ~ n_i ** alpha
    CLASS_ALPHA = 1.0                         # within a dataset, class c drawn with p ~ n_c ** class_alpha (0: balanced)
    NUM_WORKERS = 2
    ROTATION = 'so3'                          # 'so3', 'gravity' or 'none' (needed by Stage 1's frame 'invariant')
    CROP_PROB = 0.5                           # share of windows cut to a random shorter length
    CROP_MIN_SECONDS = 0.8                    # shortest such crop
    JITTER_SIGMA = 0.05
    SCALE_SIGMA = 0.1
    ACC_ONLY_PROB = 0.0                       # share of windows that keep only their accelerometers
    GRAVITY_REMOVAL_PROB = 0.0                # share of windows whose accelerometers lose gravity (their channel text
                                              # says so)
    LOW_RATE_PROB = 0.0                       # share of windows band-limited to a random rate in [LOW_RATE_MIN_HZ,
    LOW_RATE_MIN_HZ = 10.0                    # the encoder's rate): what a lower-rate device records
    TIME_REVERSAL_PROB = 0.0                  # a window of a class with a time-reversed partner (stand to sit <->
                                              # sit to stand) is played backwards and relabelled with this probability
    # optimisation
    BATCH_SIZE = 32
    LEARNING_RATE = 1e-4
    MIN_LR = 1e-5
    WARMUP_EPOCHS = 1.0
    WEIGHT_DECAY = 0.05
    GRAD_CLIP = 1.0
    EPOCHS = 50
    STEPS_PER_EPOCH = 0
    MAX_STEPS = 0
    # system
    SEED = 42
    LOG_INTERVAL = 20
    SAVE_EVERY = 10
    COMPILE = False
    PRECISION = 'auto'                        # 'auto': AMP FP16 on CUDA, bf16 on a CPU with native bf16, else fp32;
                                              # or 'fp32', 'bf16', 'fp16' (train_common.choose_precision)

    return dict(locals())


RULES = {**SHARED_RULES,                      # what each setting may be (settings.py); --help lists them
         'STAGE1_CHECKPOINT': anything(), 'RANDOM_ENCODER': anything(), 'TEXT_MODEL': non_empty(),
         'SCORE_HOLDOUT': anything(),
         'NUM_PROTOTYPES': count(1), 'LABEL_BANK': one_of(*LABEL_BANKS), 'LABEL_TEXTS': one_of('name', 'name+description'),
         'PROTOTYPE_COMBINE': one_of('logsumexp', 'max', 'mean'), 'PROTO_TEMPERATURE': positive(),
         'MEMORY_BANK_SIZE': count(0), 'CHANNEL_TEXT_FUSION': anything(), 'TEMPERATURE': positive(),
         'LEARN_TEMPERATURE': anything(),
         'SOFT_TARGET_SMOOTHING': interval(0, 1, (True, False)), 'SIM_TEMPERATURE': positive(),
         'FREEZE_ENCODER': anything(), 'ENCODER_LR_SCALE': at_least(0.0),
         'WINDOW_SECONDS': at_least(0.0), 'SAMPLING_RATE_HZ': at_least(0.0), 'CLASS_ALPHA': at_least(0.0),
         'CROP_PROB': interval(0, 1), 'CROP_MIN_SECONDS': positive(), 'TIME_REVERSAL_PROB': interval(0, 1),
         'PRECISION': one_of(*PRECISIONS)}


def warnings(cfg):
    """Legal but pointless Stage 2 settings -> one line each (settings.configure)."""
    out = shared_warnings(cfg)
    if cfg.FREEZE_ENCODER and cfg.ENCODER_LR_SCALE != 1.0:
        out.append(f'--encoder_lr_scale={cfg.ENCODER_LR_SCALE} has no effect with --freeze_encoder=True')
    if cfg.LABEL_BANK == 'frozen' and cfg.NUM_PROTOTYPES > 1:
        out.append(f'--num_prototypes={cfg.NUM_PROTOTYPES} with --label_bank=frozen: the prototypes of a class '
                   f'are all the same sentence embedding')
    return out


def main(argv=None):
    cfg, resume, ckpt, d, log, device, precision, ctx, scaler = start_run(
        KIND, settings(), RULES, [shared_cross_rules], [warnings], argv)

    enc_cfg, stage1 = stage1_settings(cfg, ckpt, log)
    data, holdout = open_data(cfg, log)
    check_windows(data, cfg)
    log(data.describe())
    text = TextEmbedder(cfg.TEXT_MODEL)
    texts = embed_texts(text, data, device, variants=cfg.LABEL_TEXTS == 'name+description')
    if texts.variant_tok is not None:
        log(f'label texts: names and {len(texts.variant_sent) - len(data.label_names)} descriptions, '
            f'one drawn per class and step')
    holdout_texts = embed_texts(text, holdout, device) if holdout is not None else None
    model, opt = build_model(cfg, enc_cfg, text.dim, stage1, ckpt is not None, device, log)

    with process_group(d):
        return fit(cfg, KIND, model, opt, scaler, device, data,
                   lambda fwd, batch, g: step_loss(model, fwd, batch, g, cfg, texts, d, ctx),
                   lambda m: validate(m, data, texts, holdout, holdout_texts, device, ctx, cfg), ckpt=ckpt,
                   resume=resume, best_metric='val_macro_f1', maximize=True, panels=PANELS,
                   checkpoint_extra={'encoder_config': {**vars(enc_cfg)}, 'stage1': stage1, 'text_dim': text.dim,
                                     'label_names': data.label_names}, d=d, precision=precision)


if __name__ == '__main__':
    run_script(main)
