import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')     # tiny models: one thread each is fastest on 2 shared cores


# ---------------------------------------------------------------- Stage 2 and evaluation: shared, trained once

import pytest  # noqa: E402

TINY_STAGE1 = ["--datasets=['hapt']", '--d_model=32', '--depth=2', '--n_heads=2', '--decoder_depth=1',
               '--proj_dim=16', '--batch_size=8', '--steps_per_epoch=3', '--epochs=1', '--num_workers=0',
               '--log_interval=1']
TINY_STAGE2 = ["--datasets=['hapt']", '--batch_size=8', '--steps_per_epoch=3', '--epochs=2', '--num_workers=0',
               '--memory_bank_size=16', '--log_interval=1', '--save_every=1']


def one_thread():
    """torch on one thread for a tiny model: on a shared, busy machine two OpenMP threads
    oversubscribe the cores and the tiny training runs take ten times as long."""
    import contextlib
    import torch

    @contextlib.contextmanager
    def ctx():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
    return ctx()


@pytest.fixture
def one_torch_thread():
    """Use with pytestmark = pytest.mark.usefixtures('one_torch_thread'); restored after each test."""
    with one_thread():
        yield


@pytest.fixture(scope='session')
def text_model_once():
    """all-MiniLM-L6-v2 loaded at most once per test session: while this fixture is active every
    TextEmbedder (training, evaluation, model_loading) gets the same SentenceTransformer.
    Returns the loader: text_model_once('all-MiniLM-L6-v2', 'cpu') is that model."""
    import text_encoder
    original, cache = text_encoder.load_sentence_transformer, {}

    def load_once(name, device='cpu'):
        key = (str(name), str(device))
        if key not in cache:
            cache[key] = original(name, device)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(text_encoder, 'load_sentence_transformer', load_once)
        with one_thread():
            load_once('all-MiniLM-L6-v2', 'cpu')
        yield load_once


@pytest.fixture(scope='session')
def empty_data_root(tmp_path_factory):
    """A data root with nothing prepared: the scripts fall back to the shipped sample."""
    return tmp_path_factory.mktemp('no_prepared_data')


@pytest.fixture(scope='session')
def stage1_run(tmp_path_factory, empty_data_root):
    """A tiny Stage 1 run on the shipped hapt sample (3 steps): its run folder."""
    from pathlib import Path
    import pretrain
    out = tmp_path_factory.mktemp('stage1')
    with one_thread():
        return Path(pretrain.main([f'--data_root={empty_data_root}', f'--out_root={out / "s1"}', *TINY_STAGE1]))


@pytest.fixture(scope='session')
def stage2_run(tmp_path_factory, empty_data_root, stage1_run, text_model_once):
    """A tiny Stage 2 run from `stage1_run` (2 epochs of 3 steps): its run folder."""
    from pathlib import Path
    import semantic_alignment_train
    out = tmp_path_factory.mktemp('stage2')
    with one_thread():
        return Path(semantic_alignment_train.main([
            f'--stage1_checkpoint={stage1_run / "best.pt"}', f'--data_root={empty_data_root}',
            f'--out_root={out / "s2"}', *TINY_STAGE2]))


@pytest.fixture(autouse=True, scope='session')
def _one_torch_thread_for_the_suite():
    """Every test runs torch on one thread (the tiny models gain nothing from two, and on a busy
    2-core machine two threads oversubscribe the cores)."""
    with one_thread():
        yield
