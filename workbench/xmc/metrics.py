"""XMC ranking metrics over a (queries x k) top-k matrix, in torch (runs where ``topk`` lives).

Definitions follow pyxclib (``xclib.evaluation.xc_metrics``), which napkinxc's ``napkinxc.metrics`` matches:

* P@k = mean_i |top_k(i) ∩ Y_i| / k;   R@k = mean_i |top_k(i) ∩ Y_i| / |Y_i|
* nDCG@k = mean_i DCG_i@k / IDCG_i@k, DCG = Σ_{j<=k} y_{i,p_j} / log2(j+1), IDCG over min(k, |Y_i|) ones
* PSP@k = mean_i Σ_{j<=k} w_{p_j} y_{i,p_j} / k   divided by the same mean for the best ranking (true labels
  sorted by w) -- a ratio of means; PSnDCG@k likewise, each row's PSDCG over its own IDCG.
* w_l = 1 + C (N_l + B)^-A, C = (ln N - 1)(B + 1)^A  (pyxclib's ``compute_inv_propesity``; "propensity weight").

Rows without positives count as zeros (they stay in every mean). Filter pairs are removed from the predictions
(later predictions move up; the freed tail counts as misses), never from the ground truth. All values are
returned in PERCENT (0-100).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

# Jain et al. (KDD 2016)'s propensity constants (A, B) by dataset family; PSP@k here uses "other" unless told
AB_PRESETS = {"amazon": (0.6, 2.6), "wikipedia": (0.5, 0.4), "other": (0.55, 1.5)}
# the Extreme Classification Repository's families, by dataset name (AmazonCat-13K and LF-WikiSeeAlso are "other")
_WIKIPEDIA_NAMES = ("wikipedia-500k", "wikititles-500k", "wikilshtc")


def propensity_ab(name: str) -> tuple[float, float]:
    """(A, B) for a dataset named ``name``, whatever its file layout: "amazon" for the Amazon-670K / LF-Amazon*
    family, "wikipedia" for WikiLSHTC-325K and the Wikipedia-500K family, "other" for every other name."""
    n = name.lower()
    if "amazon" in n and "amazoncat" not in n:
        return AB_PRESETS["amazon"]
    return AB_PRESETS["wikipedia" if any(w in n for w in _WIKIPEDIA_NAMES) else "other"]


def propensity(freq: np.ndarray, n: int, A: float = AB_PRESETS["other"][0],
               B: float = AB_PRESETS["other"][1]) -> np.ndarray:
    """(L,) inverse-propensity weights from training label frequencies ``freq`` over ``n`` points (Jain et al.
    2016; ``A, B = AB_PRESETS[family]`` for the Amazon and Wikipedia families): w_l >= 1, rarer labels weighing
    more, for n >= 3 (``log n > 1``); below that C < 0 inverts it (no XMC split is that small)."""
    freq = np.asarray(freq, np.float64)
    C = (math.log(n) - 1.0) * (B + 1.0) ** A
    return 1.0 + C * (freq + B) ** (-A)


def _keys(rows: torch.Tensor, cols: torch.Tensor, L: int) -> torch.Tensor:
    return rows.long() * L + cols.long()


def _member(q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """``q`` in ``keys`` (any shape q): binary search in the sorted keys; faster than torch.isin on CPU."""
    keys = torch.sort(keys).values
    pos = torch.searchsorted(keys, q.reshape(-1)).clamp_max(len(keys) - 1).reshape(q.shape)
    return keys[pos] == q


def remove_filtered(topk: torch.Tensor, filter_pairs: np.ndarray | torch.Tensor | None, L: int) -> torch.Tensor:
    """(n, k) predictions with every (row, label) filter pair dropped, survivors shifted left, padded with -1. A
    -1 already there (no prediction at that rank) stays where it is, a miss at its rank, as without filter
    pairs (it used to be dropped too, moving later predictions up, but only when some filter pair existed)."""
    if filter_pairs is None or len(filter_pairs) == 0:
        return topk
    f = torch.as_tensor(np.asarray(filter_pairs), device=topk.device).long()
    rows = torch.arange(topk.shape[0], device=topk.device).unsqueeze(1).expand_as(topk)
    drop = _member(_keys(rows, topk.clamp_min(0), L), _keys(f[:, 0], f[:, 1], L)) & (topk >= 0)
    order = torch.sort(drop.to(torch.int8), dim=1, stable=True).indices
    out = torch.gather(topk, 1, order)
    return out.masked_fill(torch.gather(drop, 1, order), -1)


def _csr_torch(Y: sp.csr_matrix, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, col) of the positive entries of Y (sorted by row, then col) and per-row positive counts. Positive means
    a value > 0, as for the samplers (:class:`~workbench.samplers.positives.Positives`)."""
    Y = sp.csr_matrix(Y, copy=True)  # canonical form without touching the caller's matrix
    Y.sum_duplicates()  # a (row, col) entered twice is one positive: else it counts twice in nDCG's and R@k's ideal
    Y.data = (Y.data > 0).astype(Y.dtype)
    Y.eliminate_zeros()
    counts = torch.as_tensor(np.diff(Y.indptr), device=device)
    rows = torch.repeat_interleave(torch.arange(Y.shape[0], device=device), counts)
    return rows, torch.as_tensor(Y.indices, device=device).long(), counts


def _hits(topk: torch.Tensor, rows, cols, L: int) -> torch.Tensor:
    """(n, k) bool: is prediction (i, j) a positive of row i."""
    if len(rows) == 0:
        return torch.zeros_like(topk, dtype=torch.bool)
    r = torch.arange(topk.shape[0], device=topk.device).unsqueeze(1).expand_as(topk)
    return _member(_keys(r, topk.clamp_min(0), L), _keys(rows, cols, L)) & (topk >= 0)


def _best_weights(rows, cols, counts, w: torch.Tensor, n: int, kmax: int) -> torch.Tensor:
    """(n, kmax) each row's positive labels' weights sorted descending (zero padded): the best ranking."""
    wv = w[cols]
    o1 = torch.sort(-wv, stable=True).indices
    o2 = torch.sort(rows[o1], stable=True).indices
    order = o1[o2]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order), device=w.device) - starts[rows[order]]
    keep = rank < kmax
    best = torch.zeros(n, kmax, dtype=w.dtype, device=w.device)
    best[rows[order][keep], rank[keep]] = wv[order][keep]
    return best


def xmc_metrics(topk: torch.Tensor, Y: sp.csr_matrix, ks: Sequence[int] = (1, 3, 5),
                propensity: np.ndarray | None = None, filter_pairs: np.ndarray | None = None,
                recall_ks: Sequence[int] = ()) -> dict[str, float]:
    """Metrics in PERCENT: ``P@k``, ``nDCG@k``, ``R@k`` for k in ``ks`` and ``recall_ks``; ``PSP@k``, ``PSnDCG@k``
    when ``propensity`` (the (L,) weights of :func:`propensity`) is given.

    topk: (n, K) int64 label ids, best first (-1 = no prediction), K >= max(ks); Y: (n, L) ground truth CSR.
    """
    n, K = topk.shape
    L = Y.shape[1]
    kmax = max([*ks, *recall_ks])
    if Y.shape[0] != n:
        raise ValueError(f"topk has {n} rows, Y has {Y.shape[0]}")
    if kmax > K:
        raise ValueError(f"need at least {kmax} predictions per row, got {K}")
    if topk.numel() and not -1 <= int(topk.min()) <= int(topk.max()) < L:  # an id >= L would alias the next row
        raise ValueError(f"topk holds label ids {int(topk.min())}..{int(topk.max())}; they must lie in [0, {L}) "
                         "(-1: no prediction)")
    dev = topk.device
    topk = remove_filtered(topk.long(), filter_pairs, L)[:, :kmax]
    rows, cols, counts = _csr_torch(Y, dev)
    hits = _hits(topk, rows, cols, L).double()
    disc = 1.0 / torch.log2(torch.arange(2, kmax + 2, device=dev, dtype=torch.float64))
    cum_hits, cum_dcg = hits.cumsum(1), (hits * disc).cumsum(1)
    cum_disc = disc.cumsum(0)
    cnt = counts.double()
    out: dict[str, float] = {}
    for k in ks:
        idcg = torch.where(counts > 0, cum_disc[(counts.clamp(1, k) - 1)], torch.ones_like(cnt))
        out[f"P@{k}"] = 100 * (cum_hits[:, k - 1] / k).mean().item()
        out[f"nDCG@{k}"] = 100 * (cum_dcg[:, k - 1] / idcg).mean().item()
    for k in sorted({*ks, *recall_ks}):
        out[f"R@{k}"] = 100 * (cum_hits[:, k - 1] / cnt.clamp_min(1)).mean().item()
    if propensity is not None:
        out.update(_ps_metrics(topk, hits, rows, cols, counts, propensity, ks, disc))
    return out


def _ps_metrics(topk, hits, rows, cols, counts, prop, ks, disc) -> dict[str, float]:
    w = torch.as_tensor(np.asarray(prop), device=topk.device, dtype=torch.float64)
    n, kmax = topk.shape
    wh = hits * w[topk.clamp_min(0)]
    best = _best_weights(rows, cols, counts, w, n, kmax)
    cum_disc = disc.cumsum(0)
    out = {}
    for k in ks:
        idcg = torch.where(counts > 0, cum_disc[(counts.clamp(1, k) - 1)], torch.ones_like(counts, dtype=w.dtype))
        den = best[:, :k].sum(1).mean().item()
        out[f"PSP@{k}"] = 100 * wh[:, :k].sum(1).mean().item() / den if den > 0 else 0.0
        dden = ((best[:, :k] * disc[:k]).sum(1) / idcg).mean().item()
        num = ((wh[:, :k] * disc[:k]).sum(1) / idcg).mean().item()
        out[f"PSnDCG@{k}"] = 100 * num / dden if dden > 0 else 0.0
    return out
