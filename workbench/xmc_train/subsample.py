"""A smaller XMC problem cut from a larger one, for CPU-sized runs of the study.

Random train and test points (fixed seed); the labels kept are those the kept points touch, re-indexed; filter
pairs are kept where both ends survive. Label frequencies (and so propensities) are recounted on the kept train
points, so metrics on the subsample are not comparable in absolute value with the full dataset's.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from ..xmc.dataset import XMCDataset


def _remap_pairs(pairs: np.ndarray, rows: np.ndarray, n_old: int, label_map: np.ndarray) -> np.ndarray:
    row_map = np.full(n_old, -1, np.int64)
    row_map[rows] = np.arange(len(rows))
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int64)
    r, c = row_map[pairs[:, 0]], label_map[pairs[:, 1]]
    keep = (r >= 0) & (c >= 0)
    return np.stack([r[keep], c[keep]], 1).astype(np.int64)


def subsample(data: XMCDataset, n_train: int, n_test: int, seed: int = 0) -> XMCDataset:
    """``n_train`` / ``n_test`` random points (all when 0 or larger than the split) and the labels they touch."""
    rng = np.random.default_rng(seed)
    n_tr, n_te = data.Y_train.shape[0], data.Y_test.shape[0]
    tr = np.sort(rng.choice(n_tr, n_train, replace=False)) if 0 < n_train < n_tr else np.arange(n_tr)
    te = np.sort(rng.choice(n_te, n_test, replace=False)) if 0 < n_test < n_te else np.arange(n_te)
    Ytr, Yte = sp.csr_matrix(data.Y_train)[tr], sp.csr_matrix(data.Y_test)[te]
    labels = np.unique(np.concatenate([Ytr.indices, Yte.indices]))
    label_map = np.full(data.num_labels, -1, np.int64)
    label_map[labels] = np.arange(len(labels))

    def texts(t, idx):
        return None if t is None else [t[i] for i in idx]
    return dataclasses.replace(
        data, name=f"{data.name}-sub{len(tr)}", Y_train=Ytr[:, labels].tocsr(), Y_test=Yte[:, labels].tocsr(),
        train_texts=texts(data.train_texts, tr), test_texts=texts(data.test_texts, te),
        label_texts=texts(data.label_texts, labels),
        X_train=None if data.X_train is None else data.X_train[tr],
        X_test=None if data.X_test is None else data.X_test[te],
        filter_train=_remap_pairs(data.filter_train, tr, n_tr, label_map),
        filter_test=_remap_pairs(data.filter_test, te, n_te, label_map))
