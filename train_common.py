"""What both training scripts share: shell overrides, device and AMP set-up, the LR schedule,
RNG capture, atomic checkpoints that resume exactly, the run folder and the training loop."""
import json
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import torch

import plots
from distributed import LOCAL, broadcast_object, quiet
from settings import Refused, configure, environment

CHECKPOINT_FORMAT = 1
STAGE1_KIND = 'imu_pretraining'            # a checkpoint's 'kind': which script wrote it
STAGE2_KIND = 'semantic_alignment'


# ------------------------------------------------------------------------ configuration

RESUME_OVERRIDABLE = ('MAX_STEPS', 'NUM_WORKERS', 'PRECISION')
RESUME_OVERRIDABLE_IF_GIVEN = ('DATA_ROOT',)      # the checkpoint's unless given anew (the data may have moved)


def resume_config(cfg, defaults, ckpt_config, log=print):
    """On --resume the run's own settings win (so the run continues as it started), except how
    far to go now, how many loader workers, the precision (resume_precision says if it changes)
    and, when given, where the prepared data are (they may have moved).
    Overrides that are dropped are named, not silently lost."""
    given = {k for k, v in vars(cfg).items() if v != defaults.get(k)}
    keep = set(RESUME_OVERRIDABLE) | (given & set(RESUME_OVERRIDABLE_IF_GIVEN))
    ignored = [k for k in given if k in ckpt_config and k not in keep and getattr(cfg, k) != ckpt_config[k]]
    if ignored:
        log('note: on --resume the checkpoint\'s settings are kept; ignored: '
            + ', '.join(f'--{k.lower()}={getattr(cfg, k)!r}' for k in ignored))
    cfg.__dict__.update({k: v for k, v in ckpt_config.items() if k not in keep})


def resume_precision(ckpt, precision, log=print):
    """On --resume: say so in one line when the run continues in another precision than it was
    trained in (it then no longer matches an uninterrupted run bit for bit)."""
    before = ckpt['config'].get('PRECISION')
    if before not in (None, precision):
        log(f'note: this run was trained in {before} and continues in {precision}: it will not match an '
            f'uninterrupted run bit for bit')


def start_run(kind, defaults, rules, cross_rules, warnings, argv=None):
    """What both training scripts do first: every setting read and checked (settings.configure),
    the processes started (torchrun), a --resume checkpoint read (its settings win), then the
    device and the precision chosen (config.yaml records the one used). Nothing is written yet.
    -> cfg, resume path, checkpoint (or None), Dist, log, device, (precision, reason), autocast
    context, GradScaler"""
    from distributed import init_distributed
    cfg, resume = configure(defaults, rules, cross_rules, warnings, argv)
    d = init_distributed()
    log = print if d.main else quiet
    ckpt = load_checkpoint(resume, [kind]) if resume else None
    if ckpt:                                  # the run's own settings win, except how far to go now
        resume_config(cfg, defaults, ckpt['config'], log)
    check_processes(cfg, d)
    device, precision, reason, ctx, scaler = setup_device(cfg.SEED, d, cfg.PRECISION, log)
    if ckpt:
        resume_precision(ckpt, precision, log)
    cfg.PRECISION = precision
    return cfg, resume, ckpt, d, log, device, (precision, reason), ctx, scaler


def check_windows(data, cfg):
    """A run needs training windows: none (every segment shorter than MIN_WINDOW_SECONDS, no
    labelled window, ...) is refused before the run folder is made."""
    if len(data.windows['train']) == 0:
        raise Refused(f'--datasets={cfg.DATASETS}: no training window of at least --min_window_seconds='
                      f'{cfg.MIN_WINDOW_SECONDS} in the training subjects')


def check_processes(cfg, d):
    """The global batch must split evenly over the processes torchrun started."""
    if cfg.BATCH_SIZE % d.world:
        raise Refused(f'--batch_size={cfg.BATCH_SIZE} is not divisible by the {d.world} processes; '
                      f'the batch size is global (split across ranks)')


def open_training_data(cfg, log=print):
    """The prepared datasets a run trains on: cfg.DATASETS less cfg.HOLDOUT_DATASETS, from
    cfg.DATA_ROOT (or the shipped sample, said in one line, when none is prepared). cfg then
    records what was used, so that the run's config.yaml repeats it. None at all is refused."""
    from datasets.loader import open_datasets
    wanted = [n for n in cfg.DATASETS if n not in cfg.HOLDOUT_DATASETS]
    try:
        found = open_datasets(wanted, cfg.DATA_ROOT, log=log)
    except FileNotFoundError as e:
        raise Refused(f'--datasets={cfg.DATASETS}: {e}') from None
    root = found[0].path.parent
    cfg.DATA_ROOT = os.path.relpath(root) if Path(os.path.relpath(root)).parts[:1] != ('..',) else str(root)
    cfg.DATASETS = [d.name for d in found] + [n for n in cfg.HOLDOUT_DATASETS if n in cfg.DATASETS]
    return found


def as_dict(cfg):
    return dict(vars(cfg))


# ------------------------------------------------------------------------ device

PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')       # the PRECISION setting (settings.one_of)
DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def cpu_has_bf16():
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX), from /proc/cpuinfo (Linux)."""
    try:
        flags = Path('/proc/cpuinfo').read_text()
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def choose_precision(requested, device):
    """The number format a run computes in, and why, for PRECISION `requested` on `device`:
    'auto' is AMP FP16 with a GradScaler on CUDA, bf16 autocast on a CPU with native bf16, fp32
    elsewhere. bf16 on a GPU without it, or fp16 on a CPU, is refused. -> (precision, reason)"""
    cuda = device.type == 'cuda'
    if requested == 'auto':
        if cuda:
            return 'fp16', 'auto: CUDA, AMP FP16 with a GradScaler'
        if cpu_has_bf16():
            return 'bf16', 'auto: this CPU has native bf16 (avx512_bf16 / amx_bf16), bf16 autocast'
        return 'fp32', 'auto: this CPU has no native bf16'
    if requested == 'fp16' and not cuda:
        raise Refused('--precision=fp16 needs a CUDA GPU (a GradScaler on CPU is not supported); use bf16 or fp32')
    if requested == 'bf16' and cuda and not torch.cuda.is_bf16_supported():
        raise Refused('--precision=bf16: this GPU has no bf16; use fp16 or fp32')
    note = ' (this CPU has no native bf16: slow)' if requested == 'bf16' and not cuda and not cpu_has_bf16() else ''
    return requested, f'--precision={requested} as set{note}'


def autocast(device, precision):
    """The autocast context of a precision (fp32: none). Only the model's forward runs in it;
    augmentations, masks, losses' reductions, the memory bank and the label bank stay fp32."""
    if precision == 'fp32':
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def setup_device(seed, d=None, precision='auto', log=print):
    """Device, the precision used (choose_precision; said in one line), its autocast context and
    the GradScaler (enabled for fp16 only). Under torchrun each rank takes the GPU of its local
    rank. -> device, precision, reason, ctx, scaler"""
    cuda = torch.cuda.is_available()
    device = torch.device(f'cuda:{d.local_rank}' if cuda and d is not None and d.on else 'cuda' if cuda else 'cpu')
    precision, reason = choose_precision(precision, device)
    log(f'precision: {precision} ({reason})')
    torch.manual_seed(seed)
    random.seed(seed)
    scaler = torch.amp.GradScaler('cuda', enabled=precision == 'fp16')
    return device, precision, reason, autocast(device, precision), scaler


def make_optimizer(model, lr, weight_decay, betas=(0.9, 0.95), scaled=None, lr_scale=1.0):
    """AdamW; weight decay on matrices only (not on biases, norms, embeddings, tokens).
    Parameters of the submodule `scaled` train at lr * lr_scale (group key 'lr_scale', which
    `fit` applies at every step)."""
    slow = {id(p) for p in scaled.parameters()} if scaled is not None and lr_scale != 1.0 else set()
    groups = {}                                                  # (decay?, lr_scale) -> parameters
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = (p.ndim >= 2 and 'embed' not in name, lr_scale if id(p) in slow else 1.0)
            groups.setdefault(key, []).append(p)
    order = sorted(groups, key=lambda k: (not k[0], k[1] != 1.0))   # decayed first, as always
    return torch.optim.AdamW([{'params': groups[k], 'weight_decay': weight_decay if k[0] else 0.0,
                               'lr_scale': k[1]} for k in order], lr=lr, betas=betas)


def optimizer_step(model, opt, scaler, loss, grad_clip):
    """Backward through the GradScaler, unscale, clip, step: one path for CUDA (AMP FP16) and CPU
    (the scaler is disabled there and each call is a no-op)."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()


def get_lr(step, total_steps, warmup_steps, base_lr, min_lr):
    """Linear warm-up then cosine decay: a pure function of the step, so resume needs no state."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))


def step_generator(device, seed, step, stream=0):
    """The generator for augmentation and masking at one step: a pure function of (seed, step)."""
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step) * 8 + stream)


# ------------------------------------------------------------------------ checkpoints

def rng_state():
    """Every RNG the loop touches, as types torch.load(weights_only=True) accepts."""
    state = {'torch': torch.get_rng_state(), 'python': random.getstate()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state['torch'])
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def save_checkpoint(obj, path):
    """Write atomically: a temporary file in the same folder, flushed, then renamed over `path`.
    A process killed mid-save leaves the previous file intact."""
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path, kinds):
    """Load with weights_only=True; fail clearly on a missing file or a checkpoint of another kind."""
    path = Path(path)
    if not path.is_file():
        raise Refused(f'checkpoint {path} does not exist (refusing to start from scratch)')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:                                            # truncated, pickled objects...
        raise Refused(f'{path} is not a loadable checkpoint: {e}') from None
    if not isinstance(ckpt, dict) or ckpt.get('kind') not in kinds:
        kind = ckpt.get('kind') if isinstance(ckpt, dict) else type(ckpt).__name__
        raise Refused(f'{path} is a {kind!r} checkpoint; expected one of {list(kinds)}')
    return ckpt


def find_latest(root, name='best.pt'):
    """Newest `name` under root/*/ by run folder name (timestamps sort), or None."""
    runs = sorted(Path(root).glob(f'*/{name}'))
    return runs[-1] if runs else None


# ------------------------------------------------------------------------ run folder

def make_run_dir(root, cfg_dict, resume_dir=None, env=None):
    """training_output/<stage>/<timestamp>/ with config.yaml (the settings the run used: a valid
    --config to repeat it), environment.yaml (settings.environment) and plots/."""
    import yaml
    run = Path(resume_dir) if resume_dir else Path(root) / time.strftime('%Y%m%d_%H%M%S')
    if not resume_dir:
        base, k = run, 1
        while run.exists():                                           # two runs in one second
            run, k = Path(f'{base}_{k}'), k + 1
    (run / 'plots').mkdir(parents=True, exist_ok=True)
    with open(run / 'config.yaml', 'w') as f:
        yaml.safe_dump(cfg_dict, f, sort_keys=False)
    if env is not None:                       # a resume records its own, beside the first run's
        name = f'environment_resumed_{time.strftime("%Y%m%d_%H%M%S")}.yaml' if resume_dir else 'environment.yaml'
        with open(run / name, 'w') as f:
            yaml.safe_dump(env, f, sort_keys=False)
    return run


class History:
    """Per-epoch and per-log-step metrics, written to plots/metrics.json and drawn as PNGs."""

    def __init__(self, run_dir, state=None):
        self.run_dir = Path(run_dir)
        self.epochs = list((state or {}).get('epochs', []))
        self.steps = list((state or {}).get('steps', []))

    def state(self):
        return {'epochs': self.epochs, 'steps': self.steps}

    def write(self, panels=()):
        folder = self.run_dir / 'plots'
        with open(folder / 'metrics.json', 'w') as f:
            json.dump(self.state(), f, indent=1)
        plots.draw(panels, self.epochs, self.steps, folder)


def fit(cfg, kind, model, opt, scaler, device, data, step_loss, validate, ckpt=None, resume=None,
        best_metric='val_loss', maximize=False, panels=(), checkpoint_extra=None, d=LOCAL, precision=('fp32', '')):
    """The training loop both stages share.

    step_loss(model, batch, g) -> (loss, parts): parts are scalar tensors logged as train_<name>;
    it runs the model's forward under the precision's autocast (see `autocast`).
    precision: (the precision used, why), recorded in environment.yaml and the checkpoint.
    validate(model) -> dict of floats (val_loss, val_<name>, val_ds_<dataset>, ...).
    panels: the plots.Panel list drawn after every epoch.
    Resumes exactly from `ckpt`: the epoch plan, the LR and the per-step generators are pure
    functions of (seed, epoch, step), and all RNG states are restored.
    Under torchrun (`d.on`), the model runs wrapped in DistributedDataParallel, each rank
    reads the whole global batch and step_loss runs its slice (distributed.py); only rank 0
    writes files and prints; logged values are averaged over ranks.
    Returns the run folder.
    """
    log = print if d.main else quiet
    steps_per_epoch = cfg.STEPS_PER_EPOCH or max(1, len(data.windows['train']) // cfg.BATCH_SIZE)
    total_steps, warmup = cfg.EPOCHS * steps_per_epoch, int(cfg.WARMUP_EPOCHS * steps_per_epoch)
    epoch, step_in_epoch, best = restore(ckpt, model, opt, scaler, -float('inf') if maximize else float('inf'))
    if ckpt:
        log(f'resumed {resume} at epoch {epoch}, step {step_in_epoch}')
    fwd = wrap(model, cfg.COMPILE, device, d)
    run_dir = (make_run_dir(cfg.OUT_ROOT, as_dict(cfg), ckpt['run_dir'] if ckpt else None,
                            environment(device, *precision)) if d.main else None)
    run_dir = Path(broadcast_object(str(run_dir), d))
    history = History(run_dir, ckpt['history'] if ckpt else None)
    log(f'run folder: {run_dir}  device: {device}  processes: {d.world}  '
        f'parameters: {sum(p.numel() for p in model.parameters()):,}')

    def save(name):
        if d.main:
            save_checkpoint({
                'kind': kind, 'format': CHECKPOINT_FORMAT, 'model': model.state_dict(),
                'optimizer': opt.state_dict(), 'scaler': scaler.state_dict(), 'epoch': epoch,
                'step_in_epoch': step_in_epoch, 'global_step': epoch * steps_per_epoch + step_in_epoch,
                'best': best, 'best_metric': best_metric, 'config': as_dict(cfg), 'rng': rng_state(),
                'epoch_sums': sums.state(), 'history': history.state(), 'run_dir': str(run_dir),
                'precision': {'used': precision[0], 'reason': precision[1]},
                'data': {'datasets': [ds.name for ds in data.datasets], 'split_subjects': data.split_subjects,
                         'channel_texts': data.channel_texts, 'label_names': data.label_names},
                **(checkpoint_extra or {})}, run_dir / name)

    global_step = epoch * steps_per_epoch + step_in_epoch
    if cfg.MAX_STEPS and global_step >= cfg.MAX_STEPS:
        log(f'already at step {global_step} of --max_steps={cfg.MAX_STEPS}: nothing to train')
        return run_dir
    while epoch < cfg.EPOCHS:
        model.train()
        sums = EpochSums(len(data.datasets), device, (ckpt or {}).get('epoch_sums') if step_in_epoch else None)
        bad = torch.zeros((), device=device)                      # consecutive non-finite losses
        loader = data.loader('train', epoch, cfg.BATCH_SIZE, start_step=step_in_epoch, steps=steps_per_epoch,
                             num_workers=cfg.NUM_WORKERS, pin_memory=device.type == 'cuda')
        bar = progress(loader, steps_per_epoch - step_in_epoch, f'epoch {epoch}', disable=not d.main)
        t0, seen, lr = time.time(), 0, get_lr(global_step, total_steps, warmup, cfg.LEARNING_RATE, cfg.MIN_LR)
        for batch in bar:
            lr = get_lr(global_step, total_steps, warmup, cfg.LEARNING_RATE, cfg.MIN_LR)
            for group in opt.param_groups:
                group['lr'] = lr * group.get('lr_scale', 1.0)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            g = step_generator(device, cfg.SEED, global_step)
            loss, parts = step_loss(fwd, batch, g)
            optimizer_step(model, opt, scaler, loss, cfg.GRAD_CLIP)

            l = loss.detach().float()
            bad = (bad + 1) * (~torch.isfinite(l))
            sums.add(l, parts, batch['dataset'][:1])
            global_step, step_in_epoch, seen = global_step + 1, step_in_epoch + 1, seen + len(batch['label'])
            if device.type == 'cpu' or step_in_epoch % cfg.LOG_INTERVAL == 0:
                stop_if_not_finite(bad, device, d, f'step {global_step} (epoch {epoch})', run_dir)
            if step_in_epoch % cfg.LOG_INTERVAL == 0:
                shown = d.average(l).item()
                history.steps.append({'epoch': epoch + step_in_epoch / steps_per_epoch, 'step': global_step,
                                      'loss': shown, 'lr': lr})
                bar.set_postfix(loss=f'{shown:.4f}', win_s=f'{seen / (time.time() - t0):.0f}')
            if cfg.MAX_STEPS and global_step >= cfg.MAX_STEPS:
                break

        if step_in_epoch == steps_per_epoch:                       # a whole epoch: validate, record, checkpoints
            record = {'epoch': epoch + 1, 'lr': lr, 'time_s': time.time() - t0,
                      **sums.record(steps_per_epoch, data, d), **validate(model)}
            history.epochs.append(record)
            epoch, step_in_epoch = epoch + 1, 0
            is_best, best = improved(record, best_metric, maximize, best)
            save('latest.pt')
            if is_best:
                save('best.pt')
            if epoch % cfg.SAVE_EVERY == 0:
                save(f'checkpoint_epoch_{epoch}.pt')
            shown = '  '.join(f'{k} {v:.4f}' for k, v in record.items() if k.startswith('val_') and '_ds_' not in k)
            log(f'epoch {epoch}/{cfg.EPOCHS}  train_loss {record["train_loss"]:.4f}  {shown}  {"(best)" if is_best else ""}')
        else:                                                     # stopped by MAX_STEPS mid-epoch
            save('latest.pt')
        if d.main:
            history.write(panels)
        if cfg.MAX_STEPS and global_step >= cfg.MAX_STEPS:
            log(f'stopped at step {global_step} (max_steps); resume with --resume {run_dir / "latest.pt"}')
            break
    return run_dir


def wrap(model, compile_model, device, d):
    """The module the training steps call: compiled if asked, in DistributedDataParallel under torchrun."""
    fwd = torch.compile(model) if compile_model else model
    if d.on:
        from torch.nn.parallel import DistributedDataParallel as DDP
        fwd = DDP(fwd, device_ids=[device.index] if device.type == 'cuda' else None, broadcast_buffers=False)
    return fwd


def stop_if_not_finite(bad, device, d, where, run_dir):
    """bad: () tensor, the count of consecutive non-finite losses (summed over ranks here). A CPU
    run has no GradScaler, so one NaN would poison the weights: stop at once. On CUDA the scaler
    skips non-finite steps; stop only if that goes on for 20 steps."""
    if d.sum(bad).item() >= (1 if device.type == 'cpu' else 20):
        raise SystemExit(f'error: non-finite loss at {where}; the last good checkpoint is {run_dir / "latest.pt"}')


def restore(ckpt, model, opt, scaler, best):
    """Load a checkpoint's model, optimizer, GradScaler and RNG states (nothing without one).
    -> epoch, step in epoch, best score so far (`best` without a checkpoint)"""
    if not ckpt:
        return 0, 0, best
    model.load_state_dict(ckpt['model'])
    opt.load_state_dict(ckpt['optimizer'])
    if scaler.is_enabled() and ckpt['scaler']:                   # an fp16 run's scaler (fp32 / bf16: none)
        scaler.load_state_dict(ckpt['scaler'])
    set_rng_state(ckpt['rng'])
    return ckpt['epoch'], ckpt['step_in_epoch'], ckpt['best']


def improved(record, best_metric, maximize, best):
    """Whether an epoch's record beats the best so far (its training loss when there is no
    validation). -> is_best, new best"""
    score = record.get(best_metric)
    if score is None:
        score = -record['train_loss'] if maximize else record['train_loss']
    is_best = score > best if maximize else score < best
    return is_best, score if is_best else best


class EpochSums:
    """Running sums of one epoch's training loss and parts (name -> device scalar) and of the loss
    per dataset; kept in the checkpoint, so that a mid-epoch resume continues them."""

    def __init__(self, n_datasets, device, state=None):
        state = state or {}
        self.sums = {k: torch.tensor(v, device=device) for k, v in state.get('sums', {}).items()}
        self.ds_sum = torch.tensor(state['ds_sum'], device=device) if state else torch.zeros(n_datasets, device=device)
        self.ds_n = torch.tensor(state['ds_n'], device=device) if state else torch.zeros(n_datasets, device=device)

    def add(self, loss, parts, dataset):
        """One step: loss (scalar), parts {name: scalar}, dataset (1,) the batch's dataset."""
        for name, value in (('loss', loss), *parts.items()):
            self.sums[name] = self.sums.get(name, 0) + torch.nan_to_num(value.detach().float(), 0.0)
        self.ds_sum.index_add_(0, dataset, torch.nan_to_num(loss, 0.0)[None])
        self.ds_n.index_add_(0, dataset, torch.ones(1, device=loss.device))

    def state(self):
        return {'sums': {k: v.item() for k, v in self.sums.items()}, 'ds_sum': self.ds_sum.tolist(),
                'ds_n': self.ds_n.tolist()}

    def record(self, steps_per_epoch, data, d=LOCAL):
        """The epoch's history entries: mean training loss and parts (train_<name>) and the mean
        loss per dataset (train_ds_<name>), averaged over ranks."""
        out = {f'train_{k}' if k != 'loss' else 'train_loss': d.average(v).item() / steps_per_epoch
               for k, v in self.sums.items()}
        ds_sum = d.average(self.ds_sum)
        for i, ds in enumerate(data.datasets):
            if self.ds_n[i] > 0:
                out[f'train_ds_{ds.name}'] = (ds_sum[i] / self.ds_n[i]).item()
        return out


def progress(iterable, total, desc, disable=False):
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, disable=disable, leave=False)
