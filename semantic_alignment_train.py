"""Stage 2: align IMU embeddings with activity text (prototypes, memory bank, channel-text fusion).

    python semantic_alignment_train.py                       # from the newest Stage 1 best.pt
    python semantic_alignment_train.py --stage1_checkpoint=path/to/best.pt --epochs=20
    python semantic_alignment_train.py --resume training_output/semantic_alignment/<run>/latest.pt

Outputs go to training_output/semantic_alignment/<timestamp>/ (same layout as Stage 1, plus
plots/zero_shot.png). best.pt has the best zero-shot macro-F1 on held-out subjects.
"""
from pathlib import Path

import torch

import augmentations as A
from distributed import LOCAL, init_distributed, process_group, quiet
from datasets.loader import HARData, open_datasets
from metrics import classification_metrics
from model import LABEL_BANKS, EncoderConfig, SemanticAlignmentModel
from model_loading import embed_split, predict
from semantic_loss import semantic_infonce
from text_encoder import DEFAULT_TEXT_MODEL, TextEmbedder
from train_common import (STAGE1_KIND, STAGE2_KIND, configure, find_latest, fit, load_checkpoint, make_optimizer,
                          resume_config, setup_device)

KIND = STAGE2_KIND


def load_stage1(model, path, log=print):
    """Copy Stage 1 encoder weights into the Stage 2 model; assert exactly which keys are new."""
    ckpt = load_checkpoint(path, [STAGE1_KIND])
    enc = {k: v for k, v in ckpt['model'].items() if k.startswith('encoder.')}
    missing, unexpected = model.load_state_dict(enc, strict=False)
    expected_new = {k for k in model.state_dict() if not k.startswith('encoder.')}
    if set(missing) != expected_new or unexpected:
        raise SystemExit(f'error: {path} does not fit this model: missing encoder keys '
                         f'{sorted(set(missing) - expected_new)}, unexpected {sorted(unexpected)}')
    log(f'Stage 1 encoder loaded from {path}; new (trained from scratch): '
          f'{sorted({k.split(".")[0] for k in expected_new})}')
    return ckpt


def label_texts_for_step(text, g):
    """The text each class is written as at this step: its name, or with text augmentation one
    of its texts (name first, then descriptions) drawn uniformly with `g`.
    text: the cached tensors of step_loss -> tokens (L, N, E), token mask (L, N), sentences (L, E)"""
    if 'variant_tok' not in text:
        return text['label_tok'], text['label_mask'], text['label_sent']
    count = text['variant_count']
    pick = text['variant_first'] + (torch.rand(len(count), generator=g, device=count.device) * count).long()
    pick = torch.minimum(pick, text['variant_first'] + count - 1)                  # (L,) rows of the variants
    return text['variant_tok'][pick], text['variant_mask'][pick], text['variant_sent'][pick]


def label_variants(data):
    """Every training label's texts: its name, then its datasets' descriptions. -> list (L,) of lists"""
    return [[name] + [t for t in data.label_descriptions.get(name, []) if t != name] for name in data.label_names]


def step_loss(model, fwd, batch, g, C, text, d=LOCAL):
    """One Stage 2 forward: augment the global batch, run this rank's slice (all of it in one
    process) through `fwd` (the model, or its DDP / compiled wrapper), score it against the label
    bank and the memory bank, then enqueue the batch's embeddings.
    text: dict of cached tensors: label_tok (L, N, E), label_mask (L, N), label_sent (L, E),
    label_sim (L, L), channel_table (n_texts, E), reverse_partner (L,) (augmentations.reversal_partners,
    used when C.TIME_REVERSAL_PROB > 0); with text augmentation also variant_tok (V, N', E),
    variant_mask (V, N'), variant_sent (V, E) of every class's texts, class l's at rows
    variant_first[l] .. + variant_count[l] (L,). -> loss, parts"""
    x, labels = batch['x'], batch['label']
    if C.TIME_REVERSAL_PROB > 0:                   # a transition played backwards is its reverse transition
        x, labels = A.reverse_partnered(x, batch['length'], batch['channel_type'], labels, text['reverse_partner'], g,
                                        C.TIME_REVERSAL_PROB)
    x, length = A.random_crop(x, batch['length'], g, round(C.CROP_MIN_SECONDS * C.SAMPLING_RATE_HZ),
                              C.CROP_PROB)
    x = A.input_frame(x, length, batch['triads'], model.cfg.input_frame, model.cfg.sampling_rate_hz)
    x = A.rotate(x, length, batch['triads'], g, C.ROTATION)
    x = A.weak(x, length, g, C.JITTER_SIGMA, C.SCALE_SIGMA)                          # (B, T, C'): 2C if hybrid
    channel_mask, channel_type, channel_text = A.frame_channels(model.cfg.input_frame, batch['channel_mask'],
                                                              batch['channel_type'], batch['channel_text'])
    s = d.shard(len(x))
    imu = fwd(x[s], length[s], channel_mask[s], channel_type[s], text['channel_table'][channel_text[s]])   # (b, E)
    protos = model.label_bank(*label_texts_for_step(text, g))                       # (L, K, E)
    bank_feats, bank_labels = model.memory_bank.entries()
    loss, parts = semantic_infonce(imu, protos, labels[s], model.scale(), text['label_sim'],
                                   C.SOFT_TARGET_SMOOTHING, bank_feats, bank_labels, C.PROTOTYPE_COMBINE,
                                   C.PROTO_TEMPERATURE, C.SIM_TEMPERATURE, d)
    model.memory_bank.enqueue(d.gather_nograd(imu.detach().float()), labels)
    return loss, parts


def main(argv=None):
    # I/O
    OUT_ROOT = 'training_output/semantic_alignment'
    DATA_ROOT = 'data/prepared'
    DATASETS = ['uci_har', 'hhar', 'mhealth', 'pamap2', 'wisdm', 'unimib_shar',
                'dsads', 'hapt', 'ku_har', 'recgym']
    HOLDOUT_DATASETS = []                     # seen by neither stage; scored zero-shot at validation
    STAGE1_CHECKPOINT = ''                    # '' = newest training_output/imu_pretraining/*/best.pt
    RANDOM_ENCODER = False                    # ablation: Stage 1's architecture and windows, random weights
    TEXT_MODEL = DEFAULT_TEXT_MODEL           # sentence-transformers model (packaged, or a local folder)
    # model (encoder shape and window settings come from the Stage 1 checkpoint)
    D_MODEL = 384
    NUM_PROTOTYPES = 3                        # K prototypes per class
    LABEL_BANK = 'learned'                    # 'frozen' (ablation): prototypes are the plain sentence embeddings
    LABEL_TEXTS = 'name+description'          # each step writes each class as its name or one of its datasets'
                                              # descriptions (text augmentation); 'name': names only. Validation: names
    PROTOTYPE_COMBINE = 'logsumexp'           # how K prototype cosines make one class score: logsumexp | max | mean
    PROTO_TEMPERATURE = 0.1                   # sharpness of the logsumexp combination
    MEMORY_BANK_SIZE = 256
    TEMPERATURE = 0.07                        # initial InfoNCE temperature
    LEARN_TEMPERATURE = True
    SOFT_TARGET_SMOOTHING = 0.1               # 0 = hard targets
    SIM_TEMPERATURE = 0.1                     # label-text similarity -> soft target spread
    FREEZE_ENCODER = False                    # encoder unfrozen for discriminative learning
    ENCODER_LR_SCALE = 1.0                    # encoder LR relative to the new modules
    # data and augmentation (window settings are Stage 1's)
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

    defaults = dict(locals())
    C, resume = configure(defaults, argv)
    if C.LABEL_TEXTS not in ('name', 'name+description'):
        raise SystemExit(f"error: --label_texts must be 'name' or 'name+description', got {C.LABEL_TEXTS!r}")
    if not 0 <= C.TIME_REVERSAL_PROB <= 1:
        raise SystemExit(f'error: --time_reversal_prob must be a probability in [0, 1], got {C.TIME_REVERSAL_PROB}')
    if C.LABEL_BANK not in LABEL_BANKS:
        raise SystemExit(f"error: --label_bank must be 'learned' or 'frozen', got {C.LABEL_BANK!r}")
    d = init_distributed()
    log = print if d.main else quiet
    ckpt = load_checkpoint(resume, [KIND]) if resume else None
    if ckpt:
        resume_config(C, defaults, ckpt['config'], log)
    device, ctx, scaler = setup_device(C.SEED, d)

    # ---- Stage 1 settings: encoder shape and windows
    if ckpt:
        enc_cfg, s1 = EncoderConfig(**ckpt['encoder_config']), ckpt['stage1']
    else:
        path = C.STAGE1_CHECKPOINT or find_latest('training_output/imu_pretraining')
        if path is None:
            raise SystemExit('error: no Stage 1 checkpoint found under training_output/imu_pretraining; '
                             'run `python pretrain.py` first or pass --stage1_checkpoint=PATH')
        s1ck = load_checkpoint(path, [STAGE1_KIND])
        enc_cfg = EncoderConfig(**s1ck['encoder_config'])
        s1 = {'path': str(path), 'config': s1ck['config'], 'data': s1ck['data']}
        C.STAGE1_CHECKPOINT = str(path)
        if C.D_MODEL != enc_cfg.d_model:
            log(f'd_model {C.D_MODEL} differs from the Stage 1 encoder; using its {enc_cfg.d_model}')
            C.D_MODEL = enc_cfg.d_model
    s1c = s1['config']
    window_s, rate = s1c.get('WINDOW_SECONDS', 4.0), s1c.get('SAMPLING_RATE_HZ', 50.0)
    C.WINDOW_SECONDS, C.SAMPLING_RATE_HZ = window_s, rate
    try:
        A.check_frame_rotation(enc_cfg.input_frame, C.ROTATION)
    except ValueError as e:
        raise SystemExit(f'error: {e} (the input frame comes from the Stage 1 checkpoint)') from None
    stage1_held = set(s1c.get('HOLDOUT_DATASETS', []))
    if stage1_held - set(C.HOLDOUT_DATASETS) and not ckpt:
        log(f'note: Stage 1 held out {sorted(stage1_held)}; Stage 2 holds them out too')
        C.HOLDOUT_DATASETS = sorted(set(C.HOLDOUT_DATASETS) | stage1_held)

    # ---- data: labelled windows only
    names = [n for n in C.DATASETS if n not in C.HOLDOUT_DATASETS]
    data = HARData(open_datasets(names, C.DATA_ROOT, log=log), window_s, rate, C.HOP_SECONDS, C.MIN_WINDOW_SECONDS,
                   seed=C.SEED, labelled_only=True, alpha=C.SAMPLING_ALPHA, class_alpha=C.CLASS_ALPHA)
    log(data.describe())
    holdout = None
    if C.HOLDOUT_DATASETS:
        held = [n for n in C.HOLDOUT_DATASETS if (Path(C.DATA_ROOT) / n / 'meta.json').exists()]
        if held:
            hd = open_datasets(held, C.DATA_ROOT, log=log)
            holdout = HARData(hd, window_s, rate, window_s, C.MIN_WINDOW_SECONDS, seed=C.SEED, labelled_only=True,
                              subjects_override={d.name: {'train': [], 'val': [], 'test': list(range(len(d.subjects)))}
                                                 for d in hd})

    # ---- text: embedded once, kept as tensors
    text = TextEmbedder(C.TEXT_MODEL)
    label_tok, label_mask = text.tokens(data.label_names)
    label_sent = text.sentences(data.label_names)
    label_tok, label_mask, label_sent = label_tok.to(device), label_mask.to(device), label_sent.to(device)
    label_sim = label_sent @ label_sent.T                                            # (L, L)
    channel_table = text.sentences(data.channel_texts).to(device)                   # (n_texts, E)
    cached = {'label_tok': label_tok, 'label_mask': label_mask, 'label_sent': label_sent,
              'label_sim': label_sim, 'channel_table': channel_table,
              'reverse_partner': torch.tensor(A.reversal_partners(data.label_names), device=device)}
    if C.LABEL_TEXTS == 'name+description':
        variants = label_variants(data)
        flat = [t for v in variants for t in v]
        tok, mask = text.tokens(flat)
        count = torch.tensor([len(v) for v in variants], device=device)
        cached.update(variant_tok=tok.to(device), variant_mask=mask.to(device),
                      variant_sent=text.sentences(flat).to(device), variant_count=count,
                      variant_first=torch.cumsum(count, 0) - count)
        log(f'label texts: names and {len(flat) - len(variants)} descriptions, one drawn per class and step')

    # ---- model
    model = SemanticAlignmentModel(enc_cfg, text.dim, C.NUM_PROTOTYPES, C.TEMPERATURE, C.LEARN_TEMPERATURE,
                                   C.MEMORY_BANK_SIZE, C.LABEL_BANK)
    if not ckpt and C.RANDOM_ENCODER:                                             # (a resume brings its weights)
        log(f'RANDOM_ENCODER: encoder shaped like {s1["path"]} but randomly initialised (ablation)')
    elif not ckpt:
        load_stage1(model, s1['path'], log)
    model.to(device)
    model.encoder.mask_token.requires_grad_(False)                                # Stage 1's MAE token: unused here
    if C.FREEZE_ENCODER:
        model.encoder.requires_grad_(False)
    opt = make_optimizer(model, C.LEARNING_RATE, C.WEIGHT_DECAY, scaled=model.encoder, lr_scale=C.ENCODER_LR_SCALE)

    @torch.no_grad()
    def validate(m):
        """Zero-shot on held-out subjects (against all training labels) and on held-out datasets."""
        m.eval()
        protos = m.label_bank(label_tok, label_mask, label_sent)
        out = {}
        if len(data.windows['val']):
            emb, y, _, ds = embed_split(m, data, 'val', channel_table, device, ctx)
            pred, scores = predict(emb, protos, C.PROTOTYPE_COMBINE, C.PROTO_TEMPERATURE)
            met = classification_metrics(y, pred, len(data.label_names))
            logits = m.scale().float().cpu() * scores.float().cpu()
            out['val_loss'] = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)))
            out['val_accuracy'], out['val_macro_f1'] = met['accuracy'], met['macro_f1']
            for i, d in enumerate(data.datasets):
                sel = ds == i
                if sel.any():
                    out[f'val_ds_{d.name}'] = float(torch.nn.functional.cross_entropy(
                        logits[torch.from_numpy(sel)], torch.from_numpy(y[sel])))
        if holdout is not None:
            h_table = text.sentences(holdout.channel_texts).to(device)
            h_tok, h_mask = text.tokens(holdout.label_names)
            h_protos = m.label_bank(h_tok.to(device), h_mask.to(device), text.sentences(holdout.label_names).to(device))
            emb, y, _, _ = embed_split(m, holdout, 'test', h_table, device, ctx)
            met = classification_metrics(y, predict(emb, h_protos, C.PROTOTYPE_COMBINE, C.PROTO_TEMPERATURE)[0],
                                          len(holdout.label_names))
            out['holdout_accuracy'], out['holdout_macro_f1'] = met['accuracy'], met['macro_f1']
        return out

    extra = [('zero_shot.png', ['val_accuracy', 'val_macro_f1', 'holdout_accuracy', 'holdout_macro_f1'],
              'Zero-shot on held-out subjects / datasets', 'score'),
             ('train_accuracy.png', ['train_accuracy'], 'Training batch accuracy (IMU -> text)', 'accuracy')]
    with process_group(d):
        return fit(C, KIND, model, opt, scaler, ctx, device, data,
                   lambda fwd, batch, g: step_loss(model, fwd, batch, g, C, cached, d), validate, ckpt=ckpt, resume=resume,
                   best_metric='val_macro_f1', maximize=True, extra_plots=extra,
                   checkpoint_extra={'encoder_config': {**vars(enc_cfg)}, 'stage1': s1, 'text_dim': text.dim,
                                     'label_names': data.label_names}, d=d)


if __name__ == '__main__':
    main()
