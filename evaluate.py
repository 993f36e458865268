"""Evaluate a checkpoint on a dataset it never saw: zero-shot, linear probe and few-shot.

    python evaluate.py training_output/semantic_alignment/<run>/best.pt --data spsw
    python evaluate.py <ckpt> --data my_windows.npz --labels "walking,sitting,cycling"
    python evaluate.py <stage1 best.pt> --data spsw          # probes only (no text alignment)

Protocol (honest by construction):
- zero-shot: every window of the dataset is classified against the dataset's own label texts,
  those of the labels its evaluated windows have (a vocabulary entry with no window, such as
  SisFall's falls in its ADL-only subset, is not a candidate), or against --labels; the checkpoint must not have seen the dataset in either stage, else the run is
  refused unless --allow-seen, which then uses only the subjects held out from training and
  labels the result "seen dataset".
- linear probe and k-shot (k windows per class) on frozen embeddings: subjects are split into
  disjoint support and query halves; logistic regression with class-balanced weights (so
  macro-F1 is not decided by the majority class); k-shot is repeated over --repeats draws.
- confidence intervals: bootstrap over subjects (whole subjects resampled).
- test-time rotation averaging (--tta_rotations N, off by default): each window's embedding is
  the mean over N rotated copies of that window alone; no labels, no other windows.
- label space: each evaluated label's nearest training labels (cosine of prototype centres),
  each training label's nearest evaluated label (the label texts' own mapping of one vocabulary
  onto the other), a warning for near-duplicate evaluated labels, and each class's windows
  scored against the training labels instead, to tell a bad label text from a bad embedding.
- recording conditions (--conditions all): the same windows scored again as other devices would
  have recorded them, after conversion: accelerometer only, gravity removed (0.3 Hz high-pass),
  band-limited to 25 / 10 Hz, windows cut to 2 s / 1 s (augmentations.condition); one table row
  each with zero-shot and 5-shot macro-F1.
Windows are cut at the checkpoint's window length and rate (non-overlapping); a shorter
segment is time-masked. For a user's .npz, a window longer than the model's is split into
model windows whose embeddings are averaged, so each .npz window gets one prediction.
"""
import argparse
import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import augmentations as A

from datasets.format import ConversionError, PreparedDataset, Seg, label_text
from datasets.loader import SAMPLE_ROOT, HARData, Win
from metrics import bootstrap_by_subject, classification_metrics
from model_loading import (STAGE1, STAGE2, average_per_segment, build_model, channel_table_for, embed_split,
                           load_label_bank, predict, text_model_of, tta_rotation)
from settings import Parser, Refused, count, option, option_list, positive, run_script
from train_common import PRECISIONS, autocast, choose_precision, find_latest, load_checkpoint

DEFAULT_SHOTS = (1, 5, 10)
NEAR_DUPLICATE = 0.85       # eval labels whose prototype centres are this close get a warning


def parse_args(argv=None):
    ap = Parser(prog='evaluate.py', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint', nargs='?', help='Stage 2 (or Stage 1) checkpoint; default: newest '
                    'training_output/semantic_alignment/*/best.pt')
    ap.add_argument('--data', default='spsw', help='prepared dataset name (in --data_root, else the shipped '
                    'sample) or a path to a user .npz (X, y, sampling_rate_hz, channels[, subjects]); default spsw')
    ap.add_argument('--data_root', default='data/prepared', help='prepared data root (default data/prepared)')
    ap.add_argument('--labels', help='comma-separated label texts to classify against (default: the '
                    "dataset's own labels); matched to the data's labels ignoring case, '_' and '-'")
    ap.add_argument('--out', help='output folder for results.json and PNGs (default: eval_<data> beside the checkpoint)')
    ap.add_argument('--allow-seen', action='store_true', help='evaluate a dataset the checkpoint was trained '
                    'on (held-out subjects only); the result is labelled "seen dataset", not zero-shot')
    ap.add_argument('--random-init', action='store_true', help='replace the weights by a random initialisation '
                    'of the same architecture (the "untrained encoder" reference)')
    ap.add_argument('--layout', type=option(count(0), int), help='only windows of this channel layout of the dataset '
                    '(e.g. spsw: 0 = smartphone, 1 = smartwatch; see its meta.json "layouts")')
    ap.add_argument('--min_window_s', type=option(positive()), help='drop segments shorter than this many seconds '
                    '(default: one patch, the shortest window the model can embed)')
    ap.add_argument('--shots', default=[1, 5, 10], type=option_list(count(1)),
                    help='k values for k-shot (windows per class), default 1,5,10')
    ap.add_argument('--repeats', type=option(count(1), int), default=10, help='k-shot draws to average (default 10)')
    ap.add_argument('--bootstrap', type=option(count(0), int), default=1000, help='bootstrap resamples for intervals (0: none)')
    ap.add_argument('--no-probe', action='store_true', help='skip the linear probe and k-shot')
    ap.add_argument('--no-linear-probe', action='store_true', help='skip the linear probe, keep k-shot')
    ap.add_argument('--tta_rotations', type=option(count(1), int), default=1, metavar='N', help='test-time rotation averaging: '
                    "embed each window as recorded and in N-1 fixed rotations of each device (the checkpoint's "
                    "training rotation, 'so3' or 'gravity'), and average; default 1 (off)")
    ap.add_argument('--batch_size', type=option(count(1), int), default=256, help='windows per embedding batch')
    ap.add_argument('--conditions', type=conditions_option, default=[], metavar='all|NAMES',
                    help='also score the data as recorded other ways, one table row each (zero-shot and 5-shot): '
                    + ', '.join(A.CONDITIONS) + " ('all', or a comma-separated list; augmentations.condition)")
    ap.add_argument('--precision', default='auto', choices=PRECISIONS, help="number format of the model's forward: "
                    "'auto' (fp16 on CUDA, bf16 on a CPU with native bf16, else fp32), fp32, bf16 or fp16")
    ap.add_argument('--seed', type=option(count(0), int), default=0, help='seed for splits, k-shot draws and bootstrap')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', help='cpu or cuda',
                    choices=['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu'])
    return ap.parse_args(argv)


# ----------------------------------------------------------------------------- data

def open_eval_dataset(spec, data_root, log=print):
    """A prepared dataset by name (data_root, else the shipped sample, said once) or a user .npz."""
    path = Path(spec)
    if spec.endswith('.npz'):
        from datasets.user_npz import convert_npz
        if not path.is_file():
            raise Refused(f'{path} does not exist')
        tmp = Path(tempfile.mkdtemp(prefix='har_eval_'))
        atexit.register(shutil.rmtree, tmp, True)                   # removed when the process ends
        try:
            convert_npz(path, tmp, path.stem, 50.0)
        except ConversionError as e:
            raise Refused(f'--data {path}: {e}') from None
        return PreparedDataset(tmp / path.stem), True
    for root in (Path(data_root), SAMPLE_ROOT):
        if (root / spec / 'meta.json').exists():
            if root == SAMPLE_ROOT:
                log(f'{spec} is not prepared in {data_root}: using the shipped sample {root / spec}')
            return PreparedDataset(root / spec), False
    raise Refused(f'dataset {spec!r} is not prepared in {data_root} nor in the sample; '
                  f'run `python -m datasets.prepare {spec} --raw <folder>` or pass a .npz')


def trained_on(ckpt):
    """{dataset: [subjects]} the checkpoint was trained on, over both stages."""
    seen = {}
    for part in (ckpt.get('stage1', {}).get('data'), ckpt.get('data')):
        for name, subj in ((part or {}).get('split_subjects', {}).get('train', {}) or {}).items():
            seen.setdefault(name, set()).update(subj)
    return {k: sorted(v) for k, v in seen.items()}


def resolve_labels(data_labels, requested, present=None):
    """Map the data's labels onto the label texts to score: the labels of the evaluated windows
    (`present`, indices into data_labels; default all), or --labels, which must hold them.
    -> texts (L,), index map data label -> text (-1 for a label no window has)"""
    present = range(len(data_labels)) if present is None else sorted(present)
    own = [data_labels[i] for i in present]
    texts = own
    if requested:
        texts = [t for t in (label_text(s) for s in requested.split(',')) if t]
        if len(set(texts)) != len(texts):
            raise Refused(f'--labels has duplicates after normalisation: {texts}')
        missing = [l for l in own if l not in texts]
        if missing:
            raise Refused(f'the data has labels {missing} that are not in --labels {texts}')
    return texts, np.array([texts.index(l) if l in own else -1 for l in data_labels])


def plot_confusion(cm, names, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cm = np.asarray(cm, float)
    keep = (cm.sum(0) + cm.sum(1)) > 0                                # classes present or predicted
    cm, names = cm[keep][:, keep], [n for n, k in zip(names, keep) if k]
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.1 * n + 3, 0.9 * n + 2.5))
    im = ax.imshow(rows, cmap='Blues', vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, f'{rows[i, j]:.2f}\n({int(cm[i, j])})', ha='center', va='center', fontsize=8,
                        color='white' if rows[i, j] > 0.6 else 'black')
    ax.set_xticks(range(n), names, rotation=35, ha='right')
    ax.set_yticks(range(n), names)
    ax.set(xlabel='predicted', ylabel='true', title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label='share of true class')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- label space

def label_space(protos, texts, train_protos, train_texts, threshold=NEAR_DUPLICATE):
    """Where the evaluated labels sit among themselves and among the training labels.
    protos (L, K, E), train_protos (Lt, K, E): each label's centre is the normalised mean of
    its K prototypes. -> dict: 'similarity' (L, L) cosines between eval labels, 'nearest_training'
    (each label's 3 closest training labels with cosines), 'training_as_evaluated' (each training
    label's closest eval label: what an encoder that put every training window exactly on its
    label would predict, i.e. how the label texts alone map one vocabulary onto the other) and
    'near_duplicates' (pairs of eval labels with cosine at least `threshold`, which zero-shot
    cannot tell apart reliably)."""
    c = F.normalize(protos.float().mean(1), dim=-1)                       # (L, E)
    ct = F.normalize(train_protos.float().mean(1), dim=-1)                # (Lt, E)
    sim, sim_t = (c @ c.T).cpu(), (c @ ct.T).cpu()                        # (L, L), (L, Lt)
    nearest = {t: [[train_texts[j], round(float(sim_t[i, j]), 3)] for j in sim_t[i].argsort(descending=True)[:3]]
               for i, t in enumerate(texts)}
    best = sim_t.argmax(0)                                                # (Lt,) each training label's eval label
    as_eval = {t: [texts[best[j]], round(float(sim_t[best[j], j]), 3)] for j, t in enumerate(train_texts)}
    dup = [[texts[i], texts[j], round(float(sim[i, j]), 3)]
           for i in range(len(texts)) for j in range(i + 1, len(texts)) if sim[i, j] >= threshold]
    return {'similarity': sim.tolist(), 'nearest_training': nearest, 'training_as_evaluated': as_eval,
            'near_duplicates': dup}


def as_training_labels(y, pred_train, texts, train_texts):
    """For each evaluated class, how its windows split over the training labels when scored
    against those instead: y (N,) eval classes, pred_train (N,) training-label predictions."""
    return {t: {train_texts[j]: int(n) for j, n in enumerate(np.bincount(pred_train[y == i], minlength=len(train_texts)))
                if n} for i, t in enumerate(texts)}


# ----------------------------------------------------------------------------- probes

def subject_halves(subjects, seed):
    """Disjoint support / query subject sets (half each). With one subject: None."""
    ids = np.unique(subjects)
    if len(ids) < 2:
        return None
    ids = np.random.default_rng(seed).permutation(ids)
    half = len(ids) // 2
    return set(ids[:half].tolist()), set(ids[half:].tolist())


def fit_predict(train_x, train_y, test_x, seed):
    from sklearn.linear_model import LogisticRegression
    if len(np.unique(train_y)) == 1:
        return np.full(len(test_x), train_y[0])
    clf = LogisticRegression(max_iter=2000, C=1.0, class_weight='balanced', random_state=seed)
    clf.fit(train_x, train_y)
    return clf.predict(test_x)


def probes(emb, y, subjects, n_classes, shots, repeats, seed, linear=True):
    """Linear probe on all support windows (if `linear`), and k-shot, tested on query subjects."""
    halves = subject_halves(subjects, seed)
    if halves is None:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        support = np.zeros(len(y), bool)
        support[order[:len(y) // 2]] = True
        note = 'one subject only: windows split at random (NOT subject-disjoint)'
    else:
        support = np.isin(subjects, list(halves[0]))
        note = f'subject-disjoint: {len(halves[0])} support / {len(halves[1])} query subjects'
    query = ~support
    x = emb.numpy()
    out = {'probe_protocol': note}
    if linear:
        lp = fit_predict(x[support], y[support], x[query], seed)
        m = classification_metrics(y[query], lp, n_classes)
        out['linear_probe'] = {'accuracy': m['accuracy'], 'macro_f1': m['macro_f1'], 'n_train': int(support.sum()),
                               'n_test': int(query.sum())}
    out['few_shot'] = {}
    classes = np.unique(y[support])
    for k in shots:
        accs, f1s = [], []
        for r in range(repeats):
            rng = np.random.default_rng([seed, k, r])
            pick = np.concatenate([rng.choice(np.flatnonzero(support & (y == c)),
                                              min(k, int((support & (y == c)).sum())), replace=False)
                                   for c in classes])
            m = classification_metrics(y[query], fit_predict(x[pick], y[pick], x[query], seed), n_classes)
            accs.append(m['accuracy'])
            f1s.append(m['macro_f1'])
        out['few_shot'][str(k)] = {'accuracy': float(np.mean(accs)), 'accuracy_std': float(np.std(accs)),
                                   'macro_f1': float(np.mean(f1s)), 'macro_f1_std': float(np.std(f1s)),
                                   'repeats': repeats, 'classes': int(len(classes))}
    return out


# ----------------------------------------------------------------------------- main

def conditions_option(text):
    """--conditions: 'all' or comma-separated names of augmentations.CONDITIONS."""
    names = list(A.CONDITIONS) if text == 'all' else [n.strip() for n in text.split(',') if n.strip()]
    unknown = [n for n in names if n not in A.CONDITIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected 'all' or names among {', '.join(A.CONDITIONS)}, got {text!r}")
    return names


def conditions_table(model, ckpt, bank, data, table, device, ctx, args, rotation, texts, to_text, is_npz):
    """Zero-shot (with `bank`, the label bank of the main result; None for Stage 1) and 5-shot
    macro-F1 of the evaluated windows under each of args.conditions (augmentations.condition,
    applied after conversion). -> {condition: figures, or applies: False}"""
    rate = ckpt['config']['SAMPLING_RATE_HZ']
    protos = bank.prototypes(texts) if bank else None
    out = {}
    for name in args.conditions:
        transform = A.condition(name, rate, torch.from_numpy(data.gravity_removed_text))
        if transform is None:
            out[name] = {'applies': False}
            continue
        emb, y, subj, _ = embed_split(model, data, 'test', table, device, ctx, batch_size=args.batch_size,
                                      views=args.tta_rotations, rotation=rotation, transform=transform)
        if is_npz:
            emb, _, first = average_per_segment(emb, data)
            y, subj = y[first], subj[first]
        row = {'applies': True}
        if protos is not None:
            m = classification_metrics(to_text[y], predict(emb.to(device), protos, bank.combine,
                                                           bank.proto_temperature)[0], len(texts))
            row.update(zero_shot_f1=m['macro_f1'], zero_shot_accuracy=m['accuracy'])
        shot = probes(emb, y, subj, len(data.label_names), [5], args.repeats, args.seed, linear=False)
        row['shot5_f1'] = shot['few_shot']['5']['macro_f1']
        out[name] = row
        print(f'  condition {name}: ' + ', '.join(f'{k} {v:.3f}' for k, v in row.items() if k != 'applies'))
    return out


def print_conditions(conditions):
    """The conditions table, one row per condition."""
    print('\n  condition                zero-shot F1  5-shot F1')
    for name, row in conditions.items():
        if not row['applies']:
            print(f'  {name:<24} does not apply (at or above the model\'s rate)')
            continue
        zs = f"{row['zero_shot_f1']:>12.3f}" if 'zero_shot_f1' in row else f'{"-":>12}'
        print(f"  {name:<24} {zs} {row['shot5_f1']:>10.3f}")


def load_for_eval(args):
    """The checkpoint (args.checkpoint, default the newest Stage 2 best.pt), its model on the
    device (random weights of the same shape with --random-init) and the rotation of test-time
    averaging. -> path, checkpoint, model, rotation"""
    ck_path = args.checkpoint or find_latest('training_output/semantic_alignment')
    if ck_path is None:
        raise Refused('no checkpoint given and none found under training_output/semantic_alignment; '
                      'train one (README) or pass a path')
    ckpt = load_checkpoint(ck_path, [STAGE1, STAGE2])
    torch.manual_seed(args.seed)
    model = build_model(ckpt)
    if not args.random_init:                                          # else: fresh weights, same shape
        model.load_state_dict(ckpt['model'])
    model.to(torch.device(args.device)).eval()
    try:
        rotation = tta_rotation(ckpt, args.tta_rotations)
    except ValueError as e:
        raise Refused(f'--tta_rotations {args.tta_rotations} with {ck_path}: {e}') from None
    return ck_path, ckpt, model, rotation


def patch_seconds(ckpt):
    """The shortest window a checkpoint can embed: one patch, in seconds."""
    return ckpt['encoder_config']['patch_size'] / ckpt['config']['SAMPLING_RATE_HZ']


def eval_windows(ckpt, ds, is_npz, args):
    """The windows to evaluate, honestly: a dataset the checkpoint was trained on is refused
    unless --allow-seen, which keeps its held-out subjects only. Windows at the checkpoint's
    length and rate, non-overlapping, from segments of at least --min_window_s (one patch by
    default), of --layout only if given. -> HARData (all in 'test'), subject indices, protocol"""
    cfg = ckpt['config']
    seen = trained_on(ckpt)
    held_subjects = None
    if ds.name in seen and not is_npz:
        if not args.allow_seen:
            raise Refused(f'{ds.name} was used in training (subjects {seen[ds.name]}); a result on it '
                          f'is not zero-shot. Use --allow-seen to evaluate its held-out subjects, labelled as seen.')
        held_subjects = [i for i, s in enumerate(ds.subjects) if s not in set(seen[ds.name])]
        if not held_subjects:
            raise Refused(f'every subject of {ds.name} was used in training')
    protocol = ('SEEN dataset (held-out subjects only; not zero-shot)' if held_subjects is not None
                else 'zero-shot: dataset unseen in training')
    if args.random_init:
        protocol += '; RANDOMLY INITIALISED weights (reference)'
    if args.tta_rotations > 1:
        protocol += f'; test-time rotation averaging over {args.tta_rotations} views'

    every = held_subjects if held_subjects is not None else list(range(len(ds.subjects)))
    patch_s = patch_seconds(ckpt)
    if args.min_window_s is not None and args.min_window_s < patch_s:
        raise Refused(f'--min_window_s {args.min_window_s} is shorter than one patch ({patch_s:g} s)')
    data = HARData([ds], cfg['WINDOW_SECONDS'], cfg['SAMPLING_RATE_HZ'], hop_s=cfg['WINDOW_SECONDS'],
                   min_window_s=args.min_window_s or patch_s, labelled_only=True,
                   subjects_override={ds.name: {'train': [], 'val': [], 'test': every}})
    if args.layout is not None:
        if not 0 <= args.layout < len(ds.layouts):
            raise Refused(f'--layout {args.layout}: {ds.name} has layouts 0..{len(ds.layouts) - 1}')
        data.windows['test'] = data.windows['test'][data.windows['test'][:, Win.LAYOUT] == args.layout]
        ch = ds.layouts[args.layout][0]
        print(f'layout {args.layout} only: {ch.device} on the {ch.placement}')
    if len(data.windows['test']) == 0:
        raise Refused(f'{ds.path}: no labelled window of at least {args.min_window_s or patch_s:g} s '
                      f'to evaluate')
    return data, every, protocol


def eval_label_bank(model, ckpt, device, random_init):
    """The label bank zero-shot scores against: the checkpoint's, or with --random-init the
    random model's own (its label bank is random too). None for a Stage 1 checkpoint."""
    if ckpt['kind'] == STAGE1:
        return None
    bank = load_label_bank(ckpt, device)
    if random_init:
        bank.module = model.label_bank
    return bank


def zero_shot_report(bank, ckpt, emb, y, subj, texts, device, args):
    """Zero-shot of embeddings emb (N, E) with classes y (N,) (indices into `texts`) against the
    label texts' prototypes from `bank`: accuracy, macro-F1, per class, confusion, chance,
    bootstrap interval over subjects, the label space and the windows scored against the
    training labels."""
    protos = bank.prototypes(texts)
    train_texts = ckpt['data']['label_names']
    emb = emb.to(device)
    pred, _ = predict(emb, protos, bank.combine, bank.proto_temperature)
    m = classification_metrics(y, pred, len(texts))
    counts = np.bincount(y, minlength=len(texts))
    zs = {'accuracy': m['accuracy'], 'macro_f1': m['macro_f1'], 'n_windows': int(len(y)), 'labels': texts,
          'per_class_f1': {t: f for t, f in zip(texts, m['per_class_f1'])}, 'confusion': m['confusion'],
          'support': {t: int(c) for t, c in zip(texts, counts)},
          'chance': {'accuracy_uniform': 1 / len(texts), 'accuracy_majority': float(counts.max() / counts.sum())},
          'unseen_labels': [t for t in texts if t not in train_texts]}
    if args.bootstrap:
        zs['ci95'] = bootstrap_by_subject(y, pred, subj, len(texts), args.bootstrap, args.seed)
    train_protos = bank.prototypes(train_texts)
    zs['label_space'] = label_space(protos, texts, train_protos, train_texts)
    pred_train, _ = predict(emb, train_protos, bank.combine, bank.proto_temperature)
    zs['as_training_labels'] = as_training_labels(y, pred_train, texts, train_texts)
    return zs


def print_summary(results):
    """The results table, the zero-shot interval and the label-space lines, as printed at the end."""
    rows = [('', 'accuracy', 'macro-F1')]
    zs = results.get('zero_shot')
    if zs:
        rows += [('zero-shot', zs['accuracy'], zs['macro_f1']), ('chance (uniform)', 1 / len(zs['labels']), None)]
    if 'linear_probe' in results:
        rows.append(('linear probe', results['linear_probe']['accuracy'], results['linear_probe']['macro_f1']))
    if 'few_shot' in results:
        for k, v in results['few_shot'].items():
            rows.append((f'{k}-shot (mean of {v["repeats"]})', v['accuracy'], v['macro_f1']))
    print(f'\n{results["data"]["name"]}: {results["protocol"]}')
    for name, a, f1 in rows:
        fmt = lambda v: f'{v:>9.3f}' if isinstance(v, float) else f'{v or "":>9}'   # noqa: E731
        print(f'  {name:<24}{fmt(a)}{fmt(f1)}')
    if not zs:
        return
    if zs.get('ci95'):
        ci = zs['ci95']
        print(f'  zero-shot 95% CI over subjects: accuracy {ci["accuracy"][0]:.3f}-{ci["accuracy"][1]:.3f}, '
              f'macro-F1 {ci["macro_f1"][0]:.3f}-{ci["macro_f1"][1]:.3f}')
    ls = zs['label_space']
    print('  nearest training label of each evaluated label (prototype cosine; results.json: label_space, '
          'as_training_labels):')
    print('    ' + ', '.join(f'{t} -> {n[0][0]} {n[0][1]:.2f}' for t, n in ls['nearest_training'].items()))
    print('  nearest evaluated label of each training label (label_space.training_as_evaluated):')
    print('    ' + ', '.join(f'{t} -> {e} {c:.2f}' for t, (e, c) in ls['training_as_evaluated'].items()))
    for a, b, c in ls['near_duplicates']:
        print(f'  warning: labels {a!r} and {b!r} have prototype cosine {c:.2f} (>= {NEAR_DUPLICATE}): '
              f'zero-shot cannot tell them apart reliably')


def main(argv=None):
    args = parse_args(argv)
    ck_path, ckpt, model, rotation = load_for_eval(args)
    device = torch.device(args.device)
    ds, is_npz = open_eval_dataset(args.data, args.data_root)
    if np.all(ds.segments[:, Seg.LABEL] < 0):
        raise Refused(f'{ds.path} has no labelled windows to evaluate')
    data, every, protocol = eval_windows(ckpt, ds, is_npz, args)
    print(f'checkpoint: {ck_path} ({ckpt["kind"]}), trained on {sorted(trained_on(ckpt)) or "?"}')
    print(f'data: {ds.name} ({ds.path}), {len(data.windows["test"])} windows, {len(every)} subjects; '
          f'protocol: {protocol}')

    # ---- embeddings (one per model window; .npz windows: averaged per source window)
    table = channel_table_for(data.channel_texts, text_model_of(ckpt), device)
    if args.tta_rotations > 1:
        print(f'test-time rotation averaging: {args.tta_rotations} views per window ({rotation})')
    precision, reason = choose_precision(args.precision, device)
    print(f'precision: {precision} ({reason})')
    emb, y, subj, _ = embed_split(model, data, 'test', table, device, autocast(device, precision),
                                  batch_size=args.batch_size, show_progress=True, views=args.tta_rotations,
                                  rotation=rotation)
    if is_npz:
        emb, _, first = average_per_segment(emb, data)
        y, subj = y[first], subj[first]

    results = {'checkpoint': str(ck_path), 'kind': ckpt['kind'], 'trained_on': trained_on(ckpt), 'protocol': protocol,
               'data': {'name': ds.name, 'path': str(ds.path), 'subjects': [ds.subjects[i] for i in every],
                        'layout': args.layout, 'n_windows': int(len(y)), 'window_seconds': ckpt['config']['WINDOW_SECONDS'],
                        'min_window_seconds': args.min_window_s or patch_seconds(ckpt)},
               'tta_rotations': args.tta_rotations, 'random_init': bool(args.random_init), 'precision': precision}
    suffix = ('' if args.layout is None else f'_layout{args.layout}') + ('_random' if args.random_init else '')
    out_dir = Path(args.out) if args.out else Path(ck_path).parent / f'eval_{ds.name}{suffix}'
    out_dir.mkdir(parents=True, exist_ok=True)

    texts, to_text = resolve_labels(data.label_names, args.labels, np.unique(y))
    bank = eval_label_bank(model, ckpt, device, args.random_init)
    if ckpt['kind'] == STAGE1:
        print('Stage 1 checkpoint: not aligned with text, so no zero-shot result (probes only)')
    else:
        zs = results['zero_shot'] = zero_shot_report(bank, ckpt, emb, to_text[y], subj, texts, device, args)
        plot_confusion(zs['confusion'], texts, out_dir / 'confusion_zero_shot.png',
                       f'Zero-shot on {ds.name}: acc {zs["accuracy"]:.2f}, macro-F1 {zs["macro_f1"]:.2f}')
    if not args.no_probe:
        results.update(probes(emb, y, subj, len(data.label_names), args.shots, args.repeats, args.seed,
                              linear=not args.no_linear_probe))
    if args.conditions:
        results['conditions'] = conditions_table(model, ckpt, bank, data, table, device, autocast(device, precision),
                                                 args, rotation, texts, to_text, is_npz)

    with open(out_dir / 'results.json', 'w') as f:
        json.dump(results, f, indent=1)
    print_summary(results)
    if args.conditions:
        print_conditions(results['conditions'])
    print(f'results: {out_dir / "results.json"}')
    return results


if __name__ == '__main__':
    run_script(main)
