"""Evaluation: encode all labels, exact chunked top-k, filter pairs removed, the data layer's metrics.

``head`` picks the scores: ``"de"`` (cosine to label-text embeddings), ``"clf"`` (classifier vectors), or
``"fused"`` = alpha * DE + (1 - alpha) * CLF, computed as one matrix product with the combined label matrix
alpha * E + (1 - alpha) * W (the fusion is linear in the label side).
"""
from __future__ import annotations

import numpy as np
import torch

from ..xmc.dataset import XMCDataset
from ..xmc.metrics import propensity, remove_filtered, xmc_metrics
from ..xmc.topk import topk_scores
from .encoders import TokenTable

METRICS = ("P@1", "P@3", "P@5", "nDCG@1", "nDCG@3", "nDCG@5", "PSP@1", "PSP@3", "PSP@5", "R@100")


def label_matrix(parts: dict[str, torch.Tensor], head: str, alpha: float = 0.5) -> torch.Tensor:
    """(L, d) label side for ``head`` in ``"de"``, ``"clf"``, ``"fused"`` or ``"auto"`` (fused when both)."""
    if head == "auto":
        head = "fused" if len(parts) == 2 else next(iter(parts))
    if head == "fused":
        if len(parts) != 2:
            raise ValueError(f"fused scoring needs both heads; this model has {sorted(parts)}")
        return alpha * parts["de"] + (1 - alpha) * parts["clf"]
    if head not in parts:
        raise ValueError(f"head {head!r} not in this model; it has {sorted(parts)}")
    return parts[head]


def rank_metrics(query_emb: torch.Tensor, label_emb: torch.Tensor, data: XMCDataset, k: int = 100,
                 chunk: int = 4096) -> dict[str, float]:
    """METRICS (percent) of exact top-k by ``query_emb @ label_emb.T`` on ``data``'s test split."""
    _, ids = topk_scores(query_emb, label_emb.to(query_emb), k, chunk=chunk, filter=data.filter_test)
    ids = ids.cpu()
    if ids.shape[1] < k:  # fewer labels than k: pad with "no prediction"
        ids = torch.cat([ids, ids.new_full((ids.shape[0], k - ids.shape[1]), -1)], 1)
    prop = propensity(data.label_freq, data.Y_train.shape[0], *data.propensity_ab)
    m = xmc_metrics(ids, data.Y_test, ks=(1, 3, 5), propensity=prop, filter_pairs=data.filter_test,
                    recall_ks=(k,))
    return {name: m[name] for name in METRICS if name in m}


def evaluate(model, data: XMCDataset, test_tokens: TokenTable, head: str = "auto", alpha: float = 0.5,
             k: int = 100) -> dict[str, float]:
    """Encode the test queries and all labels with ``model`` (an :class:`~.models.XMCModel`) and score."""
    q = model.embed_all(test_tokens)
    lab = label_matrix(model.score_matrix_parts(), head, alpha)
    return rank_metrics(q, lab, data, k=k)


def fusion_sweep(model, data: XMCDataset, test_tokens: TokenTable, alphas, k: int = 100) -> list[dict]:
    """METRICS of ``alpha * DE + (1 - alpha) * CLF`` for each of ``alphas`` (0: the classifier alone, 1: the DE
    alone, both exactly), with the test queries and the two label sides encoded once for all of them."""
    q = model.embed_all(test_tokens)
    parts = model.score_matrix_parts()
    return [{"alpha": float(a), **rank_metrics(q, label_matrix(parts, "fused", a), data, k=k)} for a in alphas]


def filter_margin(filter_pairs) -> int:
    """The most filter pairs any one test row has (0 without any): how many predictions past k a peer must make
    so that k remain once they are dropped, as the trained models' top-k (which skips them) keeps k."""
    if filter_pairs is None or len(filter_pairs) == 0:
        return 0
    return int(np.bincount(np.asarray(filter_pairs)[:, 0]).max())


def top_k_unfiltered(ids: torch.Tensor, data: XMCDataset, k: int) -> torch.Tensor:
    """(n, k) predictions from (n, >= k) ``ids`` with ``data``'s test filter pairs dropped first."""
    return remove_filtered(ids, data.filter_test, data.num_labels)[:, :k]


def popularity_metrics(data: XMCDataset, k: int = 100) -> dict[str, float]:
    """The most-popular-labels baseline: every test point gets the k most frequent training labels that are not
    its filter pairs."""
    wide = k + filter_margin(data.filter_test)
    top = np.argsort(-data.label_freq, kind="stable")[:wide]
    n = data.Y_test.shape[0]
    ids = torch.as_tensor(np.tile(top, (n, 1)), dtype=torch.int64)
    prop = propensity(data.label_freq, data.Y_train.shape[0], *data.propensity_ab)
    if ids.shape[1] < wide:
        ids = torch.cat([ids, ids.new_full((n, wide - ids.shape[1]), -1)], 1)
    ids = top_k_unfiltered(ids, data, k)
    m = xmc_metrics(ids, data.Y_test, ks=(1, 3, 5), propensity=prop, filter_pairs=data.filter_test, recall_ks=(k,))
    return {name: m[name] for name in METRICS if name in m}
