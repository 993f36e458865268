"""Convert raw dataset downloads into the prepared format.

    python -m datasets.prepare hapt --raw path/to/UCI_HAPT
    python -m datasets.prepare all --raw path/to/raw_root      # each dataset in raw_root/<name>
    python -m datasets.prepare my_data --npz my_data.npz       # a user's own dataset

Output goes to --out (default data/prepared). A failed conversion exits non-zero and leaves any
earlier prepared copy of that dataset untouched.
"""
import argparse
import importlib
import sys
import time
from pathlib import Path

from datasets.format import DEFAULT_RATE_HZ, ConversionError
from settings import Parser, Refused, option, positive, run_script

DATASETS = ['uci_har', 'hhar', 'mhealth', 'pamap2', 'wisdm', 'unimib_shar', 'dsads', 'hapt',
            'ku_har', 'recgym']
EXTRA = ['hugadb', 'utd_mhad', 'sisfall', 'umafall',   # more training datasets (not in the ten)
         'spsw']                                         # the unseen evaluation set
DEFAULT_OUT = 'data/prepared'


def converter(name):
    """The `convert(raw, out_root, rate_hz)` function of dataset `name`."""
    if name not in DATASETS + EXTRA:
        raise Refused(f'unknown dataset "{name}"; choose from {", ".join(DATASETS + EXTRA)}, all')
    return importlib.import_module(f'datasets.{name}').convert


def summarise(meta, seconds):
    """One readable block per converted dataset."""
    n_lab = sum(l['segments'] for l in meta['labels'])
    lines = [f'{meta["name"]}: {meta["n_samples"]:,} samples x {meta["n_channels"]} channels at '
             f'{meta["rate_hz"]:g} Hz ({meta["n_samples"] / meta["rate_hz"] / 3600:.2f} h), '
             f'{len(meta["subjects"])} subjects, {n_lab} labelled segments, {seconds:.1f} s']
    width = max([len(l['name']) for l in meta['labels']] + [10])
    lines += [f'  {l["name"]:<{width}} {l["segments"]:>6} segments' for l in meta['labels']]
    for what, n in meta['repairs'].items():
        lines.append(f'  repaired: {what}: {n:,}')
    return '\n'.join(lines)


def main(argv=None):
    ap = Parser(prog='python -m datasets.prepare', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('name', help=f'one of {", ".join(DATASETS + EXTRA)}, "all", or a new name with --npz')
    ap.add_argument('--raw', help='folder holding the raw download (for "all": one sub-folder per dataset)')
    ap.add_argument('--npz', help='a user dataset: .npz with X (N,T,C), y (N,), sampling_rate_hz, channels (C,)')
    ap.add_argument('--out', default=DEFAULT_OUT, help=f'prepared data root (default {DEFAULT_OUT})')
    ap.add_argument('--rate', type=option(positive()), default=DEFAULT_RATE_HZ, help='stored sampling rate in Hz')
    args = ap.parse_args(argv)

    if args.npz:
        from datasets.user_npz import convert_npz
        jobs = [(args.name, lambda out, rate: convert_npz(args.npz, out, args.name, rate))]
    else:
        if not args.raw:
            ap.error('--raw is required (or --npz for your own data)')
        names = DATASETS if args.name == 'all' else [args.name]
        jobs = []
        for name in names:
            raw = Path(args.raw) / name if args.name == 'all' else Path(args.raw)
            fn = converter(name)
            jobs.append((name, lambda out, rate, fn=fn, raw=raw: fn(raw, out, rate_hz=rate)))

    failed = []
    try:
        from tqdm import tqdm
        bar = tqdm(jobs, desc='preparing', unit='dataset', disable=len(jobs) == 1)
    except ImportError:
        bar = jobs
    for name, job in bar:
        t0 = time.time()
        print(f'preparing {name} ...', file=sys.stderr, flush=True)
        try:
            meta = job(args.out, args.rate)
        except (ConversionError, FileNotFoundError, ValueError) as e:
            print(f'error: {name}: {e}', file=sys.stderr)
            failed.append(name)
            continue
        print(summarise(meta, time.time() - t0))
        print(f'  -> {Path(args.out) / name}')
    if failed:
        print(f'failed: {", ".join(failed)} (earlier prepared copies, if any, are unchanged)', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    run_script(main)
