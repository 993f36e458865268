"""The loader both stages use: windows, subject-disjoint splits, temperature sampling, batches.

    data = HARData(open_datasets(['hapt', 'uci_har']), window_s=4.0, rate_hz=50, seed=0)
    loader = data.loader('train', epoch=0, batch_size=20)   # a torch DataLoader of batch dicts

Windows have a fixed *maximum* duration. A segment shorter than that (UCI HAR's 2.56 s rows, a
3 s postural transition) gives one shorter window whose `length` says how many samples are real;
the model turns that into a patch mask, so padding never reaches a loss.

Each batch comes from one dataset, picked with probability p_i ~ n_i^alpha (alpha=0.5 by
default), so small datasets are not drowned and every batch has one channel layout family.
The batch order of an epoch is a pure function of (seed, epoch): resuming needs only the epoch
and the step within it.
"""
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from datasets.format import G, PAD_TYPE, SENSOR_TYPES, PreparedDataset, Seg, resample

MAG_SCALE = {'uT': 1 / 50.0, 'µT': 1 / 50.0, 'gauss': 2.0, 'Ga': 2.0}   # to roughly unit field
SPLITS = ('train', 'val', 'test')
SAMPLE_ROOT = Path(__file__).resolve().parent.parent / 'sample_data'


class Win:
    """Columns of HARData.windows[split] (N, 6) int64: the dataset's index, the window's first
    sample and real length (at the dataset's own rate), its label and subject (HARData's shared
    ids over all datasets) and its layout (the dataset's own)."""
    DATASET, START, LENGTH, LABEL, SUBJECT, LAYOUT = range(6)


def channel_scale(ch):
    """Factor taking a stored channel to model units: acc in g, gyro in rad/s, mag ~ 1."""
    if ch.sensor == 'acc':
        return 1.0 / G if ch.unit == 'm/s^2' else 1.0
    if ch.sensor == 'mag':
        return MAG_SCALE.get(ch.unit, 1.0)
    return 1.0


def open_datasets(names, root='data/prepared', sample_root=SAMPLE_ROOT, log=print):
    """Open prepared datasets by name. Missing ones are named once with the command that prepares
    them; if none is prepared, the shipped real sample is used instead, and that is said."""
    root = Path(root)
    found, missing = [], []
    for name in names:
        (found if (root / name / 'meta.json').exists() else missing).append(name)
    for name in missing:
        log(f'dataset {name} is not prepared in {root}: python -m datasets.prepare {name} --raw <download folder>')
    if found:
        return [PreparedDataset(root / n) for n in found]
    sample = [n for n in names if (Path(sample_root) / n / 'meta.json').exists()]
    if not sample:
        raise FileNotFoundError(f'none of {names} is prepared in {root}, and the shipped sample '
                                f'({sample_root}) has none of them either')
    log(f'no configured dataset is prepared: using the shipped sample ({", ".join(sample)}) from {sample_root}')
    return [PreparedDataset(Path(sample_root) / n) for n in sample]


def split_subjects(subjects, seed, name, fractions=(0.8, 0.1, 0.1)):
    """Deterministic subject-disjoint split of one dataset's subjects.

    Returns {'train': [...], 'val': [...], 'test': [...]} of subject indices. With 3 or more
    subjects, val and test get at least one each; with fewer, everything is train.
    """
    n = len(subjects)
    order = np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(n)
    if n < 3:
        return {'train': sorted(order.tolist()), 'val': [], 'test': []}
    n_test = max(1, int(round(fractions[2] * n)))
    n_val = max(1, int(round(fractions[1] * n)))
    return {'test': sorted(order[:n_test].tolist()),
            'val': sorted(order[n_test:n_test + n_val].tolist()),
            'train': sorted(order[n_test + n_val:].tolist())}


def cut_windows(segments, window, hop, min_len):
    """Windows of every segment, as a segment table of their own plus the segment each came
    from: segments (S, 5) -> (N, 6) int64, columns Seg (START, LENGTH, LABEL, SUBJECT, LAYOUT,
    SEGMENT). Segments shorter than `window` give one short window if at least `min_len` long;
    shorter ones are dropped."""
    start, length = segments[:, Seg.START], segments[:, Seg.LENGTH]
    n = np.where(length >= window, (length - window) // hop + 1, (length >= min_len).astype(np.int64))
    seg = np.repeat(np.arange(len(segments)), n)
    first = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(n.sum()) - first                            # window number within its segment
    out = np.empty((len(seg), 6), np.int64)
    out[:, :Seg.SEGMENT] = segments[seg]
    out[:, Seg.START] = start[seg] + k * hop
    out[:, Seg.LENGTH] = np.minimum(length[seg], window)
    out[:, Seg.SEGMENT] = seg
    return out


class HARData:
    """Windows of several prepared datasets with a shared label vocabulary and channel tables."""

    def __init__(self, datasets, window_s=4.0, rate_hz=50.0, hop_s=None, min_window_s=1.0,
                 seed=0, labelled_only=False, fractions=(0.8, 0.1, 0.1), alpha=0.5,
                 subjects_override=None, class_alpha=1.0):
        self.datasets = list(datasets)
        self.window_s, self.rate_hz, self.alpha, self.seed = window_s, float(rate_hz), alpha, seed
        self.class_alpha = class_alpha        # within a dataset, class c drawn with p ~ n_c ** class_alpha
        self.window = int(round(window_s * rate_hz))               # samples per window, model rate
        hop_s = window_s / 2 if hop_s is None else hop_s

        # shared vocabularies: labels by canonical text, channel descriptions, subjects
        self.label_names, self.channel_texts, self.subject_names = [], [], []
        self.ds_label_map, self.layout_info = [], []
        self.label_descriptions = {}          # label name -> its distinct descriptions over the datasets
        self._no_gravity = {}                 # channel text id -> the id of its gravity-removed text
        for d in self.datasets:
            self.ds_label_map.append(np.array([self._intern(self.label_names, l) for l in d.labels] + [-1]))
            self.layout_info.append([self._layout_tables(layout) for layout in d.layouts])
            for name, entry in zip(d.labels, d.meta['labels']):
                desc = self.label_descriptions.setdefault(name, [])
                if entry.get('description') and entry['description'] not in desc:
                    desc.append(entry['description'])

        # channel text id -> the same channel's text with 'gravity removed' (itself if not an accelerometer
        # with gravity): what augmentations.remove_gravity's windows are described as
        self.gravity_removed_text = np.array([self._no_gravity.get(t, t) for t in range(len(self.channel_texts))],
                                             np.int64)

        # windows per split: (N, 6) int64, columns Win
        tables = {s: [] for s in SPLITS}
        self.split_subjects = {s: {} for s in SPLITS}
        for i, d in enumerate(self.datasets):
            w = int(round(window_s * d.rate_hz))
            win = cut_windows(d.segments, w, max(1, int(round(hop_s * d.rate_hz))),
                              max(1, int(round(min_window_s * d.rate_hz))))
            if labelled_only:
                win = win[win[:, Seg.LABEL] >= 0]
            split = (subjects_override or {}).get(d.name) or split_subjects(d.subjects, seed, d.name, fractions)
            subj_global = np.array([self._intern(self.subject_names, f'{d.name}:{s}') for s in d.subjects])
            for s in SPLITS:
                self.split_subjects[s][d.name] = [d.subjects[k] for k in split[s]]
                sel = win[np.isin(win[:, Seg.SUBJECT], split[s])]
                t = np.empty((len(sel), 6), np.int64)
                t[:, Win.DATASET] = i
                t[:, Win.START] = sel[:, Seg.START]
                t[:, Win.LENGTH] = sel[:, Seg.LENGTH]
                t[:, Win.LABEL] = self.ds_label_map[i][sel[:, Seg.LABEL]]
                t[:, Win.SUBJECT] = subj_global[sel[:, Seg.SUBJECT]]
                t[:, Win.LAYOUT] = sel[:, Seg.LAYOUT]
                tables[s].append(t)
        self.windows = {s: (np.concatenate(tables[s]) if tables[s] else np.zeros((0, 6), np.int64))
                        for s in SPLITS}

    @staticmethod
    def _intern(table, key):
        if key not in table:
            table.append(key)
        return table.index(key)

    def _layout_tables(self, layout):
        """Per-channel arrays of one layout: type id, text id, scale; and its sensor triads
        (G, 5), columns Triad."""
        types = np.array([SENSOR_TYPES.index(c.sensor) for c in layout])
        texts = np.array([self._intern(self.channel_texts, c.description) for c in layout])
        for c, t in zip(layout, texts):      # each accelerometer's text as it reads with gravity removed
            plain = replace(c, gravity=False) if c.sensor == 'acc' and c.gravity is not False else c
            self._no_gravity[t] = self._intern(self.channel_texts, plain.description)
        scale = np.array([channel_scale(c) for c in layout], np.float32)
        # triads: channels (x, y, z) of one sensor of one device; device ids group triads that rotate together
        devices, triads = [], []
        for ci, c in enumerate(layout):
            if c.axis != 'x':
                continue
            group = [ci] + [cj for cj, o in enumerate(layout) if o.sensor == c.sensor and o.axis in 'yz'
                            and (o.device, o.placement) == (c.device, c.placement)]
            if len(group) == 3:
                dev = self._intern(devices, (c.device, c.placement))
                triads.append((group[0], group[1], group[2], dev, SENSOR_TYPES.index(c.sensor)))   # Triad columns
        return {'types': types, 'texts': texts, 'scale': scale,
                'triads': np.array(triads, np.int64).reshape(-1, 5)}

    # ------------------------------------------------------------------ sampling

    def dataset_sizes(self, split):
        return np.bincount(self.windows[split][:, Win.DATASET], minlength=len(self.datasets))

    def epoch_plan(self, split, epoch, batch_size, steps=None):
        """Batches of one epoch as window indices (steps, batch_size), a pure function of
        (seed, split, epoch). Train: temperature-sampled datasets, each walked in a fresh random
        order. val/test: every window exactly once, dataset by dataset, in order (the last batch
        of a dataset may be shorter, so plans for those splits are a list of arrays)."""
        win = self.windows[split]
        sizes = self.dataset_sizes(split)
        if split != 'train':
            batches = []
            for i in np.flatnonzero(sizes):
                idx = np.flatnonzero(win[:, Win.DATASET] == i)
                batches += [idx[k:k + batch_size] for k in range(0, len(idx), batch_size)]
            return batches
        if sizes.sum() == 0:
            raise ValueError('no training windows: check the datasets, the split and window settings')
        rng = np.random.default_rng([self.seed, epoch, 7])
        p = sizes.astype(np.float64) ** self.alpha
        p /= p.sum()
        steps = steps or max(1, int(sizes.sum()) // batch_size)
        pick = rng.choice(len(sizes), size=steps, p=p)
        plan = np.empty((steps, batch_size), np.int64)
        for i in np.flatnonzero(np.bincount(pick, minlength=len(sizes))):
            rows = np.flatnonzero(pick == i)
            idx = np.flatnonzero(win[:, Win.DATASET] == i)
            need = len(rows) * batch_size
            if self.class_alpha == 1.0:       # every window once per pass, in a fresh random order
                order = np.concatenate([idx[rng.permutation(len(idx))] for _ in range(-(-need // len(idx)))])
            else:                             # windows drawn with replacement, p ~ n_class ** (class_alpha - 1)
                label = win[idx, Win.LABEL]
                group = np.where(label < 0, label.max(initial=0) + 1, label)    # unlabelled: a group of its own
                w = np.bincount(group)[group].astype(np.float64) ** (self.class_alpha - 1)
                order = idx[rng.choice(len(idx), size=need, p=w / w.sum())]
            plan[rows] = order[:need].reshape(len(rows), batch_size)
        return plan

    # ------------------------------------------------------------------ reading

    def read_batch(self, split, idx):
        """Window indices (B,) -> dict of numpy arrays (see `collate` keys in the README):
        x (B, T, C) model units, length (B,), channel_mask (B, C), channel_type (B, C),
        channel_text (B, C), triads (B, G, 5), label, subject, dataset (B,)."""
        rows = self.windows[split][np.asarray(idx)]
        B = len(rows)
        infos = [self.layout_info[d][l] for d, l in zip(rows[:, Win.DATASET], rows[:, Win.LAYOUT])]
        c_max = max(len(info['types']) for info in infos)
        g_max = max(len(info['triads']) for info in infos)
        out = {'x': np.zeros((B, self.window, c_max), np.float32),
               'length': np.zeros(B, np.int64),
               'channel_mask': np.zeros((B, c_max), bool),
               'channel_type': np.full((B, c_max), PAD_TYPE, np.int64),
               'channel_text': np.zeros((B, c_max), np.int64),
               'triads': np.full((B, max(g_max, 1), 5), -1, np.int64),
               'label': rows[:, Win.LABEL].copy(), 'subject': rows[:, Win.SUBJECT].copy(),
               'dataset': rows[:, Win.DATASET].copy()}
        for d in np.unique(rows[:, Win.DATASET]):
            ds, sel = self.datasets[d], np.flatnonzero(rows[:, Win.DATASET] == d)
            w = int(round(self.window_s * ds.rate_hz))
            starts, lengths = rows[sel, Win.START], rows[sel, Win.LENGTH]
            x = ds.read_windows(starts, lengths, w)                          # (n, w, C), held past length
            if ds.rate_hz != self.rate_hz:
                x = resample_windows(x, ds.rate_hz, self.rate_hz, self.window)
                lengths = np.minimum(np.round(lengths * self.rate_hz / ds.rate_hz).astype(np.int64), self.window)
            x = x * (np.arange(self.window)[None, :, None] < lengths[:, None, None])   # zero past length
            for layout in np.unique(rows[sel, Win.LAYOUT]):
                info, k = self.layout_info[d][layout], rows[sel, Win.LAYOUT] == layout
                b, C = sel[k], len(info['types'])              # a narrower layout uses the first C channels
                out['x'][b, :, :C] = x[k][:, :, :C] * info['scale']
                out['triads'][b, :len(info['triads'])] = info['triads']
                out['channel_type'][b, :C] = info['types']
                out['channel_text'][b, :C] = info['texts']
                out['channel_mask'][b, :C] = True
            out['length'][sel] = lengths
        return out

    def loader(self, split, epoch, batch_size, start_step=0, num_workers=0, pin_memory=False, steps=None):
        """A DataLoader over the epoch plan, starting at `start_step` (for exact resume).
        Its own generator keeps worker seeding from consuming the global torch RNG, so a resumed
        run's RNG stream matches an uninterrupted one."""
        plan = self.epoch_plan(split, epoch, batch_size, steps)[start_step:]
        return torch.utils.data.DataLoader(_PlanDataset(self, split, plan), batch_size=None,
                                           shuffle=False, num_workers=num_workers,
                                           pin_memory=pin_memory, persistent_workers=False,
                                           generator=torch.Generator().manual_seed(epoch))

    def describe(self):
        """Human-readable summary of windows per dataset and split."""
        lines = []
        for i, d in enumerate(self.datasets):
            n = [int((self.windows[s][:, Win.DATASET] == i).sum()) for s in SPLITS]
            lines.append(f'{d.name:<12} {d.meta["n_channels"]:>3} ch  windows train/val/test {n[0]}/{n[1]}/{n[2]}  '
                         f'subjects {"/".join(str(len(self.split_subjects[s][d.name])) for s in SPLITS)}')
        return '\n'.join(lines)


class _PlanDataset(torch.utils.data.Dataset):
    def __init__(self, data, split, plan):
        self.data, self.split, self.plan = data, split, plan

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, i):
        return {k: torch.from_numpy(v) for k, v in self.data.read_batch(self.split, self.plan[i]).items()}


def resample_windows(x, rate_in, rate_out, n_out):
    """Resample a batch of windows along time. x: (B, T, C) -> (B, n_out, C), zero-padded/cut."""
    y = resample(x, rate_in, rate_out, axis=1)
    if y.shape[1] < n_out:
        y = np.concatenate([y, np.zeros((y.shape[0], n_out - y.shape[1], y.shape[2]), np.float32)], 1)
    return y[:, :n_out]


def main():
    """Demo: summarise the windows and one batch of the configured (or shipped) data."""
    import argparse
    ap = argparse.ArgumentParser(description='Show what the loader makes of the prepared data.')
    ap.add_argument('names', nargs='*', default=['hapt'])
    ap.add_argument('--root', default='data/prepared')
    args = ap.parse_args()
    data = HARData(open_datasets(args.names, args.root))
    print(data.describe())
    batch = next(iter(data.loader('train', 0, 8)))
    for k, v in batch.items():
        print(f'{k:<13} {tuple(v.shape)} {v.dtype}')


if __name__ == '__main__':
    main()
