"""text_encoder: works from the repo root when Hugging Face `datasets` is installed (our
`datasets/` package shadows it), never downloads, and encodes each text once."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from text_encoder import TextEmbedder, resolve_model_path

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures('one_torch_thread')

FAKE_HF_DATASETS = '''import os
__version__ = '9.9.9'
with open(os.environ['FAKE_HF_DATASETS_MARK'], 'a') as f:      # proves third-party code imported it
    f.write('imported\\n')


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    return type(name, (), {})                                  # a dummy class for any name
'''

SCRIPT = r'''
import json, sys
import datasets.loader                                         # this repo's package, imported first
first = datasets.loader.__file__
from text_encoder import TextEmbedder
emb = TextEmbedder().sentences(['walking'])
import datasets.loader
import datasets.user_npz                                       # a submodule not imported before
print('RESULT ' + json.dumps({
    'first': first, 'shape': list(emb.shape), 'norm': float(emb.norm()),
    'loader_after': datasets.loader.__file__, 'package_after': sys.modules['datasets'].__file__,
    'user_npz_after': datasets.user_npz.__file__,
    'hf_datasets_version': __import__('importlib.metadata').metadata.version('datasets'),
}))
'''


def test_encodes_from_repo_root_with_hugging_face_datasets_installed(tmp_path):
    site = tmp_path / 'site'
    (site / 'datasets').mkdir(parents=True)
    (site / 'datasets' / '__init__.py').write_text(FAKE_HF_DATASETS)
    (site / 'datasets-9.9.9.dist-info').mkdir()
    (site / 'datasets-9.9.9.dist-info' / 'METADATA').write_text('Metadata-Version: 2.1\nName: datasets\nVersion: 9.9.9\n')
    mark = tmp_path / 'imported.txt'
    env = {**os.environ, 'PYTHONPATH': str(site), 'FAKE_HF_DATASETS_MARK': str(mark),
           'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads([l for l in proc.stdout.splitlines() if l.startswith('RESULT ')][-1][len('RESULT '):])
    assert Path(out['first']) == REPO / 'datasets' / 'loader.py'
    assert out['shape'] == [1, 384] and out['norm'] == pytest.approx(1.0, abs=1e-5)
    assert Path(out['loader_after']) == REPO / 'datasets' / 'loader.py'
    assert Path(out['package_after']) == REPO / 'datasets' / '__init__.py'
    assert Path(out['user_npz_after']) == REPO / 'datasets' / 'user_npz.py'
    assert out['hf_datasets_version'] == '9.9.9'                      # the fake is what is installed
    # the text model's import did see Hugging Face's `datasets` (ours was hidden), so the clash was real
    assert mark.is_file() and 'imported' in mark.read_text()


# ------------------------------------------------------------------ never downloads

@pytest.mark.parametrize('name', ['sentence-transformers/all-mpnet-base-v2', 'no-such-model'])
def test_unknown_model_name_is_refused_without_download(name):
    with pytest.raises(SystemExit) as e:
        resolve_model_path(name)
    assert 'never downloads' in str(e.value) and name in str(e.value)
    with pytest.raises(SystemExit, match='never downloads'):
        TextEmbedder(name).sentences(['walking'])


def test_local_folder_and_packaged_model_resolve(tmp_path):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    packaged = Path(resolve_model_path('all-MiniLM-L6-v2'))
    assert packaged.is_dir()
    assert resolve_model_path('sentence-transformers/all-MiniLM-L6-v2') == str(packaged)


# ------------------------------------------------------------------ cache

class CountingModel:
    """Wraps the real model and records every text it is asked to encode."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def encode(self, texts, **kw):
        self.calls.append((kw.get('output_value', 'sentence_embedding'), list(texts)))
        return self.model.encode(texts, **kw)

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.fixture
def counted(text_model_once):
    emb = TextEmbedder()
    emb._model = CountingModel(text_model_once('all-MiniLM-L6-v2', 'cpu'))
    emb._sent, emb._tok = {}, {}                                      # its own, empty caches
    return emb


def test_same_text_is_encoded_once(counted):
    a = counted.sentences(['walking', 'sitting'])
    b = counted.sentences(['walking', 'sitting'])
    assert torch.equal(a, b) and a.shape == (2, 384)
    assert counted.model.calls == [('sentence_embedding', ['walking', 'sitting'])]
    c = counted.sentences(['sitting', 'lying', 'walking', 'lying'])  # only the new text, once
    assert counted.model.calls[1:] == [('sentence_embedding', ['lying'])]
    assert torch.equal(c[0], a[1]) and torch.equal(c[2], a[0]) and torch.equal(c[1], c[3])


def test_same_tokens_are_encoded_once(counted):
    t1, m1 = counted.tokens(['walking upstairs', 'lying'])
    t2, m2 = counted.tokens(['walking upstairs', 'lying'])
    assert torch.equal(t1, t2) and torch.equal(m1, m2)
    assert counted.model.calls == [('token_embeddings', ['walking upstairs', 'lying'])]
    assert t1.shape[0] == 2 and t1.shape[2] == 384 and m1.dtype == torch.bool
    assert m1[0].sum() > m1[1].sum()                                  # more tokens, padding masked
    assert (t1[1][~m1[1]] == 0).all()


def test_sentence_embeddings_are_unit_and_meaningful(counted):
    e = counted.sentences(['walking', 'walking upstairs', 'lying down'])
    assert torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2]                                  # walking is nearer walking upstairs
    assert counted.sentences([]).shape == (0, 384)


def test_embedders_of_one_model_share_the_model_and_the_caches(text_model_once):
    """model_loading makes a TextEmbedder per call: the model must not be loaded, nor a text
    encoded, again for each."""
    a, b = TextEmbedder(), TextEmbedder()
    assert a.model is b.model
    a.sentences(['a text for the shared cache test'])
    a.tokens(['a text for the shared cache test'])
    b._model = CountingModel(b.model)
    b.sentences(['a text for the shared cache test'])
    b.tokens(['a text for the shared cache test'])
    assert b.model.calls == []
