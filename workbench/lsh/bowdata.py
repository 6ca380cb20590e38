"""Bag-of-words inputs for the paper's setting: sparse features X and labels Y, from any XMC source.

* ``"synthetic"``: :func:`workbench.xmc.synthetic.make_synthetic`, its query embeddings turned into words: each
  point keeps the ``words_per_point`` largest coordinates of a fixed random projection to ``num_features``
  dimensions (binary), so points that share labels share words.
* ``"mulan"``: a Mulan directory (Bibtex, Delicious): its binary word features.
* ``"debian"``: the committed Debian dataset (``data/debian``), query texts as binary bags of words.
* ``"dir"``: any directory :func:`workbench.xmc.load.load_dataset` reads (variant in ``data_variant``); its X, or
  a bag of words of its texts.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import torch

from ..xmc.dataset import XMCDataset

SOURCES = ("synthetic", "mulan", "debian", "dir")
# words each synthetic point keeps: the top-k of num_features projected coordinates, so num_features must reach it
WORDS_PER_POINT = 12


@dataclasses.dataclass
class BowData:
    """X_* (n, F) float32 CSR, rows L2-normalised; Y_* (n, N) float32 CSR."""
    name: str
    X_train: sp.csr_matrix
    Y_train: sp.csr_matrix
    X_test: sp.csr_matrix
    Y_test: sp.csr_matrix

    @property
    def num_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def num_labels(self) -> int:
        return self.Y_train.shape[1]

    def label_order(self) -> torch.Tensor:
        """(N,) label ids by decreasing training frequency (for log-uniform sampling)."""
        freq = np.asarray((self.Y_train > 0).sum(axis=0)).ravel()
        return torch.from_numpy(np.argsort(-freq, kind="stable").astype(np.int64))


def _normalise(X: sp.csr_matrix) -> sp.csr_matrix:
    X = sp.csr_matrix(X, dtype=np.float32)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X, dtype=np.float32)


def synthetic_bow(num_labels: int, num_points: int, num_features: int, words_per_point: int, seed: int,
                  labels_per_point: float = 2.0, dim: int = 32) -> BowData:
    from ..xmc.synthetic import make_synthetic
    syn = make_synthetic(num_labels, num_points, dim=dim, labels_per_point=labels_per_point, seed=seed)
    R = torch.randn(dim, num_features, generator=torch.Generator().manual_seed(seed + 7))
    # chunked: (n, num_features) scores at once would not fit for paper-sized sets
    top = torch.cat([(c @ R).topk(words_per_point, dim=1).indices for c in syn.query_emb.split(8192)]).numpy()
    n = top.shape[0]
    X = sp.csr_matrix((np.ones(top.size, np.float32), top.ravel(), np.arange(0, top.size + 1, words_per_point)),
                      shape=(n, num_features))
    X = _normalise(X)
    return BowData(f"synthetic-{num_labels}", X[syn.train_idx], syn.Y[syn.train_idx], X[syn.test_idx],
                   syn.Y[syn.test_idx])


def from_dataset(ds: XMCDataset, max_features: int) -> BowData:
    """Its X when present, else a binary bag of words (``max_features`` most frequent words) of its texts."""
    if ds.X_train is not None and ds.X_test is not None:
        return BowData(ds.name, _normalise(ds.X_train), ds.Y_train.tocsr(), _normalise(ds.X_test), ds.Y_test.tocsr())
    if ds.train_texts is None or ds.test_texts is None:
        raise ValueError(f"dataset {ds.name!r} has neither features X nor query texts to make a bag of words of")
    from sklearn.feature_extraction.text import CountVectorizer
    vec = CountVectorizer(max_features=max_features, binary=True, token_pattern=r"(?u)\b[\w.+-]{2,}\b")
    Xtr = vec.fit_transform(ds.train_texts)
    return BowData(ds.name, _normalise(Xtr), ds.Y_train.tocsr(), _normalise(vec.transform(ds.test_texts)),
                   ds.Y_test.tocsr())


def load_bow(source: str, data_dir: str = "", data_variant: str = "", *, num_labels: int = 2000,
             num_points: int = 4000, num_features: int = 1000, words_per_point: int = WORDS_PER_POINT,
             max_features: int = 20000, seed: int = 0) -> BowData:
    """The study's dataset by ``source`` (see module docstring); the sizes apply to ``"synthetic"``. A split
    without points raises ValueError (the race would report NaN accuracy, the adaptivity probe divide by 0)."""
    if source == "synthetic":
        data = synthetic_bow(num_labels, num_points, num_features, words_per_point, seed)
    elif source == "mulan":
        from ..xmc.load import load_mulan
        data = from_dataset(load_mulan(data_dir), max_features)
    elif source == "debian":
        from ..xmc.debian import default_dataset
        data = from_dataset(default_dataset(data_variant or "titles"), max_features)
    elif source == "dir":
        from ..xmc.load import load_dataset
        data = from_dataset(load_dataset(data_dir, data_variant or None), max_features)
    else:
        raise ValueError(f"unknown data source {source!r}; known: {list(SOURCES)}")
    empty = [split for split, X in (("train", data.X_train), ("test", data.X_test)) if X.shape[0] == 0]
    if empty:
        raise ValueError(f"dataset {data.name}: the {' and '.join(empty)} split has no points"
                         + (f" (num_points={num_points} is too few)" if source == "synthetic" else ""))
    return data


def bag_tensors(X: sp.csr_matrix, rows: np.ndarray, device: torch.device):
    """Rows of X as EmbeddingBag inputs: (nnz,) indices, (B,) offsets, (nnz,) weights on ``device``."""
    sub = X[rows]
    return (torch.from_numpy(sub.indices.astype(np.int64)).to(device),
            torch.from_numpy(sub.indptr[:-1].astype(np.int64)).to(device),
            torch.from_numpy(sub.data.astype(np.float32)).to(device))


def padded_positives(Y: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, P) positives of ``rows`` padded with -1, every one of them (P: the most in a row): a positive left out
    here could be drawn as a negative and would never be trained as a positive (Debian rows have up to 236)."""
    sub = Y[rows]
    lens = np.diff(sub.indptr)
    out = np.full((len(rows), max(int(lens.max()) if len(lens) else 1, 1)), -1, np.int64)
    row = np.repeat(np.arange(len(rows)), lens)
    out[row, np.arange(sub.indptr[-1]) - np.repeat(sub.indptr[:-1], lens)] = sub.indices
    return torch.from_numpy(out).to(device)
