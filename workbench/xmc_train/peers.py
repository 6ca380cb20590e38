"""Peer rows the trained methods are compared with on the same split: Parabel-style label trees and the
most-popular-labels baseline.

Parabel-style trees come from PyPI ``omikuji`` (balanced 2-means label trees, one linear classifier per node,
log loss, beam search) on TF-IDF character 2-4-grams of the query texts (sklearn, word-boundary aware, sublinear
tf, L2-normalised rows). Evaluation is the same as for the trained models (:mod:`.evaluate`).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..device import usable_cores
from ..progress import tqdm
from ..xmc.dataset import XMCDataset
from ..xmc.metrics import propensity, xmc_metrics
from .evaluate import METRICS, filter_margin, popularity_metrics, top_k_unfiltered


def tfidf_features(train_texts: list[str], test_texts: list[str], max_features: int = 200_000):
    """(n_train, F), (n_test, F) CSR TF-IDF of character 2-4-grams fitted on the training texts, those seen in at
    least two of them (in the one text of a one-text training set: scikit-learn refuses min_df 2 there)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=min(2, len(train_texts)),
                          max_features=max_features, dtype=np.float32)
    return vec.fit_transform(train_texts).tocsr(), vec.transform(test_texts).tocsr()


def write_xc_file(path: Path, X: sp.csr_matrix, Y: sp.csr_matrix) -> None:
    """The Extreme Classification Repository's sparse text format that omikuji trains from."""
    with open(path, "w") as f:
        f.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n")
        for i in range(X.shape[0]):
            labels = ",".join(map(str, Y.indices[Y.indptr[i]:Y.indptr[i + 1]]))
            lo, hi = X.indptr[i], X.indptr[i + 1]
            feats = " ".join(f"{j}:{v:.6g}" for j, v in zip(X.indices[lo:hi], X.data[lo:hi]))
            f.write(f"{labels} {feats}\n")


@contextlib.contextmanager
def _quiet_native_output():
    """Silence fds 1 and 2 around omikuji's Rust code: it logs every step at INFO to stdout (its logger is
    switched on at import, RUST_LOG is ignored) and draws progress bars on stderr, thousands of lines in a
    notebook. Python-level streams are flushed first so nothing of ours is lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with open(os.devnull, "w") as null:
            for fd in saved:
                os.dup2(null.fileno(), fd)
            yield
    finally:
        for fd, dup in saved.items():
            os.dup2(dup, fd)
            os.close(dup)


def parabel_topk(data: XMCDataset, n_trees: int = 3, k: int = 100, beam: int = 10, threads: int = 0):
    """Train omikuji (Parabel setting) on ``data``'s train split; (test top-k ids (n, k) with -1 padding,
    train seconds, predict seconds). ``threads`` (0: every usable core) train the trees and predict the test
    points (:func:`omikuji_topk`; on the full Debian set, 14K test points, serial prediction took longer than
    training). omikuji's training is not deterministic: two runs give slightly different trees."""
    import omikuji
    threads = threads or usable_cores()
    Xtr, Xte = tfidf_features(data.train_texts, data.test_texts)
    Ytr = sp.csr_matrix(data.Y_train)
    Ytr.sort_indices()
    hp = omikuji.Model.default_hyper_param()
    hp.n_trees, hp.cluster_k, hp.max_depth, hp.min_branch_size = n_trees, 2, 20, 100
    hp.linear_loss_type, hp.collapse_every_n_layers, hp.cluster_balanced = omikuji.LossType.LOG.value, 0, True
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.txt"
        write_xc_file(path, Xtr, Ytr)
        with _quiet_native_output():
            model = omikuji.Model.train_on_data(str(path), hp, n_threads=threads)
    t1 = time.perf_counter()
    ids = omikuji_topk(model, Xte, k, beam, threads)
    return torch.from_numpy(ids), t1 - t0, time.perf_counter() - t1


def omikuji_topk(model, X: sp.csr_matrix, k: int, beam: int, threads: int) -> np.ndarray:
    """(n, k) top-k label ids of an omikuji ``model`` for the rows of ``X``, -1 padded; one row per call, the
    rows spread over ``threads`` threads (omikuji's calls release the GIL; the model is read-only)."""
    ids = np.full((X.shape[0], k), -1, dtype=np.int64)

    def predict(i: int) -> None:
        lo, hi = X.indptr[i], X.indptr[i + 1]
        preds = model.predict(list(zip(X.indices[lo:hi].tolist(), X.data[lo:hi].tolist())), beam_size=beam, top_k=k)
        ids[i, :len(preds)] = [p[0] for p in preds]
    model.init_prediction_thread_pool(threads)  # now: created lazily, concurrent first calls would race on it
    with ThreadPoolExecutor(threads, thread_name_prefix="parabel") as pool:
        list(tqdm(pool.map(predict, range(X.shape[0])), total=X.shape[0], desc="Parabel predict", leave=False))
    return ids


def peer_rows(data: XMCDataset, n_trees: int = 3, threads: int = 0, with_parabel: bool = True) -> list[dict]:
    """Tidy rows ``{"method", metrics..., "train_s"}`` for the most-popular baseline and Parabel (omikuji), the
    latter with ``threads`` threads (0: every usable core)."""
    rows = [{"method": "most popular", **popularity_metrics(data), "train_s": 0.0, "predict_s": 0.0}]  # one list
    if with_parabel:
        # as many predictions past 100 as a row has filter pairs: 100 remain once they go, as for the trained models
        ids, train_s, pred_s = parabel_topk(data, n_trees=n_trees, k=100 + filter_margin(data.filter_test),
                                            threads=threads)
        ids = top_k_unfiltered(ids, data, 100)
        prop = propensity(data.label_freq, data.Y_train.shape[0], *data.propensity_ab)
        m = xmc_metrics(ids, data.Y_test, ks=(1, 3, 5), propensity=prop, filter_pairs=data.filter_test,
                        recall_ks=(100,))
        rows.append({"method": f"Parabel (omikuji, {n_trees} trees)", **{k: m[k] for k in METRICS},
                     "train_s": train_s, "predict_s": pred_s})
    return rows
