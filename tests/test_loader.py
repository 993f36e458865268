"""The loader: subject-disjoint deterministic splits, window cutting, mixed channel counts,
temperature sampling, resampling to the model rate, and the fallback to the shipped sample."""
from pathlib import Path

import numpy as np
import pytest
import torch

from datasets.format import G, PreparedDataset, PreparedWriter, triad
from datasets.format import PAD_TYPE
from datasets.loader import (SAMPLE_ROOT, SPLITS, HARData, cut_windows, open_datasets,
                             split_subjects)

LABELS = [('walking', 'walking on flat ground'), ('sitting', 'sitting still')]


def write_dataset(root, name, n_subjects, seg_lens, channels=6, rate=50.0, seed=0):
    """A prepared dataset in root/name: every subject records one segment per entry of seg_lens
    (labels alternate). 6 channels: acc + gyro of a phone; 3 channels: acc of a watch."""
    if channels == 6:
        layout = triad('acc', 'm/s^2', 'waist', 'phone', True) + triad('gyro', 'rad/s', 'waist', 'phone')
    else:
        layout = triad('acc', 'g', 'wrist', 'watch', True)
    rng = np.random.default_rng(seed)
    with PreparedWriter(root, name, LABELS, [layout], rate_hz=rate) as w:
        for s in range(n_subjects):
            for k, n in enumerate(seg_lens):
                w.add_recording(rng.normal(size=(n, channels)).astype(np.float32), k % 2, f's{s}', rate)
    return PreparedDataset(Path(root) / name)


def silent(*_):
    pass


@pytest.fixture(scope='module')
def sample():
    return open_datasets(['hapt'], root='/nonexistent', log=silent)


# ------------------------------------------------------------------ splits

def check_disjoint(data):
    for i, d in enumerate(data.datasets):
        named = [set(data.split_subjects[s][d.name]) for s in SPLITS]
        assert not (named[0] & named[1] or named[0] & named[2] or named[1] & named[2])
        assert set().union(*named) == set(d.subjects)
        ids = [set(data.windows[s][data.windows[s][:, 0] == i, 4].tolist()) for s in SPLITS]
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_splits_are_subject_disjoint_on_the_sample(sample):
    data = HARData(sample, 4.0, 50.0, 2.0, 1.0, seed=42)
    check_disjoint(data)
    assert all(len(data.windows[s]) > 0 for s in SPLITS)
    sizes = {s: len(data.split_subjects[s]['hapt']) for s in SPLITS}
    assert sizes == {'train': 4, 'val': 1, 'test': 1}


def test_splits_are_subject_disjoint_across_datasets(tmp_path):
    a = write_dataset(tmp_path, 'a', 10, [120, 300])
    b = write_dataset(tmp_path, 'b', 4, [250], channels=3, seed=1)
    c = write_dataset(tmp_path, 'c', 2, [250], seed=2)             # < 3 subjects: all train
    data = HARData([a, b, c], 4.0, 50.0, 2.0, 1.0, seed=0)
    check_disjoint(data)
    assert data.split_subjects['val']['c'] == [] and len(data.split_subjects['train']['c']) == 2
    assert len(data.split_subjects['test']['a']) == 1 and len(data.split_subjects['val']['a']) == 1


def test_label_descriptions_are_collected_once_per_distinct_text(tmp_path):
    a = write_dataset(tmp_path, 'a', 3, [120])
    b = write_dataset(tmp_path, 'b', 3, [120], seed=1)                # same labels, same descriptions
    data = HARData([a, b], 4.0, 50.0, 2.0, 1.0)
    assert data.label_names == ['walking', 'sitting']
    assert data.label_descriptions == {'walking': ['walking on flat ground'], 'sitting': ['sitting still']}


def test_same_seed_same_split_and_plan(sample):
    d1 = HARData(sample, 4.0, 50.0, 2.0, 1.0, seed=42)
    d2 = HARData(sample, 4.0, 50.0, 2.0, 1.0, seed=42)
    d3 = HARData(sample, 4.0, 50.0, 2.0, 1.0, seed=1)
    assert d1.split_subjects == d2.split_subjects
    for s in SPLITS:
        assert np.array_equal(d1.windows[s], d2.windows[s])
    for epoch in (0, 3):
        assert np.array_equal(d1.epoch_plan('train', epoch, 8), d2.epoch_plan('train', epoch, 8))
    assert not np.array_equal(d1.epoch_plan('train', 0, 8), d1.epoch_plan('train', 1, 8))
    assert d1.split_subjects != d3.split_subjects
    # the split function itself
    subjects = [str(k) for k in range(20)]
    assert split_subjects(subjects, 0, 'x') == split_subjects(subjects, 0, 'x')
    assert split_subjects(subjects, 0, 'x') != split_subjects(subjects, 1, 'x')
    assert split_subjects(subjects, 0, 'x') != split_subjects(subjects, 0, 'y')   # per dataset


def test_split_sizes():
    s = split_subjects(list(range(30)), 0, 'd')
    assert [len(s[k]) for k in ('train', 'val', 'test')] == [24, 3, 3]
    assert sorted(s['train'] + s['val'] + s['test']) == list(range(30))
    s = split_subjects(list(range(3)), 0, 'd')
    assert [len(s[k]) for k in ('train', 'val', 'test')] == [1, 1, 1]
    s = split_subjects(list(range(2)), 0, 'd')
    assert s == {'train': [0, 1], 'val': [], 'test': []}


# ------------------------------------------------------------------ windows

def test_cut_windows_edge_cases():
    #                 start length label subject layout
    segs = np.array([[0, 200, 1, 0, 0],        # exactly one window
                     [200, 299, 0, 1, 0],      # window + hop - 1: still one
                     [499, 300, 0, 1, 0],      # window + hop: two
                     [799, 120, 1, 2, 0],      # short, >= min_len: one short window
                     [919, 49, 1, 2, 0],       # shorter than min_len: dropped
                     [968, 50, -1, 3, 1]],     # exactly min_len: kept
                    np.int64)
    w = cut_windows(segs, 200, 100, 50)
    assert w.dtype == np.int64 and w.shape == (6, 6)
    assert w[:, 0].tolist() == [0, 200, 499, 599, 799, 968]            # starts
    assert w[:, 1].tolist() == [200, 200, 200, 200, 120, 50]            # lengths
    assert w[:, 2].tolist() == [1, 0, 0, 0, 1, -1]                      # labels
    assert w[:, 3].tolist() == [0, 1, 1, 1, 2, 3]                       # subjects
    assert w[:, 4].tolist() == [0, 0, 0, 0, 0, 1]                       # layouts
    assert w[:, 5].tolist() == [0, 1, 2, 2, 3, 5]                       # segment index
    assert (w[:, 0] + w[:, 1] <= segs[w[:, 5], 0] + segs[w[:, 5], 1]).all()   # never past the segment


def test_cut_windows_long_segment_and_empty():
    segs = np.array([[10, 1000, 0, 0, 0]], np.int64)
    w = cut_windows(segs, 200, 50, 50)
    assert len(w) == (1000 - 200) // 50 + 1
    assert np.array_equal(w[:, 0], 10 + 50 * np.arange(len(w)))
    assert w[-1, 0] + 200 <= 1010
    assert cut_windows(np.zeros((0, 5), np.int64), 200, 100, 50).shape == (0, 6)


# ------------------------------------------------------------------ batches

def test_read_batch_mixes_channel_counts(tmp_path):
    a = write_dataset(tmp_path, 'six', 2, [200, 130])                 # 50 Hz, 6 channels, m/s^2
    b = write_dataset(tmp_path, 'three', 2, [90, 260], channels=3, seed=1)   # 3 channels, in g
    data = HARData([a, b], 4.0, 50.0, 2.0, 1.0, seed=0)
    win = data.windows['train']
    idx = np.array([np.flatnonzero(win[:, 0] == 0)[0], np.flatnonzero(win[:, 0] == 1)[0],
                    np.flatnonzero(win[:, 0] == 0)[1], np.flatnonzero(win[:, 0] == 1)[1]])
    out = data.read_batch('train', idx)
    assert out['x'].shape == (4, 200, 6) and out['x'].dtype == np.float32
    assert out['channel_mask'].tolist() == [[True] * 6, [True] * 3 + [False] * 3] * 2
    assert out['channel_type'].tolist() == [[0, 0, 0, 1, 1, 1], [0, 0, 0] + [PAD_TYPE] * 3] * 2
    assert out['dataset'].tolist() == [0, 1, 0, 1]
    assert out['triads'].shape == (4, 2, 5)
    assert out['triads'][0].tolist() == [[0, 1, 2, 0, 0], [3, 4, 5, 0, 1]]
    assert out['triads'][1].tolist() == [[0, 1, 2, 0, 0], [-1] * 5]
    for k, i in enumerate(idx):
        d, start, n = win[i, 0], win[i, 1], win[i, 2]
        assert out['length'][k] == n
        ds = data.datasets[d]
        scale = 1 / G if d == 0 else 1.0                               # acc to g, gyro as is
        want = np.asarray(ds.signals[start:start + n]).copy()
        want[:, :3] *= scale
        np.testing.assert_allclose(out['x'][k, :n, :want.shape[1]], want, rtol=1e-6)
        assert np.all(out['x'][k, n:] == 0)                              # zero past length
        assert np.all(out['x'][k, :, want.shape[1]:] == 0)               # zero in padded channels
    assert sorted(out['length'].tolist()) == [90, 130, 200, 200]


def test_layouts_of_different_widths_in_one_dataset(tmp_path):
    """A 3-channel phone layout beside a 9-channel tag layout: the writer zero-fills the phone's
    rows to 9 channels, and the loader gives its windows 3 real channels, masked past them."""
    phone = triad('acc', 'm/s^2', 'trouser pocket', 'smartphone', True)
    tag = (triad('acc', 'm/s^2', 'wrist', 'tag', True) + triad('gyro', 'rad/s', 'wrist', 'tag')
           + triad('mag', 'uT', 'wrist', 'tag'))
    with PreparedWriter(tmp_path, 'mixed', LABELS, [phone, tag], rate_hz=50.0) as w:
        w.add_recording(np.full((200, 3), G, np.float32), 0, 's0', 50.0, layout=0)
        w.add_recording(np.ones((200, 9), np.float32), 1, 's0', 50.0, layout=1)
        with pytest.raises(Exception, match='expected 3 channels'):
            w.add_recording(np.ones((200, 9), np.float32), 0, 's0', 50.0, layout=0)
    ds = PreparedDataset(tmp_path / 'mixed')
    assert ds.meta['n_channels'] == 9 and [len(l) for l in ds.layouts] == [3, 9]
    assert np.all(np.asarray(ds.signals)[:200, 3:] == 0)                    # the phone's unused channels
    data = HARData([ds], 4.0, 50.0, 4.0, 1.0, subjects_override={'mixed': {'train': [0], 'val': [], 'test': []}})
    b = data.read_batch('train', np.arange(len(data.windows['train'])))
    phone_rows = b['channel_type'][:, 3] == PAD_TYPE
    assert phone_rows.sum() == 1 and b['channel_mask'][phone_rows].sum() == 3
    assert b['channel_mask'][~phone_rows].sum() == 9
    np.testing.assert_allclose(b['x'][phone_rows][0, :, :3], 1.0)        # m/s^2 -> g
    assert np.all(b['x'][phone_rows][0, :, 3:] == 0)


def test_loader_follows_the_plan_from_start_step(sample):
    data = HARData(sample, 4.0, 50.0, 2.0, 1.0, seed=3)
    plan = data.epoch_plan('train', 1, 4, steps=6)
    assert plan.shape == (6, 4)
    batches = list(data.loader('train', 1, 4, start_step=2, steps=6))
    assert len(batches) == 4
    for k, got in enumerate(batches):
        want = data.read_batch('train', plan[2 + k])
        assert set(got) == set(want)
        for key in want:
            assert torch.equal(got[key], torch.from_numpy(want[key]))


def test_val_and_test_plans_cover_every_window_once(tmp_path):
    a = write_dataset(tmp_path, 'a', 6, [230, 450])
    b = write_dataset(tmp_path, 'b', 5, [300], channels=3, seed=1)
    data = HARData([a, b], 4.0, 50.0, 2.0, 1.0, seed=0)
    for split in ('val', 'test'):
        plan = data.epoch_plan(split, 0, 3)
        flat = np.concatenate(plan)
        assert sorted(flat.tolist()) == list(range(len(data.windows[split])))
        for idx in plan:                                               # one dataset per batch
            assert len(set(data.windows[split][idx, 0].tolist())) == 1
        assert data.epoch_plan(split, 5, 3)[0].tolist() == plan[0].tolist()   # fixed, whatever the epoch


def test_temperature_sampling(tmp_path):
    small = write_dataset(tmp_path, 'small', 2, [200] * 50)           # 2 subjects: all train, 100 windows
    big = write_dataset(tmp_path, 'big', 2, [200] * 200, seed=1)      # 400 windows
    data = HARData([small, big], 4.0, 50.0, 2.0, 1.0, seed=0, alpha=0.5)
    assert data.dataset_sizes('train').tolist() == [100, 400]
    plan = data.epoch_plan('train', 0, 4, steps=4000)
    ds = data.windows['train'][plan, 0]                                # (steps, batch)
    assert (ds == ds[:, :1]).all()                                     # one dataset per batch
    freq = np.bincount(ds[:, 0], minlength=2) / len(ds)
    want = np.sqrt([100, 400]) / np.sqrt([100, 400]).sum()            # 1/3, 2/3
    np.testing.assert_allclose(freq, want, atol=0.03)
    # alpha = 1: proportional to size; alpha = 0: uniform
    for alpha, want in ((1.0, [0.2, 0.8]), (0.0, [0.5, 0.5])):
        d = HARData([small, big], 4.0, 50.0, 2.0, 1.0, seed=0, alpha=alpha)
        ds = d.windows['train'][d.epoch_plan('train', 0, 4, steps=4000)[:, 0], 0]
        np.testing.assert_allclose(np.bincount(ds, minlength=2) / len(ds), want, atol=0.03)
    # within a dataset, windows are walked without repetition until all were seen
    plan = data.epoch_plan('train', 1, 4, steps=30)
    for i in range(2):
        rows = plan[data.windows['train'][plan[:, 0], 0] == i].ravel()
        assert len(rows) == len(set(rows.tolist()))


def test_class_sampling_within_a_dataset(tmp_path):
    """class_alpha: class c drawn with p ~ n_c ** class_alpha (1: as the windows come, 0: balanced)."""
    ds = write_dataset(tmp_path, 'skewed', 2, [1000, 200])            # walking 24 windows, sitting 4 per subject
    for class_alpha in (1.0, 0.5, 0.0):
        data = HARData([ds], 4.0, 50.0, 0.4, 1.0, seed=0, labelled_only=True, class_alpha=class_alpha)
        n = np.bincount(data.windows['train'][:, 3])
        plan = data.epoch_plan('train', 0, 8, steps=2000)
        freq = np.bincount(data.windows['train'][plan, 3].ravel(), minlength=2) / plan.size
        want = n ** class_alpha / (n ** class_alpha).sum()
        np.testing.assert_allclose(freq, want, atol=0.02)
        assert np.array_equal(plan, data.epoch_plan('train', 0, 8, steps=2000))   # a pure function of the epoch
        assert not np.array_equal(plan, data.epoch_plan('train', 1, 8, steps=2000))


# ------------------------------------------------------------------ resampling

def test_resampling_to_the_model_rate(tmp_path):
    t = np.arange(300) / 25.0
    sig = np.stack([np.sin(2 * np.pi * 0.5 * t)] * 3, 1).astype(np.float32)   # 0.5 Hz, in g
    with PreparedWriter(tmp_path, 'slow', LABELS, [triad('acc', 'g', 'wrist', 'watch')], rate_hz=25.0) as w:
        w.add_recording(sig[:100], 0, 's0', 25.0)                     # 4 s: one full window
        w.add_recording(sig[100:170], 1, 's0', 25.0)                  # 2.8 s: one short window
        w.add_recording(sig, 0, 's1', 25.0)                           # 12 s: five windows (2 s hop)
    d = PreparedDataset(tmp_path / 'slow')
    data = HARData([d], 4.0, 50.0, 2.0, 1.0, seed=0)
    win = data.windows['train']
    assert len(win) == 1 + 1 + 5
    out = data.read_batch('train', np.arange(len(win)))
    assert out['x'].shape == (7, 200, 3)                               # 4 s at 50 Hz
    assert sorted(out['length'].tolist()) == [140] + [200] * 6
    for k in range(7):
        n = out['length'][k]
        assert np.all(out['x'][k, n:] == 0)
    full = np.flatnonzero((win[:, 2] == 100) & (win[:, 1] == 0))[0]   # first window of subject 0
    t50 = np.arange(200) / 50.0
    np.testing.assert_allclose(out['x'][full, 20:180, 0], np.sin(2 * np.pi * 0.5 * t50[20:180]), atol=0.05)


def test_resampling_keeps_a_constant_up_to_the_window_edges(tmp_path):
    """Gravity is a constant: resampling a window must not make it ripple or droop at the edges."""
    with PreparedWriter(tmp_path, 'still', LABELS, [triad('acc', 'g', 'wrist', 'watch')], rate_hz=25.0) as w:
        w.add_recording(np.tile(np.float32([0.0, 0.0, 1.0]), (100, 1)), 0, 's0', 25.0)   # 4 s lying still
        w.add_recording(np.tile(np.float32([0.0, 0.0, 1.0]), (60, 1)), 1, 's1', 25.0)    # 2.4 s
    data = HARData([PreparedDataset(tmp_path / 'still')], 4.0, 50.0, 2.0, 1.0, seed=0)
    out = data.read_batch('train', np.arange(len(data.windows['train'])))
    for k in range(len(out['x'])):
        n = out['length'][k]
        np.testing.assert_allclose(out['x'][k, :n, 2], 1.0, atol=0.01)
        np.testing.assert_allclose(out['x'][k, :n, :2], 0.0, atol=0.01)


def test_sample_is_resampled_from_25_hz(sample):
    assert sample[0].rate_hz == 25.0
    data = HARData(sample, 4.0, 50.0, 2.0, 1.0, seed=0)
    out = data.read_batch('val', data.epoch_plan('val', 0, 16)[0])
    assert out['x'].shape == (16, 200, 6)
    assert (out['length'] <= 200).all() and (out['length'] >= 50).all()
    assert out['channel_mask'].all()
    assert out['channel_type'][0].tolist() == [0, 0, 0, 1, 1, 1]
    acc_norm = np.linalg.norm(out['x'][0, :out['length'][0], :3], axis=-1)
    assert 0.7 < acc_norm.mean() < 1.3                                 # gravity included, in g


# ------------------------------------------------------------------ opening datasets

def test_open_datasets_falls_back_to_the_sample(tmp_path):
    logs = []
    ds = open_datasets(['hapt', 'uci_har'], root=tmp_path / 'prepared', log=logs.append)
    assert [d.name for d in ds] == ['hapt']
    assert Path(ds[0].path).resolve() == (SAMPLE_ROOT / 'hapt').resolve()
    missing = [m for m in logs if 'not prepared' in m]
    assert len(missing) == 2
    for name, m in zip(['hapt', 'uci_har'], missing):
        assert f'python -m datasets.prepare {name}' in m
    assert any('shipped sample' in m and 'hapt' in m for m in logs)


def test_open_datasets_uses_what_is_prepared(tmp_path):
    write_dataset(tmp_path, 'hapt', 3, [200])
    logs = []
    ds = open_datasets(['hapt', 'uci_har'], root=tmp_path, log=logs.append)
    assert [d.name for d in ds] == ['hapt']
    assert Path(ds[0].path) == tmp_path / 'hapt'                       # not the sample
    assert len(logs) == 1 and 'python -m datasets.prepare uci_har' in logs[0]
    assert not any('sample' in m for m in logs)


def test_open_datasets_nothing_anywhere(tmp_path):
    with pytest.raises(FileNotFoundError, match='uci_har'):
        open_datasets(['uci_har'], root=tmp_path, sample_root=tmp_path / 'nothing', log=silent)
