"""Exact top-k of query x label scores without the (n, L) matrix: chunked matrix products on any device, or
``faiss.knn`` (brute force) for CPU tensors where faiss is installed. Filter pairs score -inf."""
from __future__ import annotations

import numpy as np
import torch


TOPK_BACKENDS = ("auto", "torch", "faiss")


def topk_scores(query_emb: torch.Tensor, label_emb: torch.Tensor, k: int, chunk: int = 4096,
                filter: np.ndarray | None = None, label_chunk: int = 1 << 18,
                backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of ``query_emb @ label_emb.T`` without materialising the (n, L) matrix.

    query_emb (n, d), label_emb (L, d) on the same device; ``filter`` (m, 2) (query, label) pairs get score -inf
    (never returned unless fewer than k labels remain). Returns (scores (n, k) float32, ids (n, k) int64).
    ``backend``: ``torch`` (chunked matrix products, any device), ``faiss`` (``faiss.knn``, brute force, CPU
    tensors) or ``auto``: faiss for CPU tensors where it is installed, torch otherwise (see :func:`_faiss_topk`).
    """
    if backend not in TOPK_BACKENDS:
        raise ValueError(f"unknown top-k backend {backend!r}; known: {list(TOPK_BACKENDS)}")
    on_cpu = query_emb.device.type == "cpu" and label_emb.device.type == "cpu"
    if backend == "faiss" or (backend == "auto" and on_cpu and _faiss() is not None):
        return _faiss_topk(query_emb, label_emb, k, filter)
    n, L = query_emb.shape[0], label_emb.shape[0]
    k = min(k, L)
    dev = query_emb.device
    f = None
    if filter is not None and len(filter):
        f = torch.as_tensor(np.asarray(filter), device=dev).long()
        f = f[torch.argsort(f[:, 0])]
        f_rows = f[:, 0].contiguous()
    S = torch.empty(n, k, device=dev)
    ids = torch.empty(n, k, dtype=torch.long, device=dev)
    for qs in range(0, n, chunk):
        qe = min(qs + chunk, n)
        fq = None
        if f is not None:
            lo, hi = torch.searchsorted(f_rows, torch.tensor([qs, qe], device=dev)).tolist()
            fq = f[lo:hi]
        S[qs:qe], ids[qs:qe] = _chunk_topk(query_emb[qs:qe], label_emb, k, qs, fq, label_chunk)
    return S, ids


def _chunk_topk(q, label_emb, k, qs, fq, label_chunk):
    best_s = torch.full((q.shape[0], 0), float("-inf"), device=q.device)
    best_i = torch.zeros((q.shape[0], 0), dtype=torch.long, device=q.device)
    for ls in range(0, label_emb.shape[0], label_chunk):
        le = min(ls + label_chunk, label_emb.shape[0])
        s = (q @ label_emb[ls:le].T).float()
        if fq is not None and len(fq):
            m = (fq[:, 1] >= ls) & (fq[:, 1] < le)
            s[fq[m, 0] - qs, fq[m, 1] - ls] = float("-inf")
        top = s.topk(min(k, le - ls), dim=1)
        cat_s = torch.cat([best_s, top.values], 1)
        cat_i = torch.cat([best_i, top.indices + ls], 1)
        sel = cat_s.topk(min(k, cat_s.shape[1]), dim=1).indices
        best_s, best_i = cat_s.gather(1, sel), cat_i.gather(1, sel)
    return best_s, best_i


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _faiss_topk(query_emb: torch.Tensor, label_emb: torch.Tensor, k: int,
                filter: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`topk_scores` by ``faiss.knn`` (exact inner products, blocked BLAS and heaps) on torch's thread
    count. With a filter it asks for k + (most pairs any query filters) and drops the filtered ones.

    ``scripts/bench_topk.py`` (median of 3 after a warm-up, random float32) on the 2-core CPU machine, faiss / torch
    time on 1 and 2 threads: 2000 x 37K labels, d 384, k 100 (the Debian evaluation) 0.73 and 0.69; 1500 x 4.9K, d
    128, k 50 (ANCE's CPU-default shortlist) 0.71 and 0.73 (0.82 in a second run); 1000 x 10^6, d 129, k 5 (the LSH
    race's evaluation) 0.47 and 0.45 (1.8 s against 4.0 s on 2 threads). The two differ only where scores tie to
    float rounding (5e-5 at scores near 64): 5 of 200,000 ranks swapped in the first case."""
    faiss = _faiss()
    if faiss is None or query_emb.device.type != "cpu" or label_emb.device.type != "cpu":
        raise ValueError("the faiss top-k backend needs CPU tensors and faiss-cpu installed (pip install faiss-cpu)")
    faiss.omp_set_num_threads(torch.get_num_threads())
    n, L = query_emb.shape[0], label_emb.shape[0]
    k = min(k, L)
    xq = query_emb.detach().float().contiguous().numpy()
    xb = label_emb.detach().float().contiguous().numpy()
    f = None if filter is None or not len(filter) else np.asarray(filter, np.int64)
    extra = 0 if f is None else int(np.bincount(f[:, 0], minlength=n).max())
    D, ids = faiss.knn(xq, xb, min(k + extra, L), metric=faiss.METRIC_INNER_PRODUCT)
    if extra:
        hit = np.isin(np.arange(n, dtype=np.int64)[:, None] * L + ids, f[:, 0] * L + f[:, 1])
        D[hit] = -np.inf
        order = np.argsort(-D, axis=1, kind="stable")
        D, ids = np.take_along_axis(D, order, 1), np.take_along_axis(ids, order, 1)
    return torch.from_numpy(np.ascontiguousarray(D[:, :k])), torch.from_numpy(ids[:, :k].astype(np.int64))
