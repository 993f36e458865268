"""Stage 1: self-supervised pretraining of the IMU encoder (masked autoencoding + patch InfoNCE).

    python pretrain.py                                   # defaults below, on the prepared data
    python pretrain.py --d_model=64 --depth=2 --epochs=5 # any constant, lower-case, as --name=value
    python pretrain.py --resume training_output/imu_pretraining/<run>/latest.pt

Outputs go to training_output/imu_pretraining/<timestamp>/: config.yaml, latest.pt, best.pt
(lowest validation loss), checkpoint_epoch_*.pt and plots/ (PNG curves, metrics.json).
"""
import time

import torch

import augmentations as A
from datasets.loader import HARData, open_datasets
from losses import pretrain_loss, structured_mask, token_validity
from model import EncoderConfig, MAEPretrainModel, config_dict, patch_valid, patchify
from train_common import (CHECKPOINT_FORMAT, History, as_dict, configure, get_lr, load_checkpoint,
                          make_run_dir, progress, rng_state, save_checkpoint, set_rng_state,
                          setup_device, step_generator)

KIND = 'imu_pretraining'


def make_views(batch, g, C):
    """Shared time shift and rotation, then a weak view (to mask and reconstruct) and a
    weak+strong view (to contrast). batch tensors on device -> x1, x2: (B, T, C)"""
    x, length = batch['x'], batch['length']
    x = A.time_shift(x, length, g, C.SHIFT_FRAC)
    x = A.rotate(x, length, batch['triads'], g, C.ROTATION)
    x1 = A.weak(x, length, g, C.JITTER_SIGMA, C.SCALE_SIGMA)
    x2 = A.strong(A.weak(x, length, g, C.JITTER_SIGMA, C.SCALE_SIGMA), length, g, C.WARP_SIGMA, C.MAG_WARP_SIGMA)
    return x1, x2


def step_loss(model, batch, g, C):
    """One Stage 1 forward: views, structured mask, model, losses. -> total, parts dict"""
    x1, x2 = make_views(batch, g, C)
    P = x1.shape[1] // C.PATCH_SIZE
    valid = token_validity(batch['channel_mask'], patch_valid(batch['length'], P, C.PATCH_SIZE))
    mask, _ = structured_mask(valid, g, C.MASK_RATIO, C.SPAN_MASK_RATIO, C.CHANNEL_DROP_RATIO)
    pred, z1, z2, _ = model(x1, x2, batch['length'], batch['channel_mask'], batch['channel_type'], mask)
    target = patchify(x1, C.PATCH_SIZE)
    return pretrain_loss(pred, target, z1, z2, mask, valid, C.MAE_WEIGHT, C.CONTRASTIVE_WEIGHT, C.TEMPERATURE)


def main(argv=None):
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
    MAE_WEIGHT = 1.0
    CONTRASTIVE_WEIGHT = 0.5
    TEMPERATURE = 0.2                         # patch InfoNCE temperature
    # augmentation
    ROTATION = 'so3'                          # 'so3', 'gravity' (about the window's gravity) or 'none'
    SHIFT_FRAC = 0.25
    JITTER_SIGMA = 0.05
    SCALE_SIGMA = 0.1
    WARP_SIGMA = 0.2
    MAG_WARP_SIGMA = 0.2
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

    C, resume = configure(locals(), argv)
    device, ctx, scaler = setup_device(C.SEED)
    ckpt = load_checkpoint(resume, [KIND]) if resume else None
    if ckpt:                                  # the run's own settings win, except the stop rule
        keep = {'MAX_STEPS': C.MAX_STEPS, 'NUM_WORKERS': C.NUM_WORKERS}
        C.__dict__.update(ckpt['config'], **keep)

    # ---- data
    names = [n for n in C.DATASETS if n not in C.HOLDOUT_DATASETS]
    data = HARData(open_datasets(names, C.DATA_ROOT), C.WINDOW_SECONDS, C.SAMPLING_RATE_HZ, C.HOP_SECONDS,
                   C.MIN_WINDOW_SECONDS, seed=C.SEED, alpha=C.SAMPLING_ALPHA)
    print(data.describe())
    steps_per_epoch = C.STEPS_PER_EPOCH or max(1, len(data.windows['train']) // C.BATCH_SIZE)
    total_steps = C.EPOCHS * steps_per_epoch

    # ---- model and optimiser
    enc_cfg = EncoderConfig(C.D_MODEL, C.DEPTH, C.N_HEADS, C.PATCH_SIZE,
                            max(64, int(C.WINDOW_SECONDS * C.SAMPLING_RATE_HZ) // C.PATCH_SIZE),
                            4.0, C.DROPOUT, C.DECODER_DEPTH, C.PROJ_DIM)
    model = MAEPretrainModel(enc_cfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and 'embed' not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and 'embed' not in n)]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': C.WEIGHT_DECAY},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=C.LEARNING_RATE, betas=(0.9, 0.95))
    epoch, step_in_epoch, best_val = 0, 0, float('inf')
    if ckpt:
        model.load_state_dict(ckpt['model'])
        opt.load_state_dict(ckpt['optimizer'])
        scaler.load_state_dict(ckpt['scaler'])
        epoch, step_in_epoch, best_val = ckpt['epoch'], ckpt['step_in_epoch'], ckpt['best_val']
        set_rng_state(ckpt['rng'])
        print(f'resumed {resume} at epoch {epoch}, step {step_in_epoch}')
    fwd = torch.compile(model) if C.COMPILE else model
    run_dir = make_run_dir(C.OUT_ROOT, as_dict(C), ckpt['run_dir'] if ckpt else None)
    history = History(run_dir, ckpt['history'] if ckpt else None)
    print(f'run folder: {run_dir}  device: {device}  parameters: {sum(p.numel() for p in model.parameters()):,}')

    def checkpoint(path, epoch, step_in_epoch):
        save_checkpoint({
            'kind': KIND, 'format': CHECKPOINT_FORMAT, 'model': model.state_dict(),
            'optimizer': opt.state_dict(), 'scaler': scaler.state_dict(),
            'epoch': epoch, 'step_in_epoch': step_in_epoch, 'global_step': epoch * steps_per_epoch + step_in_epoch,
            'best_val': best_val, 'config': as_dict(C), 'encoder_config': config_dict(enc_cfg),
            'rng': rng_state(), 'history': history.state(), 'run_dir': str(run_dir),
            'data': {'datasets': [d.name for d in data.datasets], 'split_subjects': data.split_subjects,
                     'channel_texts': data.channel_texts, 'label_names': data.label_names}}, path)

    # ---- training loop
    n_ds = len(data.datasets)
    global_step = epoch * steps_per_epoch + step_in_epoch
    while epoch < C.EPOCHS:
        model.train()
        sums = torch.zeros(3, device=device)                     # loss, mae, contrastive
        ds_sum, ds_n = torch.zeros(n_ds, device=device), torch.zeros(n_ds, device=device)
        bad = torch.zeros((), device=device)                      # consecutive non-finite losses
        loader = data.loader('train', epoch, C.BATCH_SIZE, start_step=step_in_epoch, num_workers=C.NUM_WORKERS,
                             pin_memory=device.type == 'cuda', steps=steps_per_epoch)
        bar = progress(loader, steps_per_epoch - step_in_epoch, f'epoch {epoch}')
        t0, seen = time.time(), 0
        for batch in bar:
            lr = get_lr(global_step, total_steps, int(C.WARMUP_EPOCHS * steps_per_epoch), C.LEARNING_RATE, C.MIN_LR)
            for group in opt.param_groups:
                group['lr'] = lr
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            g = step_generator(device, C.SEED, global_step)
            with ctx:
                loss, parts = step_loss(fwd, batch, g, C)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), C.GRAD_CLIP)
            scaler.step(opt)
            scaler.update()

            finite = torch.isfinite(loss.detach())
            bad = (bad + 1) * (~finite)
            l = torch.nan_to_num(loss.detach(), 0.0)
            sums += torch.stack([l, torch.nan_to_num(parts['mae'].detach()), torch.nan_to_num(parts['contrastive'].detach())])
            ds_sum.index_add_(0, batch['dataset'][:1], l[None])
            ds_n.index_add_(0, batch['dataset'][:1], torch.ones(1, device=device))
            global_step += 1
            step_in_epoch += 1
            seen += len(batch['label'])
            if device.type == 'cpu' or step_in_epoch % C.LOG_INTERVAL == 0:
                # CPU: no scaler, a NaN would poison the weights, so stop at once. CUDA: the
                # scaler skips non-finite steps; stop only if that goes on for 20 steps.
                if bad.item() >= (1 if device.type == 'cpu' else 20):
                    raise SystemExit(f'error: non-finite loss at step {global_step} (epoch {epoch}); '
                                     f'last good checkpoint: {run_dir / "latest.pt"}')
            if step_in_epoch % C.LOG_INTERVAL == 0:
                history.steps.append({'epoch': epoch + step_in_epoch / steps_per_epoch, 'step': global_step,
                                      'loss': l.item(), 'lr': lr})
                bar.set_postfix(loss=f'{l.item():.4f}', win_s=f'{seen / (time.time() - t0):.0f}')
            if C.MAX_STEPS and global_step >= C.MAX_STEPS:
                break
        if step_in_epoch < steps_per_epoch:                       # stopped by MAX_STEPS
            checkpoint(run_dir / 'latest.pt', epoch, step_in_epoch)
            history.write()
            print(f'stopped at step {global_step} (max_steps); resume with --resume {run_dir / "latest.pt"}')
            return run_dir

        # ---- end of epoch: validation, history, checkpoints
        n = steps_per_epoch
        record = {'epoch': epoch + 1, 'lr': lr, 'time_s': time.time() - t0,
                  'train_loss': sums[0].item() / n, 'train_mae': sums[1].item() / n,
                  'train_contrastive': sums[2].item() / n}
        for i, d in enumerate(data.datasets):
            if ds_n[i] > 0:
                record[f'train_ds_{d.name}'] = (ds_sum[i] / ds_n[i]).item()
        record.update(validate(model, data, device, ctx, C))
        history.epochs.append(record)
        epoch, step_in_epoch = epoch + 1, 0
        is_best = record.get('val_loss', record['train_loss']) < best_val
        if is_best:
            best_val = record.get('val_loss', record['train_loss'])
        checkpoint(run_dir / 'latest.pt', epoch, 0)
        if is_best:
            checkpoint(run_dir / 'best.pt', epoch, 0)
        if epoch % C.SAVE_EVERY == 0:
            checkpoint(run_dir / f'checkpoint_epoch_{epoch}.pt', epoch, 0)
        history.write()
        print(f'epoch {epoch}/{C.EPOCHS}  train {record["train_loss"]:.4f}  '
              f'val {record.get("val_loss", float("nan")):.4f}  {"(best)" if is_best else ""}')
        if C.MAX_STEPS and global_step >= C.MAX_STEPS:
            print(f'stopped at step {global_step} (max_steps); resume with --resume {run_dir / "latest.pt"}')
            return run_dir
    return run_dir


@torch.no_grad()
def validate(model, data, device, ctx, C):
    """Validation loss on held-out subjects, with fixed augmentation and masks per batch."""
    model.eval()
    plan = data.epoch_plan('val', 0, C.BATCH_SIZE)
    if not plan:
        return {}
    tot = torch.zeros(3, device=device)
    ds_sum, ds_n = torch.zeros(len(data.datasets), device=device), torch.zeros(len(data.datasets), device=device)
    for i, idx in enumerate(plan):
        batch = {k: torch.from_numpy(v).to(device) for k, v in data.read_batch('val', idx).items()}
        g = step_generator(device, C.SEED, i, stream=1)
        with ctx:
            loss, parts = step_loss(model, batch, g, C)
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
    main()
