"""Benchmark: training-step throughput, data pipeline, memory and raw-conversion speed.

    python bench.py                        # full run on the current device (about 5 min on 2 CPU cores)
    python bench.py --quick                # smoke run (about 1 min)
    python bench.py --json bench.json      # also write the figures as flat JSON

What it measures, all in one run on one device:

* Stage 1 (pretrain.step_loss: views, structured mask, MAE + patch InfoNCE) and Stage 2
  (the step of semantic_alignment_train.main: rotation + weak views, channel-text fusion, label
  bank, semantic InfoNCE, memory bank) training steps: forward, backward, gradient clipping and
  AdamW (train_common.make_optimizer), fp32 on CPU, AMP FP16 + GradScaler on CUDA (as
  train_common.setup_device sets up), both stages at the configuration's batch size (20 by
  default; Stage 2's own script defaults to 32). Median step time, windows/s, FLOPs per step
  (torch.utils.flop_counter over one step) and achieved FLOP/s as a fraction of a large matmul
  in the same dtype timed in the same run. The steps of one configuration are timed in
  interleaved rounds, so that load from other processes hits them alike.
* A bare baseline: torch.nn.TransformerEncoder (batch_first, norm_first, GELU, 4d feed-forward)
  of the same width and depth over the same number of tokens (B x 60), same optimizer.
  stage1_vs_bare_transformer = Stage 1 FLOP/s / bare FLOP/s (Stage 2 likewise).
* The data pipeline (DataLoader with pretrain.py's NUM_WORKERS + augmentations + masking) in
  windows/s, and its ratio to what the Stage 1 step consumes.
* Peak memory of the Stage 1 and Stage 2 steps (CUDA max allocated, or peak RSS on CPU, of a
  fresh process), and peak RSS of a fresh process that reads a fixed number of batches from
  prepared data 1x and 8x as large.
* How much CPU other processes took during each part (the machine may be shared).
* datasets.hhar.convert on a generated raw folder in HHAR's CSV layout, against plain
  pandas.read_csv of the same files (bench_convert.py).
* torch.compile (in a subprocess, skipped if it does not finish within a minute) and, on CUDA,
  AMP against fp32.
* Precision (--precision): the Stage 1 and Stage 2 steps of the default model in fp32 and in a
  lower precision (auto: bf16 on a CPU with native bf16, fp16 on CUDA; the model's forward under
  autocast, as the scripts run it), interleaved, with each precision's matmul peak and the
  evaluation embedding throughput (windows/s) in each. On a CPU without native bf16 it says so
  and reports the fp32 and emulated bf16 matmul rates instead.

Batches come from a small synthetic prepared dataset (written with PreparedWriter to a temporary
folder) read by HARData.read_batch, so every tensor has the loader's real shapes: 4 s windows at
50 Hz, 6 channels (acc + gyro), patch size 20 -> 10 patches x 6 channels = 60 tokens per window.
Stage 2 needs text embeddings: random fixed tensors of the text model's shape (384-d sentence
and token embeddings) stand in for them, so the text model is never loaded.

Layout: settings; small helpers; synthetic data; models and steps; timing and FLOPs; data
pipeline; memory; torch.compile and AMP; report; main. The conversion benchmark and its HHAR
generator are in bench_convert.py. `--child` runs one measurement in a fresh process (run_child).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent

import pretrain
import semantic_alignment_train
from bench_convert import bench_convert, convert_child
from datasets.format import PreparedDataset, PreparedWriter, triad
from datasets.loader import HARData
from losses import structured_mask
from model import EncoderConfig, MAEPretrainModel, SemanticAlignmentModel, patch_valid, token_validity
from settings import Parser, Refused, run_script
from train_common import DTYPES, autocast, cpu_has_bf16, make_optimizer, optimizer_step, setup_device, step_generator

# ------------------------------------------------------------------------ settings

WINDOW_S, RATE_HZ, PATCH_SIZE = 4.0, 50.0, 20          # 200 samples -> 10 patches
N_CHANNELS = 6                                         # acc + gyro triads: 60 tokens per window
CONFIGS = {                                            # model shapes benchmarked
    'default': dict(d_model=384, depth=6, n_heads=6, decoder_depth=2, batch=20),
    'small': dict(d_model=64, depth=4, n_heads=4, decoder_depth=1, batch=64),
}
TEXT_DIM = 384                                         # all-MiniLM-L6-v2 embedding width
TEXT_LABELS = 64                                       # about the merged label vocabulary of the 10 datasets
TEXT_TOKENS = 16                                       # tokens per label text
KINDS = ('bare', 'stage1', 'stage2')                   # training steps timed at each model shape
MEMORY_KINDS = ('stage1', 'stage2')                    # ... and measured for peak memory
SEED = 0
N_BATCHES = 4                                          # distinct batches cycled through the timed steps
CUDA_MATMUL_N = 8192                                   # matmul size for the peak on a GPU (CPU: see mode_settings)
COMPILE_BUDGET_S = 60                                  # torch.compile gets this long, else 'skipped'
CHILD_TIMEOUT_S = 300                                  # a memory-measuring child process gets this long
TARGETS = {                                            # key: (comparison, threshold)
    'stage1_vs_bare_transformer': ('>=', 0.90),
    'stage2_vs_bare_transformer': ('>=', 0.80),
    'stage1_step_peak_fraction': ('>=', 0.70),
    'pipeline_over_step_ratio': ('>=', 10.0),
    'rss_8x_over_1x': ('<=', 1.20),
    'convert_over_reader_ratio': ('<=', 1.50),
    'stage1_bf16_speedup': ('>=', 1.40),                 # where the CPU has native bf16 (else n/a)
    'stage2_bf16_speedup': ('>=', 1.30),
}


def mode_settings(quick):
    """Sizes and repeat counts of a full (default) or --quick run. rounds: per model shape,
    (warm-up steps, min rounds, max rounds, time budget s) of the interleaved step timing."""
    if quick:
        return SimpleNamespace(name='quick', rounds={'default': (1, 2, 2, 0.0), 'small': (2, 3, 5, 3.0)},
                               matmul_n=1536, synth_samples=250_000, pipe_batches=30, rss_batches=50,
                               csv_rows=200_000, convert_reps=1, profile_steps=1, compile=False,
                               memory_configs=['small'])
    return SimpleNamespace(name='full', rounds={'default': (1, 5, 30, 45.0), 'small': (2, 6, 60, 10.0)},
                           matmul_n=2048, synth_samples=2_000_000, pipe_batches=100, rss_batches=200,
                           csv_rows=1_500_000, convert_reps=5, profile_steps=2, compile=True,
                           memory_configs=list(CONFIGS))


# ------------------------------------------------------------------------ small helpers

def script_defaults(script):
    """A training script's settings (its `settings()`: the constants and their defaults) as a
    namespace, so the benchmark follows the scripts' defaults without running them."""
    return SimpleNamespace(**script.settings())


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def run_child(args, timeout, env=None):
    """Run `python bench.py --child ...` in a fresh process and parse the JSON of its last output line."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f'child {args} failed: {proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_counters():
    """Machine-wide busy and steal CPU seconds (/proc/stat) and the CPU seconds of this process
    and its finished children, with a wall-clock stamp; None off Linux."""
    try:
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    hz, t = os.sysconf('SC_CLK_TCK'), os.times()
    return {'busy': (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, 'steal': (v[7] if len(v) > 7 else 0) / hz,
            'mine': t.user + t.system + t.children_user + t.children_system, 'wall': time.perf_counter()}


def others_cpus(a, b):
    """CPUs (on average) that other processes, and the hypervisor (steal), took between two
    cpu_counters() snapshots: the load this benchmark competed with."""
    if a is None or b is None:
        return None
    dt = max(b['wall'] - a['wall'], 1e-9)
    return {'others': max(0.0, (b['busy'] - a['busy']) - (b['mine'] - a['mine'])) / dt,
            'steal': (b['steal'] - a['steal']) / dt}


def machine_info(device):
    """CPU model, cores, load, torch version and accelerator, for the report."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True, timeout=10).stdout
        model = next((l.split(':', 1)[1].strip() for l in out.splitlines() if l.startswith('Model name')), model)
    except (OSError, subprocess.SubprocessError):
        pass
    info = {'cpu_model': model, 'cpu_cores': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
            'torch': torch.__version__, 'python': platform.python_version(), 'device': str(device),
            'load_average': load_average()}
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


def load_average():
    return list(os.getloadavg()) if hasattr(os, 'getloadavg') else None


# ------------------------------------------------------------------------ synthetic data

def synthetic_recording(n, rng):
    """One recording: (n, 6) acc (m/s^2, gravity included) + gyro (rad/s), labels with runs of
    20-120 s (classes 0..5, about 10% unlabelled)."""
    t = np.arange(n) / RATE_HZ
    acc = np.array([0.0, 0.0, 9.81]) + np.sin(2 * np.pi * 1.8 * t)[:, None] * rng.uniform(0.5, 3, 3) \
        + rng.normal(0, 0.3, (n, 3))
    gyro = np.cos(2 * np.pi * 1.8 * t)[:, None] * rng.uniform(0.1, 1, 3) + rng.normal(0, 0.05, (n, 3))
    run_len = rng.integers(int(20 * RATE_HZ), int(120 * RATE_HZ), n // int(20 * RATE_HZ) + 1)
    run_label = np.where(rng.random(len(run_len)) < 0.1, -1, rng.integers(0, 6, len(run_len)))
    labels = np.repeat(run_label, run_len)[:n]
    return np.concatenate([acc, gyro], 1).astype(np.float32), labels


def write_synthetic(out_root, name, n_samples, copies=1, n_subjects=10):
    """A prepared dataset of `n_samples` * `copies` samples at 50 Hz over n_subjects * copies
    subjects (each copy repeats the same recordings under new subject names). -> its folder"""
    rng = np.random.default_rng(SEED)
    labels = [(f'activity {k}', f'synthetic activity number {k}') for k in range(6)]
    layout = triad('acc', 'm/s^2', 'waist', 'smartphone', gravity=True) + triad('gyro', 'rad/s', 'waist', 'smartphone')
    recs = [synthetic_recording(n_samples // n_subjects, rng) for _ in range(n_subjects)]
    with PreparedWriter(out_root, name, labels, [layout], {'title': 'synthetic (bench.py)'}, RATE_HZ) as w:
        for c in range(copies):
            for s, (sig, lab) in enumerate(recs):
                w.add_recording(sig, lab, subject=f'{c}-{s}', rate_hz=RATE_HZ)
    return Path(out_root) / name


def open_data(folder, labelled_only=False, hop_s=2.0):
    return HARData([PreparedDataset(folder)], WINDOW_S, RATE_HZ, hop_s, 1.0, seed=SEED, labelled_only=labelled_only)


def open_both(folder):
    """The loaders of both stages over one prepared folder: Stage 2 reads labelled windows at a 1 s hop."""
    return {'stage1': open_data(folder), 'stage2': open_data(folder, labelled_only=True, hop_s=1.0)}


def make_batches(data, batch_size, device, n=N_BATCHES):
    """n training batches from HARData.read_batch (the loader's own shapes), as tensors on device."""
    plan = data.epoch_plan('train', 0, batch_size, steps=n)
    return [{k: torch.from_numpy(v).to(device) for k, v in data.read_batch('train', idx).items()} for idx in plan]


def text_tensors(device, n_channel_texts):
    """Random fixed stand-ins for the text model's output: label token embeddings (L, N, E) with a
    padding mask, label sentence embeddings (L, E), their similarity, and the channel text table."""
    g = torch.Generator().manual_seed(SEED)
    norm = torch.nn.functional.normalize
    tok = torch.randn(TEXT_LABELS, TEXT_TOKENS, TEXT_DIM, generator=g)
    n_tok = torch.randint(3, TEXT_TOKENS + 1, (TEXT_LABELS,), generator=g)
    mask = torch.arange(TEXT_TOKENS)[None, :] < n_tok[:, None]
    sent = norm(torch.randn(TEXT_LABELS, TEXT_DIM, generator=g), dim=-1)
    table = norm(torch.randn(n_channel_texts, TEXT_DIM, generator=g), dim=-1)
    t = [tok, mask, sent, sent @ sent.T, table, torch.full((TEXT_LABELS,), -1), torch.arange(n_channel_texts)]
    return semantic_alignment_train.Texts(*(v.to(device) for v in t))


# ------------------------------------------------------------------------ models and steps
# shape: one of CONFIGS (model shape and batch size); cfg: a training script's settings.

class BareTransformer(nn.Module):
    """The baseline: torch's own pre-norm GELU transformer over (B, 60, d) token sequences."""

    def __init__(self, d, depth, heads):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation='gelu',
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)

    def forward(self, x):
        return self.encoder(x)


def encoder_config(shape):
    return EncoderConfig(shape['d_model'], shape['depth'], shape['n_heads'], PATCH_SIZE, 64, 4.0, 0.0,
                         shape['decoder_depth'], 128)


def stage1_config(shape):
    """pretrain.py's settings with this benchmark's model shape and batch size."""
    cfg = script_defaults(pretrain)
    cfg.D_MODEL, cfg.DEPTH, cfg.N_HEADS = shape['d_model'], shape['depth'], shape['n_heads']
    cfg.DECODER_DEPTH, cfg.BATCH_SIZE, cfg.PATCH_SIZE = shape['decoder_depth'], shape['batch'], PATCH_SIZE
    return cfg


def stage2_config():
    """semantic_alignment_train.py's settings; the sampling rate is Stage 1's (the script takes it
    from the Stage 1 checkpoint)."""
    cfg = script_defaults(semantic_alignment_train)
    cfg.SAMPLING_RATE_HZ = RATE_HZ
    return cfg


def stage1_parts(shape, data, device, ctx):
    """-> (model, batches, loss(fwd, batch, g)) of the Stage 1 step: pretrain.step_loss, the model
    under the autocast `ctx`."""
    cfg = stage1_config(shape)
    model = MAEPretrainModel(encoder_config(shape)).to(device)
    batches = make_batches(data['stage1'], shape['batch'], device)
    return model, batches, lambda fwd, b, g: pretrain.step_loss(fwd, b, g, cfg, ctx=ctx)[0]


def stage2_parts(shape, data, device, ctx):
    """-> (model, batches, loss(fwd, batch, g)) of the Stage 2 step: semantic_alignment_train.step_loss
    against stand-in text embeddings, the model under the autocast `ctx`."""
    cfg = stage2_config()
    model = SemanticAlignmentModel(encoder_config(shape), TEXT_DIM, cfg.NUM_PROTOTYPES, cfg.TEMPERATURE,
                                   cfg.LEARN_TEMPERATURE, cfg.MEMORY_BANK_SIZE).to(device)
    batches = make_batches(data['stage2'], shape['batch'], device)
    text = text_tensors(device, len(data['stage2'].channel_texts))
    return model, batches, lambda fwd, b, g: semantic_alignment_train.step_loss(model, fwd, b, g, cfg, text, ctx=ctx)[0]


def bare_parts(shape, data, device, ctx):
    """-> (model, batches, loss(fwd, batch, g)) of the baseline: random (B, 60, d) tokens, mean square output."""
    model = BareTransformer(shape['d_model'], shape['depth'], shape['n_heads']).to(device)
    gen = torch.Generator().manual_seed(SEED)
    n_tok = N_CHANNELS * int(WINDOW_S * RATE_HZ) // PATCH_SIZE
    batches = [torch.randn(shape['batch'], n_tok, shape['d_model'], generator=gen).to(device) for _ in range(N_BATCHES)]

    def loss(fwd, b, g):
        with ctx:
            out = fwd(b)
        return out.float().square().mean()
    return model, batches, loss


STEP_PARTS = {'stage1': stage1_parts, 'stage2': stage2_parts, 'bare': bare_parts}


def build_step(kind, shape, data, device, ctx, scaler, compile_model=False):
    """A closure running one full training step (forward, backward, clip, AdamW) of
    kind 'stage1' | 'stage2' | 'bare' at model shape `shape`. Returns (step(i), model).
    Every kind uses Stage 1's optimiser settings (learning rate, weight decay, clipping)."""
    if kind not in STEP_PARTS:
        raise ValueError(kind)
    torch.manual_seed(SEED)
    model, batches, loss_fn = STEP_PARTS[kind](shape, data, device, ctx)
    model.train()
    fwd = torch.compile(model) if compile_model else model
    cfg = stage1_config(shape)
    opt = make_optimizer(model, cfg.LEARNING_RATE, cfg.WEIGHT_DECAY)

    def step(i):
        """train_common.fit's step, minus logging."""
        g = step_generator(device, SEED, i)
        loss = loss_fn(fwd, batches[i % len(batches)], g)
        optimizer_step(model, opt, scaler, loss, cfg.GRAD_CLIP)
        return loss

    return step, model


# ------------------------------------------------------------------------ timing and FLOPs

def time_interleaved(steps, device, rounds, first, max_rounds=None, budget_s=0.0, after_round=None):
    """Time closures {name: step(i)} in rotating order, one call of each per round, step index
    first + round -> {name: [s]}. Runs `rounds` rounds, then more up to max_rounds while under
    budget_s seconds; after_round() runs after each round."""
    names, times = list(steps), {k: [] for k in steps}
    max_rounds = rounds if max_rounds is None else max_rounds
    start, r = time.perf_counter(), 0
    while r < rounds or (r < max_rounds and time.perf_counter() - start < budget_s):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            steps[name](first + r)
            sync(device)
            times[name].append(time.perf_counter() - t0)
        if after_round is not None:
            after_round()
        r += 1
    return times


def _cpu_sdpa_flop_formulas():
    """FLOP formulas for the CPU flash-attention kernels, which FlopCounterMode does not list:
    the same as for the CUDA kernels (two matmuls forward, four backward)."""
    from torch.utils import flop_counter as fc
    aten = torch.ops.aten

    def fwd(q, k, v, *args, out_shape=None, **kwargs):
        return fc.sdpa_flop_count(q, k, v)

    def bwd(grad_out, q, k, v, *args, out_shape=None, **kwargs):
        return fc.sdpa_backward_flop_count(grad_out, q, k, v)

    pairs = (('_scaled_dot_product_flash_attention_for_cpu', fwd),
             ('_scaled_dot_product_flash_attention_for_cpu_backward', bwd))
    return {getattr(aten, name): f for name, f in pairs if hasattr(aten, name)}


def count_flops(step, i):
    """FLOPs of one training step (forward and backward matmuls and attention)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False, custom_mapping=_cpu_sdpa_flop_formulas()) as counter:
        step(i)
    return counter.get_total_flops()


def matmul_step(device, dtype, n):
    """A closure timing one n x n matmul in `dtype` -> FLOP/s: the device's practical peak."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = a @ b

    def run():
        sync(device)
        t0 = time.perf_counter()
        torch.matmul(a, b, out=c)
        sync(device)
        return 2 * n ** 3 / (time.perf_counter() - t0)

    run()
    return run


def bench_config(shape, data, device, ctx, scaler, rounds, peak_dtype, matmul_n):
    """The bare, Stage 1 and Stage 2 steps at one model shape.

    Each is built and warmed up in turn (FLOPs are counted over its first step); then they are
    timed in interleaved rounds (one step of each kind, in rotating order, then one matmul), so
    that a machine shared with other work slows all of them alike. Ratios (vs bare, fraction of
    the matmul peak) are medians of per-round ratios. rounds: (warm-up steps (at least 1),
    min_rounds, max_rounds, budget_s). Returns (results per kind, the step closures)."""
    warmup, min_rounds, max_rounds, budget_s = rounds
    steps, res = {}, {}
    for kind in KINDS:
        step, model = build_step(kind, shape, data, device, ctx, scaler)
        res[kind] = {'params': sum(p.numel() for p in model.parameters()),
                     'flops_per_step': count_flops(step, 0)}          # the first (warm-up) step
        for i in range(1, warmup):
            step(i)
        steps[kind] = step
    sync(device)
    mm, mm_fps = matmul_step(device, peak_dtype, matmul_n), []
    times = time_interleaved(steps, device, min_rounds, warmup + 1, max_rounds, budget_s,
                             after_round=lambda: mm_fps.append(mm()))
    fps = {k: res[k]['flops_per_step'] / np.array(times[k]) for k in KINDS}
    for kind in KINDS:
        med = float(np.median(times[kind]))
        res[kind].update({
            'step_s': med, 'step_s_min': float(min(times[kind])), 'rounds': len(mm_fps),
            'windows_per_s': shape['batch'] / med, 'flop_per_s': res[kind]['flops_per_step'] / med,
            'step_peak_fraction': float(np.median(fps[kind] / np.array(mm_fps))),
            'vs_bare': float(np.median(fps[kind] / fps['bare'])),
            'matmul_peak_flop_per_s': float(np.median(mm_fps))})
    return res, steps


def profile_step(step, device, n_steps, first=1000, row_limit=15):
    """Top ops by self CPU time (torch.profiler) over n_steps of an already warmed-up step."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    with profile(activities=acts) as prof:
        for i in range(n_steps):
            step(first + i)
        sync(device)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:row_limit]
    return [{'op': e.key, 'self_cpu_ms_per_step': e.self_cpu_time_total / 1e3 / n_steps,
             'self_cpu_pct': 100 * e.self_cpu_time_total / total, 'calls_per_step': e.count / n_steps} for e in top]


def profile_stages(steps, device, n_steps):
    """profile_step of the Stage 1 and Stage 2 steps -> {kind: top ops}."""
    return {k: profile_step(steps[k], device, n_steps) for k in ('stage1', 'stage2')}


# ------------------------------------------------------------------------ data pipeline

def bench_pipeline(data, shape, device, n_batches, num_workers):
    """Windows/s of the Stage 1 input path: DataLoader (num_workers workers) -> device ->
    pretrain.make_views + token validity + structured_mask. The first batch (worker start-up)
    is timed separately."""
    cfg = stage1_config(shape)
    loader = data.loader('train', 0, shape['batch'], num_workers=num_workers, steps=n_batches + 1,
                         pin_memory=device.type == 'cuda')
    t_start = time.perf_counter()
    n_windows, t_first = 0, None
    for i, batch in enumerate(loader):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        g = step_generator(device, SEED, i)
        pretrain.make_views(batch, g, cfg)
        P = batch['x'].shape[1] // PATCH_SIZE
        valid = token_validity(batch['channel_mask'], patch_valid(batch['length'], P, PATCH_SIZE))
        structured_mask(valid, g, cfg.MASK_RATIO, cfg.SPAN_MASK_RATIO, cfg.CHANNEL_DROP_RATIO)
        sync(device)
        if t_first is None:
            t_first = time.perf_counter()
        else:
            n_windows += len(batch['label'])
    elapsed = time.perf_counter() - t_first
    return {'windows_per_s': n_windows / elapsed, 'batches': n_batches, 'num_workers': num_workers,
            'startup_s': t_first - t_start}


# ------------------------------------------------------------------------ memory
# memory_now / reset_peak / peak_memory(device): MB of CUDA allocations on a GPU, else of this
# process's RSS. child_peak runs one measurement in a fresh process (mem_child, rss_child).

def proc_status_kb(field):
    """A memory field of /proc/self/status in kB (VmRSS, VmHWM, RssFile, RssAnon), or None off Linux."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def memory_now(device):
    """MB in use now: CUDA allocated, or this process's RSS."""
    return torch.cuda.memory_allocated() / 2 ** 20 if device.type == 'cuda' else proc_status_kb('VmRSS') / 1024


def reset_peak(device):
    """Start a new peak: CUDA's peak statistics, or (Linux) this process's VmHWM via clear_refs."""
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def peak_memory(device):
    """MB: CUDA max allocated, or peak RSS (VmHWM, else getrusage), since reset_peak or the start."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated() / 2 ** 20
    kb = proc_status_kb('VmHWM')
    if kb is None:
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def child_peak(child, **opts):
    """Run `bench.py --child <child> --<opt> <value> ...` in a fresh process -> its JSON (MB figures)."""
    return run_child(['--child', child, *(a for k, v in opts.items() for a in (f'--{k}', str(v)))],
                     timeout=CHILD_TIMEOUT_S)


def mem_child(folder, kind, config, n_steps=2):
    """(Run in a fresh process.) Peak memory of a process that builds one kind of step and runs
    n_steps of it (the second step is the first with optimizer state): CUDA max allocated, or
    peak RSS; printed in MB as JSON, with the figure before the first step."""
    device, _, _, ctx, scaler = setup_device(SEED, precision='fp16' if torch.cuda.is_available() else 'fp32',
                                             log=lambda *_: None)
    step, _ = build_step(kind, CONFIGS[config], open_both(folder), device, ctx, scaler)
    before = memory_now(device)
    reset_peak(device)
    for i in range(n_steps):
        step(i)
    sync(device)
    print(json.dumps({'peak_mb': peak_memory(device), 'before_steps_mb': before}))


def rss_child(folder, batch_size, n_batches):
    """(Run in a fresh process.) Open prepared data, build HARData, read n_batches batches of a
    training epoch through the loader; print RSS after imports, peak RSS, and the file-backed
    (memory-mapped signals) and anonymous parts of RSS at the end, in MB, as JSON."""
    cpu = torch.device('cpu')
    base = memory_now(cpu)
    data = open_data(folder)
    for i, batch in enumerate(data.loader('train', 0, batch_size, num_workers=0)):
        if i + 1 >= n_batches:
            break
    print(json.dumps({'rss_after_imports_mb': base, 'peak_rss_mb': peak_memory(cpu),
                      'rss_file_end_mb': (proc_status_kb('RssFile') or 0) / 1024,
                      'rss_anon_end_mb': (proc_status_kb('RssAnon') or 0) / 1024,
                      'windows': int(len(data.windows['train'])), 'batches': n_batches}))


def bench_memory(folder, configs):
    """Peak memory of the Stage 1 and Stage 2 steps at each config, each in a fresh process."""
    return {c: {k: child_peak('mem', data=folder, kind=k, config=c) for k in MEMORY_KINDS} for c in configs}


def bench_rss(folders, batch_size, n_batches):
    """Peak RSS of a fresh process reading n_batches from each prepared folder (1x, 8x)."""
    out = {}
    for tag, folder in folders.items():
        out[tag] = child_peak('rss', data=folder, batch=batch_size, batches=n_batches)
        out[tag]['data_mb'] = os.path.getsize(Path(folder) / 'signals.bin') / 2 ** 20
    return out


# ------------------------------------------------------------------------ torch.compile and AMP

def compile_child(folder, config, rounds=3):
    """(Run in a fresh process.) The Stage 1 step at `config`, eager and with torch.compile(model)
    as fit does with COMPILE=True: print the compile time (first compiled step) and the median
    eager and compiled step times (interleaved rounds) as JSON. Stops after compiling if that
    took over COMPILE_BUDGET_S."""
    device, _, _, ctx, scaler = setup_device(SEED, precision='fp16' if torch.cuda.is_available() else 'fp32',
                                             log=lambda *_: None)
    data = {'stage1': open_data(folder)}
    eager, _ = build_step('stage1', CONFIGS[config], data, device, ctx, scaler)
    compiled, _ = build_step('stage1', CONFIGS[config], data, device, ctx, scaler, compile_model=True)
    t0 = time.perf_counter()
    compiled(0)
    sync(device)
    out = {'compile_s': time.perf_counter() - t0}
    if out['compile_s'] <= COMPILE_BUDGET_S:
        eager(0)
        compiled(1)                                              # a second compiled step may still recompile
        times = time_interleaved({'eager': eager, 'compiled': compiled}, device, rounds, first=2)
        out.update(eager_step_s=float(np.median(times['eager'])), compiled_step_s=float(np.median(times['compiled'])))
    print(json.dumps(out))


def bench_compile(folder, config, eager_step_s, cache_dir):
    """Speed-up of torch.compile on the Stage 1 step (in a subprocess), or why it was skipped.
    Compiles cold: the compiler caches start empty in cache_dir, as on a first training run."""
    timeout = COMPILE_BUDGET_S + 30 + 8 * eager_step_s       # + start-up, + 2 warm-up and 3 rounds of 2 steps
    env = {'TORCHINDUCTOR_CACHE_DIR': str(Path(cache_dir) / 'inductor'), 'TRITON_CACHE_DIR': str(Path(cache_dir) / 'triton')}
    try:
        r = run_child(['--child', 'compile', '--data', str(folder), '--config', config], timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {'status': f'skipped: compiling did not finish within {COMPILE_BUDGET_S} s on this machine'}
    except RuntimeError as e:
        return {'status': f'skipped: torch.compile failed ({str(e).strip().splitlines()[-1][:200]})'}
    if r['compile_s'] > COMPILE_BUDGET_S:
        return {'status': f'skipped: compiling took {r["compile_s"]:.0f} s (> {COMPILE_BUDGET_S} s)', **r}
    return {'status': 'measured', **r, 'speedup': r['eager_step_s'] / r['compiled_step_s']}


def low_precision(device, requested):
    """The precision compared with fp32: --precision as given, or 'auto': fp16 on CUDA, bf16 on a
    CPU with native bf16. -> (precision or None, why)"""
    if requested == 'none':
        return None, 'not asked (--precision none)'
    if requested == 'auto':
        if device.type == 'cuda':
            return 'fp16', 'auto: CUDA'
        if not cpu_has_bf16():
            return None, 'this CPU has no native bf16 (avx512_bf16 / amx_bf16): bf16 would be emulated'
        return 'bf16', 'auto: this CPU has native bf16'
    return requested, f'--precision {requested}'


def bench_precision(shape, data, device, requested, rounds, matmul_n):
    """fp32 against a lower precision (low_precision) at one model shape: the Stage 1 and Stage 2
    training steps in interleaved rounds, each precision's matmul peak timed after every round,
    and the evaluation path (model_loading.embed_batch of a Stage 2 model, batches of 256) in
    windows/s. Where there is no lower precision, the matmul rates of fp32 and emulated bf16
    (n = 256) say why."""
    low, why = low_precision(device, requested)
    if low is None:
        rate = {p: float(np.median([matmul_step(device, dt, 256)() for _ in range(3)]))
                for p, dt in (('fp32', torch.float32), ('bf16', torch.bfloat16))}
        return {'status': f'n/a: {why}', 'matmul_256_flop_per_s': rate}
    steps, flops = {}, {}
    for kind in ('stage1', 'stage2'):
        for p in ('fp32', low):
            step, _ = build_step(kind, shape, data, device, autocast(device, p),
                                 torch.amp.GradScaler('cuda', enabled=p == 'fp16'))
            flops[kind] = count_flops(step, 0)
            steps[f'{kind} {p}'] = step
    peak = {p: matmul_step(device, dt, matmul_n) for p, dt in (('fp32', torch.float32), (low, DTYPES[low]))}
    peaks = {p: [] for p in peak}
    times = time_interleaved(steps, device, rounds[1], rounds[0] + 1, rounds[2], rounds[3],
                             after_round=lambda: [peaks[p].append(run()) for p, run in peak.items()])
    med = {k: float(np.median(v)) for k, v in times.items()}
    out = {'status': f'measured ({why})', 'precision': low, 'rounds': len(peaks['fp32']),
           'matmul_peak_flop_per_s': {p: float(np.median(v)) for p, v in peaks.items()}}
    for kind in ('stage1', 'stage2'):
        out[kind] = {'fp32_step_s': med[f'{kind} fp32'], f'{low}_step_s': med[f'{kind} {low}'],
                     'speedup': med[f'{kind} fp32'] / med[f'{kind} {low}'],
                     f'{low}_peak_fraction': flops[kind] / med[f'{kind} {low}'] / out['matmul_peak_flop_per_s'][low]}
    out['embed'] = bench_embed(shape, data, device, low, rounds)
    return out


def bench_embed(shape, data, device, low, rounds, batch_size=256):
    """Windows/s of model_loading.embed_batch (a Stage 2 model, eval, no gradient) in fp32 and `low`."""
    from model_loading import embed_batch
    torch.manual_seed(SEED)
    model = SemanticAlignmentModel(encoder_config(shape), TEXT_DIM).to(device).eval()
    batches = make_batches(data['stage2'], batch_size, device, n=2)
    table = text_tensors(device, len(data['stage2'].channel_texts)).channel_table

    def embedder(p):
        ctx = autocast(device, p)

        @torch.no_grad()
        def run(i):
            return embed_batch(model, batches[i % len(batches)], table, ctx=ctx)
        run(0)
        return run
    times = time_interleaved({p: embedder(p) for p in ('fp32', low)}, device, rounds[1], 1, rounds[2], rounds[3])
    ws = {p: batch_size / float(np.median(t)) for p, t in times.items()}
    return {'fp32_windows_per_s': ws['fp32'], f'{low}_windows_per_s': ws[low], 'speedup': ws[low] / ws['fp32']}


def bench_amp(amp_step, shape, data, device, rounds):
    """On CUDA: the Stage 1 step in plain fp32 (no autocast, no loss scaling) against AMP FP16."""
    if device.type != 'cuda':
        return {'status': 'n/a on CPU (training runs fp32 there)'}
    fp32, _ = build_step('stage1', shape, data, device, nullcontext(), torch.amp.GradScaler('cuda', enabled=False))
    fp32(0)
    times = time_interleaved({'fp32': fp32, 'amp': amp_step}, device, rounds, first=2000)
    f, a = float(np.median(times['fp32'])), float(np.median(times['amp']))
    return {'status': 'measured', 'fp32_step_s': f, 'amp_step_s': a, 'speedup': f / a}


# ------------------------------------------------------------------------ report

def flat_figures(R):
    """The flat JSON keys (the required ones first), from the nested results R."""
    d, rss, conv = R['steps']['default'], R['rss'], R['convert']
    out = {
        'stage1_step_peak_fraction': d['stage1']['step_peak_fraction'],
        'stage1_vs_bare_transformer': d['stage1']['vs_bare'],
        'stage2_vs_bare_transformer': d['stage2']['vs_bare'],
        'pipeline_over_step_ratio': R['pipeline']['windows_per_s'] / d['stage1']['windows_per_s'],
        'rss_8x_over_1x': rss['8x']['peak_rss_mb'] / rss['1x']['peak_rss_mb'],
        'convert_over_reader_ratio': conv.get('convert_over_reader_ratio'),
        'matmul_peak_flop_per_s': d['bare']['matmul_peak_flop_per_s'],
        'pipeline_windows_per_s': R['pipeline']['windows_per_s'],
        'rss_1x_mb': rss['1x']['peak_rss_mb'], 'rss_8x_mb': rss['8x']['peak_rss_mb'],
        'rss_growth_8x_over_1x': ((rss['8x']['peak_rss_mb'] - rss['8x']['rss_after_imports_mb'])
                                  / (rss['1x']['peak_rss_mb'] - rss['1x']['rss_after_imports_mb'])),
        'rss_file_8x_over_1x': rss['8x']['rss_file_end_mb'] / max(rss['1x']['rss_file_end_mb'], 1e-9),
        'rss_anon_8x_over_1x': rss['8x']['rss_anon_end_mb'] / max(rss['1x']['rss_anon_end_mb'], 1e-9),
        'convert_over_reader_ratio_cpu': conv.get('convert_over_reader_ratio_cpu'),
        'convert_mb_per_s': conv.get('convert_mb_per_s'),
        'reader_mb_per_s': conv.get('reader_mb_per_s'),
        'compile_speedup_stage1': R['compile'].get('speedup'),
        'amp_speedup_stage1': R['amp'].get('speedup'),
    }
    prec = R['precision']
    low = prec.get('precision', 'bf16')                               # the keys name bf16 where it was not measured
    out[f'stage1_{low}_speedup'] = prec.get('stage1', {}).get('speedup')
    out[f'stage2_{low}_speedup'] = prec.get('stage2', {}).get('speedup')
    out[f'stage1_{low}_peak_fraction'] = prec.get('stage1', {}).get(f'{low}_peak_fraction')
    out[f'embed_{low}_speedup'] = prec.get('embed', {}).get('speedup')
    for cname, res in R['steps'].items():
        prefix = '' if cname == 'default' else f'{cname}_'
        for kind, r in res.items():
            for k in ('step_s', 'windows_per_s', 'flops_per_step', 'flop_per_s', 'step_peak_fraction'):
                out[f'{prefix}{kind}_{k}'] = r[k]
            mem = R['memory'].get(cname, {}).get(kind)
            out[f'{prefix}{kind}_peak_mem_mb'] = mem['peak_mb'] if mem else None
            if kind != 'bare':
                out[f'{prefix}{kind}_vs_bare_transformer'] = r['vs_bare']
    return out


def target_status(flat):
    """{key: (value, 'met' | 'NOT met' | 'n/a', target text)} for the targets."""
    out = {}
    for key, (op, thr) in TARGETS.items():
        v = flat.get(key)
        ok = None if v is None else (v >= thr if op == '>=' else v <= thr)
        out[key] = (v, 'n/a' if ok is None else 'met' if ok else 'NOT met', f'{op} {thr:g}')
    return out


def fmt(v, unit=''):
    if v is None:
        return 'n/a'
    if isinstance(v, float):
        if abs(v) >= 1e9:
            return f'{v / 1e9:.1f} G{unit}'
        if abs(v) >= 100:
            return f'{v:.0f}{unit}'
        return f'{v:.3g}{unit}'
    return f'{v}{unit}'


def print_steps(R):
    """The step table: per model shape and kind, time, throughput, FLOPs, ratios and peak memory."""
    mem_kind = 'CUDA max allocated' if R['machine']['device'].startswith('cuda') else 'peak RSS'
    print(f"\n{'config':<8} {'step':<7} {'step ms':>9} {'windows/s':>10} {'GFLOP/step':>11} {'GFLOP/s':>8} "
          f"{'of peak':>8} {'vs bare':>8} {'peak MB':>8}")
    for cname, res in R['steps'].items():
        for kind, r in res.items():
            mem = R['memory'].get(cname, {}).get(kind)
            print(f"{cname:<8} {kind:<7} {1e3 * r['step_s']:>9.1f} {r['windows_per_s']:>10.1f} "
                  f"{r['flops_per_step'] / 1e9:>11.2f} {r['flop_per_s'] / 1e9:>8.1f} {r['step_peak_fraction']:>8.3f} "
                  f"{r['vs_bare']:>8.3f} {fmt(mem and mem['peak_mb']):>8}")
        print(f"{cname:<8} matmul peak {R['peak_dtype']} n={R['matmul_n']}: "
              f"{res['bare']['matmul_peak_flop_per_s'] / 1e9:.1f} GFLOP/s; {res['bare']['rounds']} interleaved rounds")
    print(f"(peak MB: {mem_kind} of a fresh process that builds that step and runs two of them; "
          f"vs bare and of peak: medians of per-round ratios)")


def print_sections(R, flat):
    """One or two lines each: pipeline, memory vs data size, conversion, torch.compile, AMP."""
    p, c = R['pipeline'], R['convert']
    print(f"\npipeline: {p['windows_per_s']:.0f} windows/s ({p['num_workers']} workers, start-up {p['startup_s']:.2f} s)"
          f" = {flat['pipeline_over_step_ratio']:.1f}x the Stage 1 step's {R['steps']['default']['stage1']['windows_per_s']:.1f}")
    for tag, r in R['rss'].items():
        print(f"memory {tag}: data {r['data_mb']:.0f} MB, {r['windows']} windows, {r['batches']} batches read: "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (after imports {r['rss_after_imports_mb']:.0f}; at the end "
              f"file-backed {r['rss_file_end_mb']:.0f}, anonymous {r['rss_anon_end_mb']:.0f})")
    if c.get('available'):
        print(f"convert: {c['raw_mb']:.0f} MB raw CSV: hhar.convert {c['convert_s']:.2f} s ({c['convert_mb_per_s']:.1f} MB/s), "
              f"pandas.read_csv {c['reader_s']:.2f} s ({c['reader_mb_per_s']:.1f} MB/s); in CPU time "
              f"{c['convert_cpu_s']:.2f} / {c['reader_cpu_s']:.2f} s = {c['convert_over_reader_ratio_cpu']:.2f}")
    else:
        print(f"convert: not available ({c.get('reason')})")
    cp = R['compile']
    print(f"torch.compile (stage 1, default): {cp['status']}"
          + (f"; compile {cp['compile_s']:.0f} s, step {1e3 * cp['eager_step_s']:.0f} -> {1e3 * cp['compiled_step_s']:.0f} ms, "
             f"speed-up {cp['speedup']:.2f}x" if 'speedup' in cp else ''))
    print(f"AMP (stage 1, default): {R['amp']['status']}"
          + (f"; speed-up over fp32 {R['amp']['speedup']:.2f}x" if 'speedup' in R['amp'] else ''))
    pr = R['precision']
    print(f"precision (default shape): {pr['status']}")
    if 'matmul_256_flop_per_s' in pr:
        print('  matmul n=256: ' + ', '.join(f'{k} {v / 1e9:.2f} GFLOP/s' for k, v in pr['matmul_256_flop_per_s'].items()))
    else:
        low = pr['precision']
        for kind in ('stage1', 'stage2'):
            r = pr[kind]
            print(f"  {kind}: fp32 {1e3 * r['fp32_step_s']:.0f} ms, {low} {1e3 * r[f'{low}_step_s']:.0f} ms per step: "
                  f"{r['speedup']:.2f}x; {low} at {r[f'{low}_peak_fraction']:.2f} of the {low} matmul peak")
        e = pr['embed']
        print(f"  evaluation embedding: fp32 {e['fp32_windows_per_s']:.0f}, {low} {e[f'{low}_windows_per_s']:.0f} "
              f"windows/s: {e['speedup']:.2f}x")


def print_profiles(R):
    for kind, rows in R.get('profile', {}).items():
        print(f"\nprofile {kind} (default config), top ops by self CPU time:")
        for r in rows:
            print(f"  {r['op'][:56]:<56} {r['self_cpu_ms_per_step']:>8.1f} ms/step {r['self_cpu_pct']:>5.1f}% "
                  f"{r['calls_per_step']:>6.0f} calls/step")


def print_targets_and_load(R, flat):
    """The targets table, then how much CPU other processes took per section."""
    print(f"\n{'target':<30} {'value':>10} {'target':>8}  status")
    for key, (v, status, text) in target_status(flat).items():
        print(f"{key:<30} {fmt(v):>10} {text:>8}  {status}")
    busy = {k: v['others'] + v['steal'] for k, v in R['section_others'].items() if v}
    cores = R['machine']['cpu_cores']
    if busy:
        print('\nother processes (and hypervisor steal) took, in CPUs on average: '
              + ', '.join(f'{k} {v:.2f}' for k, v in busy.items()))
        if max(busy.values()) > 0.2 * cores:
            print(f"note: the machine was shared (up to {max(busy.values()):.1f} of {cores} CPUs taken by "
                  f"others): CPU step times, fractions of peak and ratios of those sections are pessimistic.")


def print_report(R, flat):
    """The printed report: machine, step table, the other sections, profiles, targets, load."""
    m = R['machine']
    print(f"\n== bench.py ({R['mode']})  device {m['device']}  cpu {m['cpu_model']} ({m['cpu_cores']} cores)  "
          f"torch {m['torch']}  load average {m['load_average']} -> {m.get('load_average_end')}")
    print_steps(R)
    print_sections(R, flat)
    print_profiles(R)
    print_targets_and_load(R, flat)


def write_json(path, R, flat):
    """The flat figures, the targets' status and the nested details R, as JSON."""
    targets = {k: {'value': v, 'status': s, 'target': t} for k, (v, s, t) in target_status(flat).items()}
    with open(path, 'w') as f:
        json.dump({**flat, 'targets': targets, 'details': R}, f, indent=1, default=str)
    print(f'wrote {path}')


# ------------------------------------------------------------------------ main

def section(R, name, fn, *args):
    """fn(*args), announced; its wall time and the CPUs other processes took meanwhile go into R."""
    print(f'{name} ...', flush=True)
    t, c = time.perf_counter(), cpu_counters()
    out = fn(*args)
    R['section_s'][name] = time.perf_counter() - t
    R['section_others'][name] = others_cpus(c, cpu_counters())
    return out


def measure(R, mode, tmp, device, ctx, scaler):
    """Every section of the benchmark, on synthetic prepared data written to tmp; results into R."""
    print(f'writing synthetic prepared data to {tmp} ...', flush=True)
    folder_1x = write_synthetic(tmp / '1x', 'synth', mode.synth_samples)
    folder_8x = write_synthetic(tmp / '8x', 'synth', mode.synth_samples, copies=8)
    data = open_both(folder_1x)
    R['steps'], R['section_s'], R['section_others'] = {}, {}, {}
    for cname, shape in CONFIGS.items():
        R['steps'][cname], steps = section(R, f'steps {cname}', bench_config, shape, data, device, ctx, scaler,
                                           mode.rounds[cname], getattr(torch, R['peak_dtype']), R['matmul_n'])
        if cname == 'default':
            R['profile'] = section(R, 'profile', profile_stages, steps, device, mode.profile_steps)
            R['amp'] = section(R, 'AMP', bench_amp, steps['stage1'], shape, data, device, mode.rounds[cname][1])
            del steps
            R['precision'] = section(R, 'precision', bench_precision, shape, data, device, mode.precision,
                                     mode.rounds[cname], R['matmul_n'])
        else:
            del steps
    R['memory'] = section(R, 'memory', bench_memory, folder_1x, mode.memory_configs)
    R['pipeline'] = section(R, 'pipeline', bench_pipeline, data['stage1'], CONFIGS['default'], device,
                            mode.pipe_batches, script_defaults(pretrain).NUM_WORKERS)
    R['rss'] = section(R, 'rss', bench_rss, {'1x': folder_1x, '8x': folder_8x},
                       CONFIGS['default']['batch'], mode.rss_batches)
    R['convert'] = section(R, 'convert', bench_convert, tmp, mode.csv_rows, mode.convert_reps, run_child)
    R['compile'] = section(R, 'compile', bench_compile, folder_1x, 'default',
                           R['steps']['default']['stage1']['step_s'], tmp / 'compile_cache') if mode.compile else \
        {'status': 'skipped (--quick)'}


def run(mode, json_path=None):
    """The whole benchmark: print the table, write JSON, return the flat figures."""
    device, _, _, ctx, scaler = setup_device(SEED, precision='fp16' if torch.cuda.is_available() else 'fp32',
                                             log=lambda *_: None)
    R = {'machine': machine_info(device), 'mode': mode.name}
    R['peak_dtype'] = 'float16' if device.type == 'cuda' else 'float32'
    R['matmul_n'] = mode.matmul_n if device.type == 'cpu' else CUDA_MATMUL_N
    tmp = Path(tempfile.mkdtemp(prefix='imu_bench_'))
    t0 = time.perf_counter()
    try:
        measure(R, mode, tmp, device, ctx, scaler)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    R['machine']['load_average_end'] = load_average()
    R['total_s'] = time.perf_counter() - t0
    flat = flat_figures(R)
    print_report(R, flat)
    print(f"\ntotal {R['total_s']:.0f} s (" + ', '.join(f'{k} {v:.0f} s' for k, v in R['section_s'].items()) + ')')
    if json_path:
        write_json(json_path, R, flat)
    return flat


def main(argv=None):
    ap = Parser(prog='bench.py', description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='smoke run (~1 min): fewer steps, smaller files, no compile')
    ap.add_argument('--json', metavar='PATH', help='write the figures (flat keys) and details as JSON')
    ap.add_argument('--precision', default='auto', choices=['auto', 'bf16', 'fp16', 'none'],
                    help="the lower precision timed against fp32: 'auto' (fp16 on CUDA, bf16 on a CPU with native "
                    "bf16, none elsewhere), bf16, fp16 or none")
    ap.add_argument('--child', choices=['rss', 'mem', 'convert', 'compile'], help=argparse.SUPPRESS)
    ap.add_argument('--kind', choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument('--data', help=argparse.SUPPRESS)
    ap.add_argument('--batch', type=int, default=20, help=argparse.SUPPRESS)
    ap.add_argument('--batches', type=int, default=100, help=argparse.SUPPRESS)
    ap.add_argument('--reps', type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument('--config', default='default', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise Refused(f'--json {args.json}: the folder {Path(args.json).resolve().parent} does not exist')
    if args.child == 'rss':
        return rss_child(args.data, args.batch, args.batches)
    if args.child == 'mem':
        return mem_child(args.data, args.kind, args.config)
    if args.child == 'convert':
        return convert_child(args.data, args.reps)
    if args.child == 'compile':
        return compile_child(args.data, args.config)
    mode = mode_settings(args.quick)
    mode.precision = args.precision
    return run(mode, args.json)


if __name__ == '__main__':
    run_script(main)
