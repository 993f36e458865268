"""The naive reference our pipeline must beat: a supervised 3-layer 1-D CNN trained to match
frozen text embeddings of the label names, then used zero-shot on an unseen dataset.

    python baseline.py --train hapt --eval spsw --eval_layout 0            # with SO(3) rotation
    python baseline.py --train hapt --eval spsw --eval_layout 0 --rotation none
    python baseline.py --train hapt --eval spsw --eval_layout 0 --seeds 0,1,2,3,4   # mean and spread
    python baseline.py --train hapt --eval hapt --rotation none   # in-domain: HAPT's held-out subjects

Recipe (the issue's reference): 10 Hz, 2.5 s windows, all training classes, 12 epochs, Adam,
cross-entropy over cosine(IMU, label text) / 0.1; random SO(3) rotation of each device's triads
as augmentation unless --rotation none. Zero-shot: argmax cosine against the eval dataset's
label names (those of the labels its evaluated windows have). Writes a JSON with accuracy and macro-F1; with several --seeds, one result per
seed (each seed draws its own initialisation, training subjects, batch order and rotations)
and their mean and standard deviation, because one seed of this recipe moves macro-F1 by
several points.

An --eval dataset that is also in --train is scored on its held-out test subjects only,
against its own label names, and labelled "seen" (not zero-shot): an in-domain check of
what the recipe can learn at all, e.g. the direction of postural transitions, whose per-class
recall the JSON lists. --input_frame gravity turns every device into its gravity-aligned
frame first (augmentations.gravity_frame), for use with --rotation gravity; --input_frame
invariant gives orientation-invariant channels (augmentations.invariant_frame), with --rotation none;
--input_frame hybrid gives both side by side: the recorded channels, rotated as --rotation says,
and their invariant copies (twice the CNN's input channels).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import augmentations as A
from datasets.loader import HARData, Win, open_datasets
from metrics import classification_metrics
from evaluate import conditions_option
from settings import Parser, Refused, count, interval, option, option_list, positive, run_script
from text_encoder import TextEmbedder


class CNN(nn.Module):
    """(B, T, C) -> (B, E) L2-normalised; padded channels are zero (acc/gyro only, C fixed)."""

    def __init__(self, channels, out_dim, width=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU())
        self.out = nn.Linear(width, out_dim)

    def forward(self, x, length):
        h = self.net(x.transpose(1, 2))                                 # (B, W, T)
        valid = (torch.arange(x.shape[1])[None, :] < length[:, None]).float()[:, None, :]
        pooled = (h * valid).sum(-1) / valid.sum(-1).clamp(min=1)
        return F.normalize(self.out(pooled), dim=-1)


def main(argv=None):
    ap = Parser(prog='baseline.py', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--train', default='hapt', help='comma-separated training datasets')
    ap.add_argument('--eval', default='spsw', help='unseen evaluation dataset')
    ap.add_argument('--eval_layout', type=option(count(0), int), help='only this channel layout of the eval dataset')
    ap.add_argument('--data_root', default='data/prepared')
    ap.add_argument('--rotation', default='so3', choices=['so3', 'gravity', 'none'])
    ap.add_argument('--input_frame', default='device', choices=list(A.INPUT_FRAMES),
                    help="'gravity': rotate each device's triads into a gravity-aligned frame first; "
                    "'invariant': orientation-invariant channels (use with --rotation none); "
                    "'hybrid': the recorded channels and their invariant copies")
    ap.add_argument('--epochs', type=option(count(1), int), default=12)
    ap.add_argument('--rate', type=option(positive()), default=10.0)
    ap.add_argument('--window', type=option(positive()), default=2.5)
    ap.add_argument('--min_window_s', type=option(positive()), help='shortest evaluation window (default: half a window); '
                    '0.4 scores the windows evaluate.py scores by default')
    ap.add_argument('--tta_rotations', type=option(count(1), int), default=1, metavar='N', help='also score with test-time rotation '
                    'averaging over N views (as recorded and N-1 fixed rotations of --rotation), reported beside '
                    'the plain figures; default 1 (off)')
    ap.add_argument('--time_reversal', type=option(interval(0, 1)), default=0.0, metavar='P', help='play each training window of a '
                    'class with a time-reversed partner (stand to sit <-> sit to stand) backwards with probability P, '
                    'labelled as the partner (augmentations.time_reverse); default 0 (off)')
    ap.add_argument('--conditions', type=conditions_option, default=[], metavar='all|NAMES',
                    help='also score the evaluation data as recorded other ways (evaluate.py --conditions); a '
                    "rate at or above --rate does not apply")
    ap.add_argument('--seeds', default=[0], type=option_list(count(0)),
                    help='comma-separated seeds; several: report each and their mean')
    ap.add_argument('--out', help='write results JSON here')
    args = ap.parse_args(argv)
    try:
        A.check_frame_rotation(args.input_frame, args.rotation)
    except ValueError as e:
        ap.error(str(e))
    try:
        A.check_rotation_views(args.tta_rotations, args.rotation, '--tta_rotations and --rotation')
    except ValueError as e:
        ap.error(str(e))
    seeds = args.seeds
    runs = [run_once(args, seed) for seed in seeds]
    res = runs[0] if len(runs) == 1 else summarise(runs)
    if len(runs) > 1:
        print(f'baseline CNN over seeds {seeds}: accuracy {res["accuracy"]:.3f} +- {res["accuracy_sd"]:.3f}, '
              f'macro-F1 {res["macro_f1"]:.3f} +- {res["macro_f1_sd"]:.3f} (mean +- sd)')
        if 'tta_macro_f1' in res:
            print(f'  with test-time rotation averaging: accuracy {res["tta_accuracy"]:.3f} +- '
                  f'{res["tta_accuracy_sd"]:.3f}, macro-F1 {res["tta_macro_f1"]:.3f} +- {res["tta_macro_f1_sd"]:.3f}')
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


def summarise(runs):
    """Per-seed results -> their mean and (sample) standard deviation, plus every run."""
    out = {'recipe': {k: v for k, v in runs[0]['recipe'].items() if k != 'seed'}, 'seeds': [r['recipe']['seed'] for r in runs],
           'protocol': runs[0]['protocol'],
           'n_windows': runs[0]['n_windows'], 'labels': runs[0]['labels'], 'runs': runs}
    for key in ('accuracy', 'macro_f1'):
        v = np.array([r[key] for r in runs])
        out[key], out[key + '_sd'] = float(v.mean()), float(v.std(ddof=1))
        if 'tta' in runs[0]:
            v = np.array([r['tta'][key] for r in runs])
            out['tta_' + key], out['tta_' + key + '_sd'] = float(v.mean()), float(v.std(ddof=1))
    if 'conditions' in runs[0]:                 # each condition's zero-shot macro-F1, mean and sd over seeds
        out['conditions'] = {}
        for name, row in runs[0]['conditions'].items():
            v = np.array([r['conditions'][name].get('zero_shot_f1', np.nan) for r in runs])
            out['conditions'][name] = ({'applies': False} if not row['applies'] else
                                       {'applies': True, 'zero_shot_f1': float(v.mean()),
                                        'zero_shot_f1_sd': float(v.std(ddof=1))})
    return out


def run_once(args, seed):
    """Train the CNN with one seed and score it zero-shot -> result dict."""
    torch.manual_seed(seed)
    t0 = time.time()
    train = HARData(open_datasets(args.train.split(','), args.data_root), args.window, args.rate,
                    hop_s=args.window / 2, seed=seed, labelled_only=True)
    ev_ds = open_datasets([args.eval], args.data_root)
    name = ev_ds[0].name
    seen = name in train.split_subjects['train']                        # in-domain: held-out subjects only
    test = ([ev_ds[0].subjects.index(s) for s in train.split_subjects['test'][name]] if seen
            else list(range(len(ev_ds[0].subjects))))
    if not test:
        raise Refused(f'--eval {name} is a training dataset with no held-out test subjects')
    ev = HARData(ev_ds, args.window, args.rate, hop_s=args.window,
                 min_window_s=args.window / 2 if args.min_window_s is None else args.min_window_s, labelled_only=True,
                 subjects_override={name: {'train': [], 'val': [], 'test': test}})
    if args.eval_layout is not None:
        ev.windows['test'] = ev.windows['test'][ev.windows['test'][:, Win.LAYOUT] == args.eval_layout]
    text = TextEmbedder()
    label_emb = text.sentences(train.label_names)                       # (L, E) frozen
    eval_emb = text.sentences(ev.label_names)
    present = np.isin(np.arange(len(ev.label_names)), ev.windows['test'][:, Win.LABEL])
    eval_emb[~torch.from_numpy(present)] = float('nan')                 # only the evaluated windows' labels compete
    n_ch = max(d.meta['n_channels'] for d in train.datasets + ev.datasets)
    halves = 2 if args.input_frame == 'hybrid' else 1                   # hybrid: recorded + invariant channels
    model = CNN(halves * n_ch, label_emb.shape[1])

    def pad(x):                                                         # each half to n_ch channels
        return torch.cat([F.pad(h, (0, n_ch - h.shape[2])) for h in x.chunk(halves, 2)], 2)

    def frame(b):
        return A.input_frame(b['x'], b['length'], b['triads'], args.input_frame, args.rate)

    train_cnn(model, train, label_emb, frame, pad, args, seed)
    m, mt = score(model, ev, eval_emb, frame, pad, args)
    conditions = {}
    for cond in args.conditions:
        transform = A.condition(cond, args.rate)
        conditions[cond] = ({'applies': False} if transform is None else
                            {'applies': True, 'zero_shot_f1': score(model, ev, eval_emb, frame, pad, args,
                                                                    transform)[0]['macro_f1']})
    cm = np.array(m['confusion'])
    protocol = f'seen: held-out subjects {train.split_subjects["test"][name]}, not zero-shot' if seen else 'zero-shot'
    res = {'recipe': {**{k: v for k, v in vars(args).items() if k not in ('seeds', 'out')}, 'seed': seed},
           'protocol': protocol, 'accuracy': m['accuracy'], 'macro_f1': m['macro_f1'], 'n_windows': m['n'],
           'labels': ev.label_names, 'per_class_f1': dict(zip(ev.label_names, m['per_class_f1'])),
           'per_class_recall': {l: f'{cm[i, i]}/{cm[i].sum()}' for i, l in enumerate(ev.label_names) if cm[i].sum()},
           'confusion': m['confusion'], 'seconds': time.time() - t0}
    if conditions:
        res['conditions'] = conditions
        print('  conditions: ' + ', '.join(f'{k} {v["zero_shot_f1"]:.3f}' if v['applies'] else f'{k} n/a'
                                         for k, v in conditions.items()))
    print(f'baseline CNN ({args.rotation} rotation, {args.input_frame} frame) on {args.eval} ({protocol}): '
          f'accuracy {m["accuracy"]:.3f}, macro-F1 {m["macro_f1"]:.3f} over {m["n"]} windows, seed {seed} '
          f'({time.time() - t0:.0f} s)')
    if mt is not None:
        res['tta'] = {'views': args.tta_rotations, 'accuracy': mt['accuracy'], 'macro_f1': mt['macro_f1'],
                      'per_class_f1': dict(zip(ev.label_names, mt['per_class_f1'])), 'confusion': mt['confusion']}
        print(f'  with test-time rotation averaging over {args.tta_rotations} views: accuracy {mt["accuracy"]:.3f}, '
              f'macro-F1 {mt["macro_f1"]:.3f}')
    if seen:
        print('  correct / windows per class: ' + ', '.join(f'{l} {v}' for l, v in res['per_class_recall'].items()))
    return res


def train_cnn(model, train, label_emb, frame, pad, args, seed):
    """Adam, batches of 64 in a fresh order per epoch, cross-entropy over cosine / 0.1 against the
    frozen label-name embeddings (L, E); rotation and time reversal as the options say."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_idx = np.arange(len(train.windows['train']))
    g = torch.Generator().manual_seed(seed)
    partner = torch.tensor(A.reversal_partners(train.label_names))    # (L,) -1: no time-reversed class
    for epoch in range(args.epochs):
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(train_idx)
        for i in range(0, len(order) - 63, 64):
            b = {k: torch.from_numpy(v) for k, v in train.read_batch('train', order[i:i + 64]).items()}
            if args.time_reversal > 0:
                b['x'], b['label'] = A.reverse_partnered(b['x'], b['length'], b['channel_type'], b['label'], partner, g,
                                                         args.time_reversal)
            x = A.rotate(frame(b), b['length'], b['triads'], g, args.rotation)
            loss = F.cross_entropy(model(pad(x), b['length']) @ label_emb.T / 0.1, b['label'])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f'epoch {epoch + 1}/{args.epochs} loss {loss.item():.3f}')


@torch.no_grad()
def score(model, ev, eval_emb, frame, pad, args, transform=None):
    """Zero-shot of the trained CNN on the evaluation windows (each batch through `transform`, an
    evaluation condition, if given) against their label names (L, E): metrics, and with
    --tta_rotations > 1 the metrics with rotation averaging (else None)."""
    model.eval()
    preds, tta_preds, ys = [], [], []
    rows = np.arange(len(ev.windows['test']))
    for i in range(0, len(rows), 512):
        b = {k: torch.from_numpy(v) for k, v in ev.read_batch('test', rows[i:i + 512]).items()}
        if transform is not None:
            b = transform(b)
        x = frame(b)
        preds.append((model(pad(x), b['length']) @ eval_emb.T).nan_to_num(-2.0).argmax(-1).numpy())
        if args.tta_rotations > 1:                                      # view 0 is x itself
            views = A.rotation_views(x, b['length'], b['triads'], args.tta_rotations, args.rotation)
            emb = F.normalize(sum(model(pad(v), b['length']) for v in views), dim=-1)
            tta_preds.append((emb @ eval_emb.T).nan_to_num(-2.0).argmax(-1).numpy())
        ys.append(b['label'].numpy())
    y, n = np.concatenate(ys), len(ev.label_names)
    m = classification_metrics(y, np.concatenate(preds), n)
    return m, (classification_metrics(y, np.concatenate(tta_preds), n) if tta_preds else None)


if __name__ == '__main__':
    run_script(main)
