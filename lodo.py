"""Leave-one-dataset-out (LODO): for each training dataset, train both stages on the others and
score zero-shot on the held-out one against its own labels, beside the naive reference
(baseline.py) trained on the same datasets and Stage 2 on a randomly initialised encoder.

    python lodo.py --out runs/lodo/defaults --seeds 0,1,2
    python lodo.py --out runs/lodo/k1 --seeds 0,1,2 --stage2="--num_prototypes=1" --stage1_from runs/lodo/defaults
    python lodo.py --out runs/lodo/defaults --seeds 0,1,2 --folds none --test spsw    # all five -> spsw

Each fold (held-out dataset, seed) and model writes its own result under --out, and a run that
finds a result already there skips it, so an interrupted command continues with the stage
that was running (which starts again).
At the end, and after every fold, `table.md` and `table.json` are rewritten: one row per
held-out dataset (and per layout of a --test dataset; rows of folds that this command does not
run come from what earlier commands left under --out, so `--folds none --test spsw` adds rows), zero-shot macro-F1 and accuracy and
5-shot macro-F1 for each model, as mean +- sd over seeds; the mean row is the mean over the
folds of each seed, then mean +- sd over seeds.

Models: 'ours' (Stage 1 + Stage 2), 'random' (Stage 2 on an encoder of Stage 1's shape with
random weights: what Stage 1 adds) and 'reference' (baseline.py). Both stages and the
reference see only the training datasets of the fold: the held-out dataset is in
HOLDOUT_DATASETS (Stage 2 scores it zero-shot at every epoch as a curve, but picks best.pt on
held-out subjects of the training datasets).
"""
import argparse
import json
import shlex
import time
from pathlib import Path

import numpy as np

import augmentations as A
from settings import Parser, Refused, count, option_list, run_script

DATASETS = ['hapt', 'hugadb', 'utd_mhad', 'sisfall', 'umafall']
MODELS = ('ours', 'random', 'reference')
EVAL_ARGS = ['--bootstrap', '0', '--shots', '5', '--repeats', '5', '--no-linear-probe']   # zero-shot and 5-shot


def parse_args(argv=None):
    ap = Parser(prog='lodo.py', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True, help='folder of this recipe: one sub-folder per fold, seed and model')
    ap.add_argument('--datasets', default=','.join(DATASETS), help='training datasets (each is held out in turn)')
    ap.add_argument('--folds', help="held-out datasets to run (default: every one of --datasets; 'none': none)")
    ap.add_argument('--test', help='also train on all --datasets and score this unseen dataset (each layout apart)')
    ap.add_argument('--seeds', default=[0], type=option_list(count(0)),
                    help='comma-separated seeds (each: its own subject splits and weights)')
    ap.add_argument('--models', default=','.join(MODELS), help=f'which of {",".join(MODELS)} to run')
    ap.add_argument('--stage1', default='', help='extra pretrain.py options, e.g. "--config configs/small_cpu.yaml"')
    ap.add_argument('--stage2', default='', help='extra semantic_alignment_train.py options')
    ap.add_argument('--reference', default='', help='extra baseline.py options')
    ap.add_argument('--eval', default='', help='extra evaluate.py options (e.g. "--tta_rotations 32")')
    ap.add_argument('--stage1_from', help="another LODO --out whose Stage 1 checkpoints to reuse (same folds and "
                    "seeds; a recipe that changes only Stage 2)")
    ap.add_argument('--data_root', default='data/prepared')
    args = ap.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(',') if d]
    args.folds = (args.datasets if args.folds is None else [] if args.folds == 'none'
                  else [d for d in args.folds.split(',') if d])
    unknown = [f for f in args.folds if f not in args.datasets]
    if unknown:
        ap.error(f'--folds {unknown} are not among --datasets {args.datasets}')
    if args.test in args.datasets:
        ap.error(f'--test {args.test} is a training dataset; it must be unseen')
    args.models = [m for m in args.models.split(',') if m]
    if set(args.models) - set(MODELS):
        ap.error(f'--models must be among {MODELS}')
    return args


# ----------------------------------------------------------------------------- one fold

def holdout(args, held):
    """The HOLDOUT_DATASETS option of a fold: the held-out training dataset; none for --test (an
    unseen dataset is not scored during training, not even as a curve)."""
    return f'--holdout_datasets={held if held in args.datasets else ""}'


def stage1(args, held, seed, folder):
    """Stage 1 on the fold's training datasets (or the one of --stage1_from) -> best.pt path."""
    import pretrain
    if args.stage1_from:
        path = Path(args.stage1_from) / folder.relative_to(args.out) / 'stage1' / 'best.pt'
        if not path.is_file():
            raise Refused(f'--stage1_from has no Stage 1 checkpoint for this fold: {path}')
        import torch
        if held in args.datasets and held not in torch.load(path, weights_only=True)['config']['HOLDOUT_DATASETS']:
            raise Refused(f'--stage1_from: {path} did not hold {held} out')
        return path
    path = folder / 'stage1' / 'best.pt'
    if not path.is_file():
        run = pretrain.main([*shlex.split(args.stage1), f'--datasets={",".join(args.datasets)}',
                             holdout(args, held), f'--seed={seed}', f'--data_root={args.data_root}',
                             f'--out_root={folder / "stage1_runs"}'])
        keep_best(run, path)
    return path


def keep_best(run, path):
    """Move a finished run's best.pt to `path` (the fold's record that the stage is done)."""
    best = Path(run) / 'best.pt'
    if not best.is_file():
        raise Refused(f'{run} wrote no best.pt (no whole epoch trained: --epochs or --max_steps too small?)')
    path.parent.mkdir(parents=True, exist_ok=True)
    best.rename(path)


def stage2(args, held, seed, folder, stage1_path, random_encoder):
    """Stage 2 from `stage1_path` (random weights of its shape if random_encoder) -> best.pt path."""
    import semantic_alignment_train
    name = 'random' if random_encoder else 'ours'
    path = folder / name / 'best.pt'
    if not path.is_file():
        run = semantic_alignment_train.main([
            *shlex.split(args.stage2), f'--datasets={",".join(args.datasets)}', holdout(args, held),
            f'--stage1_checkpoint={stage1_path}', f'--random_encoder={random_encoder}', f'--seed={seed}',
            '--score_holdout=False',                # the fold's own evaluation scores it once, at the end
            f'--data_root={args.data_root}', f'--out_root={folder / f"{name}_runs"}'])
        keep_best(run, path)
    return path


def result_file(folder, model, layout=None):
    """Where one model of a fold and seed (folder) writes its result for one layout (None: all)."""
    if model == 'reference':
        return folder / 'reference' / (f'layout{layout}.json' if layout is not None else 'results.json')
    return folder / model / (f'eval_layout{layout}' if layout is not None else 'eval') / 'results.json'


def score(args, ckpt, held, folder, model, layout=None):
    """evaluate.py's zero-shot and 5-shot of a checkpoint on the held-out dataset -> results dict."""
    import evaluate
    out = result_file(folder, model, layout)
    if not out.is_file():
        evaluate.main([str(ckpt), '--data', held, '--data_root', args.data_root, '--out', str(out.parent), *EVAL_ARGS,
                       *([] if layout is None else ['--layout', str(layout)]), *shlex.split(args.eval)])
    return json.loads(out.read_text())


def reference(args, held, seed, folder, layout=None):
    """baseline.py trained on the fold's training datasets, scored on every window of the
    held-out dataset at least as long as the shortest one evaluate.py scores for ours (one patch
    of the fold's Stage 1 encoder; 0.4 s, the default patch, without one) -> results dict."""
    import baseline
    out = result_file(folder, 'reference', layout)
    if not out.is_file():
        min_window_s = 0.4
        stage1 = folder / 'stage1' / 'best.pt'
        if stage1.is_file():
            import torch
            ck = torch.load(stage1, weights_only=True)
            min_window_s = ck['encoder_config']['patch_size'] / ck['config']['SAMPLING_RATE_HZ']
        baseline.main(['--train', ','.join(d for d in args.datasets if d != held), '--eval', held, '--seeds', str(seed),
                       '--min_window_s', str(min_window_s), '--data_root', args.data_root, '--out', str(out),
                       *([] if layout is None else ['--eval_layout', str(layout)]), *shlex.split(args.reference)])
    return json.loads(out.read_text())


def found(args, held, seed, layouts):
    """The figures of one fold and seed that an earlier command wrote, training nothing."""
    folder = Path(args.out) / held / f'seed{seed}'
    paths = {(m, layout): result_file(folder, m, layout) for m in args.models for layout in layouts}
    return {k: figures(json.loads(path.read_text())) for k, path in paths.items() if path.is_file()}


def run_fold(args, held, seed, layouts):
    """Every model of one fold and seed -> {(model, layout): figures}."""
    folder = Path(args.out) / held / f'seed{seed}'
    t0, out = time.time(), {}
    if 'ours' in args.models or 'random' in args.models:
        s1 = stage1(args, held, seed, folder)
        for model in ('ours', 'random'):
            if model in args.models:
                ckpt = stage2(args, held, seed, folder, s1, random_encoder=model == 'random')
                for layout in layouts:
                    out[model, layout] = figures(score(args, ckpt, held, folder, model, layout))
    if 'reference' in args.models:
        for layout in layouts:
            out['reference', layout] = figures(reference(args, held, seed, folder, layout))
    print(f'lodo: {held} seed {seed} done in {time.time() - t0:.0f} s')
    return out


def figures(res):
    """The table's numbers from an evaluate.py or baseline.py result (and, with --conditions,
    each condition's as 'cond:<name>:zs_f1' / ':shot5_f1'; a condition that does not apply is left out)."""
    if 'zero_shot' in res:
        zs = res['zero_shot']
        out = {'zs_f1': zs['macro_f1'], 'zs_acc': zs['accuracy'], 'shot5_f1': res['few_shot']['5']['macro_f1']}
    else:
        out = {'zs_f1': res['macro_f1'], 'zs_acc': res['accuracy']}
    for name, row in res.get('conditions', {}).items():
        for key, value in (('zs_f1', row.get('zero_shot_f1')), ('shot5_f1', row.get('shot5_f1'))):
            if row['applies'] and value is not None:
                out[f'cond:{name}:{key}'] = value
    return out


# ----------------------------------------------------------------------------- the tables

def fmt(values):
    return f'{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}' if len(values) > 1 else \
        f'{values[0]:.3f}' if values else '-'


def per_seed(args, results, row, model, key, folds):
    """The values of one table cell, one per seed that has it; for 'LODO mean', each seed's
    mean over the folds (only seeds with every fold)."""
    if row != 'LODO mean':
        return [results[row, s, model][key] for s in args.seeds
                if (row, s, model) in results and key in results[row, s, model]]
    return [np.mean([results[f, s, model][key] for f in folds]) for s in args.seeds
            if all((f, s, model) in results and key in results[f, s, model] for f in folds)]


def write_table(args, results):
    """table.md and table.json from results {(row, seed, model): figures}; conditions.md where
    the results hold conditions (evaluate.py / baseline.py --conditions)."""
    rows = sorted(dict.fromkeys(r for r, _, _ in results),                  # folds in --datasets order, then the test
                  key=lambda r: (r not in args.datasets, args.datasets.index(r) if r in args.datasets else r))
    folds = [r for r in rows if r in args.datasets]
    rows += ['LODO mean'] if folds else []
    keys = sorted({k for fig in results.values() for k in fig}, key=lambda k: (k.startswith('cond:'), k))
    table = {row: {m: {k: per_seed(args, results, row, m, k, folds) for k in keys} for m in args.models}
             for row in rows}
    (Path(args.out) / 'table.json').write_text(json.dumps({'seeds': args.seeds, 'models': args.models,
                                                            'table': table}, indent=1))
    head = ['held out'] + [f'{m} {k}' for m in args.models for k in ('zero-shot F1', 'zero-shot acc', '5-shot F1')]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row, cells in table.items():
        lines.append('| ' + ' | '.join([row] + [fmt(cells[m].get(k, [])) for m in args.models
                                                  for k in ('zs_f1', 'zs_acc', 'shot5_f1')]) + ' |')
    text = '\n'.join(lines) + f'\n\nmean ± sd over seeds {args.seeds}\n'
    (Path(args.out) / 'table.md').write_text(text)
    conditions = list(dict.fromkeys(k.split(':')[1] for k in keys if k.startswith('cond:')))
    order = list(A.CONDITIONS)
    conditions.sort(key=lambda c: order.index(c) if c in order else len(order))     # as evaluate.py lists them
    if conditions:
        out = []
        for model in args.models:
            out += [f'{model}: zero-shot macro-F1 (5-shot) under each recording condition', '',
                    '| condition | ' + ' | '.join(rows) + ' |', '|' + '---|' * (len(rows) + 1)]
            out += ['| ' + ' | '.join([c] + [f"{fmt(table[r][model].get(f'cond:{c}:zs_f1', []))} "
                                             f"({fmt(table[r][model].get(f'cond:{c}:shot5_f1', []))})"
                                             for r in rows]) + ' |' for c in conditions] + ['']
        (Path(args.out) / 'conditions.md').write_text('\n'.join(out) + f'\nmean ± sd over seeds {args.seeds}\n')
    return text


def main(argv=None):
    args = parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / 'command.json').write_text(json.dumps(vars(args), indent=1))
    results = {}
    missing = [n for n in args.datasets + ([args.test] if args.test else [])
               if not (Path(args.data_root) / n / 'meta.json').is_file()]
    if missing:                                    # no quiet fall-back to other data in a table of folds
        raise Refused(f'{", ".join(missing)} not prepared in {args.data_root}: '
                      f'python -m datasets.prepare <name> --raw <download>')
    jobs = [(held, [None]) for held in args.datasets]
    if args.test:
        from datasets.format import PreparedDataset
        jobs.append((args.test, list(range(len(PreparedDataset(Path(args.data_root) / args.test).layouts)))))
    to_run = set(args.folds) | {args.test}
    for held, layouts in sorted(jobs, key=lambda job: job[0] in to_run):    # what is on disk first, then the runs
        for seed in args.seeds:
            figs = run_fold(args, held, seed, layouts) if held in to_run else found(args, held, seed, layouts)
            for (model, layout), fig in figs.items():
                row = held if layout is None else f'{held} layout {layout}'
                results[row, seed, model] = fig
            if held in to_run:
                print(write_table(args, results))
    return results


if __name__ == '__main__':
    run_script(main)
