"""Stage 1: self-supervised pretraining of the IMU encoder (masked autoencoding + patch InfoNCE).

    python pretrain.py                                   # defaults below, on the prepared data
    python pretrain.py --d_model=64 --depth=2 --epochs=5 # any constant, lower-case, as --name=value
    python pretrain.py --resume training_output/imu_pretraining/<run>/latest.pt

Outputs go to training_output/imu_pretraining/<timestamp>/: config.yaml, latest.pt, best.pt
(lowest validation loss), checkpoint_epoch_*.pt and plots/ (PNG curves, metrics.json).
"""
from contextlib import nullcontext

import torch

import augmentations as A
from distributed import LOCAL, process_group
from datasets.loader import HARData
from losses import pretrain_loss, structured_mask
from model import EncoderConfig, MAEPretrainModel, config_dict, patch_valid, patchify, token_validity
from plots import Panel
from settings import (SHARED_RULES, at_least, count, interval, one_of, positive, run_script, shared_cross_rules,
                      shared_warnings, window_rules)
from train_common import (PRECISIONS, STAGE1_KIND, check_windows, fit, make_optimizer, open_training_data,
                          start_run, step_generator)

KIND = STAGE1_KIND
PANELS = [       # plots/ after every epoch (plots.py); Stage 1's validation loss is its training loss on held-out subjects
    Panel('overall_loss.png', 'Total loss (MAE + contrastive)', 'loss',
          (('train (per logged step)', 'step:loss'), ('train (epoch mean)', 'train_loss'), ('validation', 'val_loss'))),
    Panel('loss_components.png', 'Loss components', 'loss',
          (('MAE train', 'train_mae'), ('MAE validation', 'val_mae'),
           ('contrastive train', 'train_contrastive'), ('contrastive validation', 'val_contrastive'))),
    Panel('per_dataset_losses.png', 'Total loss per dataset', 'loss',
          (('train', 'train_ds_*'), ('validation', 'val_ds_*'))),
]


def make_views(batch, g, cfg):
    """How else the window could have been recorded (augmentations.recording_conditions), then a
    shared time shift and rotation give the clean window x (the reconstruction target); a weak
    view of it is masked and encoded, a weak+strong view is contrasted with it.
    batch tensors on device -> x, x1, x2: (B, T, C'); channel_mask, channel_type (B, C) kept"""
    x, length = batch['x'], batch['length']
    x, channel_mask, channel_type, _ = A.recording_conditions(
        x, length, batch['channel_mask'], batch['channel_type'], g, cfg.SAMPLING_RATE_HZ, cfg.ACC_ONLY_PROB,
        cfg.GRAVITY_REMOVAL_PROB, cfg.LOW_RATE_PROB, cfg.LOW_RATE_MIN_HZ)
    x = A.time_shift(x, length, g, cfg.SHIFT_FRAC)
    x = A.input_frame(x, length, batch['triads'], cfg.INPUT_FRAME, cfg.SAMPLING_RATE_HZ)
    x = A.rotate(x, length, batch['triads'], g, cfg.ROTATION)
    x1 = A.weak(x, length, g, cfg.JITTER_SIGMA, cfg.SCALE_SIGMA)
    x2 = A.strong(A.weak(x, length, g, cfg.JITTER_SIGMA, cfg.SCALE_SIGMA), length, g, cfg.WARP_SIGMA, cfg.MAG_WARP_SIGMA)
    return x, x1, x2, channel_mask, channel_type


def step_loss(model, batch, g, cfg, d=LOCAL, ctx=nullcontext()):
    """One Stage 1 forward: views and structured mask of the global batch (fp32), then this
    rank's slice through the model (all of it in a single process) under the precision's
    autocast `ctx`, and the losses in fp32. -> total, parts dict"""
    x, x1, x2, channel_mask, channel_type = make_views(batch, g, cfg)      # (B, T, C'): C' = 2C in the hybrid frame
    channel_mask, channel_type, _ = A.frame_channels(cfg.INPUT_FRAME, channel_mask, channel_type)
    P = x1.shape[1] // cfg.PATCH_SIZE
    valid = token_validity(channel_mask, patch_valid(batch['length'], P, cfg.PATCH_SIZE))
    mask, _ = structured_mask(valid, g, cfg.MASK_RATIO, cfg.SPAN_MASK_RATIO, cfg.CHANNEL_DROP_RATIO)
    s = d.shard(len(x1))
    with ctx:
        pred, z1, z2, _ = model(x1[s], x2[s], batch['length'][s], channel_mask[s], channel_type[s], mask[s])
    target = patchify(x[s], cfg.PATCH_SIZE)
    return pretrain_loss(pred, target, z1, z2, mask[s], valid[s], cfg.MAE_WEIGHT, cfg.CONTRASTIVE_WEIGHT,
                         cfg.TEMPERATURE, d, cfg.NORM_EPS)


def settings():
    """Every setting of Stage 1 with its default value. Each can be changed from the shell as
    `--name=value` (lower-case name)."""
    # I/O
    OUT_ROOT = 'training_output/imu_pretraining'
    DATA_ROOT = 'data/prepared'               # where `python -m datasets.prepare` writes
    DATASETS = ['uci_har', 'hhar', 'mhealth', 'pamap2', 'wisdm', 'unimib_shar',
                'dsads', 'hapt', 'ku_har', 'recgym']
    HOLDOUT_DATASETS = []                     # never trained on by either stage (zero-shot tests)
    # data
    SAMPLING_RATE_HZ = 50.0                   # model input rate; other rates are resampled
    WINDOW_SECONDS = 4.0                      # maximum window; shorter segments are time-masked
    HOP_SECONDS = 2.0                         # stride between training windows
    MIN_WINDOW_SECONDS = 1.0                  # shorter segments are dropped
    SAMPLING_ALPHA = 0.5                      # dataset i drawn with p ~ n_i ** alpha
    NUM_WORKERS = 2                           # DataLoader workers
    # model
    D_MODEL = 384
    DEPTH = 6                                 # alternating time / channel attention blocks
    N_HEADS = 6
    PATCH_SIZE = 20                           # samples per patch
    DECODER_DEPTH = 2
    PROJ_DIM = 128                            # contrastive projection width
    DROPOUT = 0.0
    # masking and losses
    MASK_RATIO = 0.5                          # random-strategy ratio of tokens
    SPAN_MASK_RATIO = 0.3                     # span strategy: about this share of patches
    CHANNEL_DROP_RATIO = 0.3                  # channel strategy: this share of channels
    NORM_EPS = 1e-2                           # variance floor of the per-patch target normalisation
                                              # (model units^2): still patches are not blown up to unit variance
    MAE_WEIGHT = 1.0
    CONTRASTIVE_WEIGHT = 0.5
    TEMPERATURE = 0.2                         # patch InfoNCE temperature
    # input frame and augmentation
    INPUT_FRAME = 'device'                    # 'gravity': each device turned so that gravity is +z; 'invariant':
                                              # orientation-invariant channels (ROTATION='none'); 'hybrid': the
                                              # recorded channels and their invariant copies; both stages, evaluation
    ROTATION = 'so3'                          # 'so3', 'gravity' (about the window's gravity) or 'none'
    SHIFT_FRAC = 0.25
    JITTER_SIGMA = 0.05
    SCALE_SIGMA = 0.1
    WARP_SIGMA = 0.2
    MAG_WARP_SIGMA = 0.2
    ACC_ONLY_PROB = 0.0                       # share of windows that keep only their accelerometers
    GRAVITY_REMOVAL_PROB = 0.0                # share of windows whose accelerometers lose gravity (0.3 Hz high-pass)
    LOW_RATE_PROB = 0.0                       # share of windows band-limited to a random rate in [LOW_RATE_MIN_HZ,
    LOW_RATE_MIN_HZ = 10.0                    # SAMPLING_RATE_HZ): what a lower-rate device records
    # optimisation
    BATCH_SIZE = 20
    LEARNING_RATE = 1e-4
    MIN_LR = 1e-5
    WARMUP_EPOCHS = 1.0
    WEIGHT_DECAY = 0.05
    GRAD_CLIP = 1.0
    EPOCHS = 100
    STEPS_PER_EPOCH = 0                       # 0: training windows // batch size
    MAX_STEPS = 0                             # stop (and save) after this many steps in total; 0: no limit
    # system
    SEED = 42
    LOG_INTERVAL = 20                         # steps between progress updates (the only host syncs)
    SAVE_EVERY = 10                           # epochs between checkpoint_epoch_*.pt
    COMPILE = False                           # torch.compile the model (CUDA)
    PRECISION = 'auto'                        # 'auto': AMP FP16 on CUDA, bf16 on a CPU with native bf16, else fp32;
                                              # or 'fp32', 'bf16', 'fp16' (train_common.choose_precision)

    return dict(locals())


RULES = {**SHARED_RULES,                      # what each setting may be (settings.py); --help lists them
         'SAMPLING_RATE_HZ': positive(), 'WINDOW_SECONDS': positive(),
         'D_MODEL': count(1), 'DEPTH': count(1), 'N_HEADS': count(1), 'PATCH_SIZE': count(1),
         'DECODER_DEPTH': count(0), 'PROJ_DIM': count(1), 'DROPOUT': interval(0, 1, (True, False)),
         'MASK_RATIO': interval(0, 1, (False, False)), 'SPAN_MASK_RATIO': interval(0, 1, (False, False)),
         'CHANNEL_DROP_RATIO': interval(0, 1, (False, False)), 'NORM_EPS': positive(),
         'MAE_WEIGHT': at_least(0.0), 'CONTRASTIVE_WEIGHT': at_least(0.0), 'TEMPERATURE': positive(),
         'INPUT_FRAME': one_of(*A.INPUT_FRAMES), 'SHIFT_FRAC': interval(0, 1, (True, False)),
         'WARP_SIGMA': at_least(0.0), 'MAG_WARP_SIGMA': at_least(0.0), 'PRECISION': one_of(*PRECISIONS)}


def cross_rules(cfg):
    """Settings that must agree with each other -> refusals (settings.configure)."""
    out = shared_cross_rules(cfg)
    if cfg.D_MODEL % cfg.N_HEADS:
        out.append(f'--d_model={cfg.D_MODEL} and --n_heads={cfg.N_HEADS}: d_model must be divisible by n_heads')
    out += window_rules(cfg, ('WINDOW_SECONDS', 'MIN_WINDOW_SECONDS'), cfg.PATCH_SIZE, cfg.SAMPLING_RATE_HZ)
    if cfg.MAE_WEIGHT + cfg.CONTRASTIVE_WEIGHT == 0:
        out.append('--mae_weight=0.0 and --contrastive_weight=0.0: the loss would be zero; train with one of them')
    try:
        A.check_frame_rotation(cfg.INPUT_FRAME, cfg.ROTATION)
    except ValueError as e:
        out.append(f'--input_frame={cfg.INPUT_FRAME} and --rotation={cfg.ROTATION}: {e}')
    return out


def main(argv=None):
    cfg, resume, ckpt, d, log, device, precision, ctx, scaler = start_run(
        KIND, settings(), RULES, [cross_rules], [shared_warnings], argv)

    data = HARData(open_training_data(cfg, log), cfg.WINDOW_SECONDS, cfg.SAMPLING_RATE_HZ, cfg.HOP_SECONDS,
                   cfg.MIN_WINDOW_SECONDS, seed=cfg.SEED, alpha=cfg.SAMPLING_ALPHA)
    check_windows(data, cfg)
    if d.main:
        print(data.describe())

    enc_cfg = EncoderConfig(cfg.D_MODEL, cfg.DEPTH, cfg.N_HEADS, cfg.PATCH_SIZE,
                            max(64, int(cfg.WINDOW_SECONDS * cfg.SAMPLING_RATE_HZ) // cfg.PATCH_SIZE),
                            4.0, cfg.DROPOUT, cfg.DECODER_DEPTH, cfg.PROJ_DIM, cfg.INPUT_FRAME, cfg.SAMPLING_RATE_HZ)
    model = MAEPretrainModel(enc_cfg).to(device)
    opt = make_optimizer(model, cfg.LEARNING_RATE, cfg.WEIGHT_DECAY)

    with process_group(d):
        return fit(cfg, KIND, model, opt, scaler, device, data,
                   step_loss=lambda m, batch, g: step_loss(m, batch, g, cfg, d, ctx),
                   validate=lambda m: validate(m, data, device, ctx, cfg),
                   ckpt=ckpt, resume=resume, panels=PANELS, checkpoint_extra={'encoder_config': config_dict(enc_cfg)},
                   d=d, precision=precision)


@torch.no_grad()
def validate(model, data, device, ctx, cfg):
    """Validation loss on held-out subjects, with fixed augmentation and masks per batch."""
    model.eval()
    plan = data.epoch_plan('val', 0, cfg.BATCH_SIZE)
    if not plan:
        return {}
    tot = torch.zeros(3, device=device)
    ds_sum, ds_n = torch.zeros(len(data.datasets), device=device), torch.zeros(len(data.datasets), device=device)
    for i, idx in enumerate(plan):
        batch = {k: torch.from_numpy(v).to(device) for k, v in data.read_batch('val', idx).items()}
        g = step_generator(device, cfg.SEED, i, stream=1)
        loss, parts = step_loss(model, batch, g, cfg, ctx=ctx)
        tot += torch.stack([loss.float(), parts['mae'].float(), parts['contrastive'].float()])
        ds_sum.index_add_(0, batch['dataset'][:1], loss.float()[None])
        ds_n.index_add_(0, batch['dataset'][:1], torch.ones(1, device=device))
    tot = (tot / len(plan)).tolist()
    out = {'val_loss': tot[0], 'val_mae': tot[1], 'val_contrastive': tot[2]}
    for i, d in enumerate(data.datasets):
        if ds_n[i] > 0:
            out[f'val_ds_{d.name}'] = (ds_sum[i] / ds_n[i]).item()
    return out


if __name__ == '__main__':
    run_script(main)
