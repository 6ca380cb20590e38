"""Negative drawers compared in the study, all with one signature, chosen by name from :data:`DRAWERS`.

A drawer is built once (``DRAWERS.get(name)(num_labels, budget, **context)``) and called per batch:
``draw(query_vecs (B, d), positives (B, P) padded with -1, W (N, d) label vectors, generator) -> Negatives``.
``log_q`` is the log expected count of each negative in the sample (TensorFlow's convention), so a
logQ-corrected loss subtracts it from the negatives' logits.

* ``uniform``: k labels uniformly with replacement.
* ``loguniform``: Zipf over labels ranked by training frequency, ``P(rank r) = log((r+2)/(r+1)) / log(N+1)``.
* ``exact``: the adaptive ideal, softmax over all N logits then k multinomial draws (O(N) per query).
* ``lsh-embedding`` / ``lsh-label``: :func:`workbench.lsh.query.lsh_negatives`, queried with the input's
  embedding or the vector (as last hashed) of one of the row's true labels, drawn at random per row and call (the
  first one every time would leave the other positives' neighbourhoods unqueried); ``index`` (an
  :class:`LSHIndex`) is kept current by the caller; its ``label_vectors`` (what it hashed) give log_q.

These are the LSH study's own drawers over a plain softmax model (the paper's setting). The negative-mining study's
samplers (:mod:`workbench.samplers`, other names: ``log_uniform``, ``lsh``) serve its text encoders; both LSH
paths share :mod:`workbench.lsh.query` and :mod:`workbench.lsh.tables`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..registry import Registry
from .query import Negatives, is_member, lsh_negatives, positive_mask
from .tables import LSHIndex

DRAWERS: Registry = Registry("negative drawer")
Drawer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], Negatives]


def _finish(ids: torch.Tensor, log_q: torch.Tensor, positives: torch.Tensor) -> Negatives:
    B = ids.shape[0]
    return Negatives(ids, log_q, ~is_member(ids, positives), torch.zeros_like(ids, dtype=torch.bool),
                     torch.zeros(B, dtype=torch.int64, device=ids.device))


@DRAWERS.register("uniform")
def uniform(num_labels: int, budget: int, **_) -> Drawer:
    def draw(q, positives, W, generator):
        ids = torch.randint(num_labels, (q.shape[0], budget), generator=generator, device=q.device)
        return _finish(ids, torch.full(ids.shape, math.log(budget / num_labels), device=q.device), positives)
    return draw


@DRAWERS.register("loguniform")
def loguniform(num_labels: int, budget: int, label_order: torch.Tensor | None = None, **_) -> Drawer:
    """``label_order``: (N,) label ids by decreasing training frequency (default: ids as ranks)."""
    def draw(q, positives, W, generator):
        u = torch.rand(q.shape[0], budget, generator=generator, device=q.device, dtype=torch.float64)
        rank = (torch.exp(u * math.log(num_labels + 1)) - 1).long().clamp(0, num_labels - 1)
        p = torch.log((rank + 2.0) / (rank + 1.0)) / math.log(num_labels + 1)
        ids = rank if label_order is None else label_order.to(q.device)[rank]
        return _finish(ids, (budget * p).log().float(), positives)
    return draw


@DRAWERS.register("exact")
def exact(num_labels: int, budget: int, **_) -> Drawer:
    def draw(q, positives, W, generator):
        logits = q @ W.T
        mask = positive_mask(positives, logits.shape[1])
        mask &= ~mask.all(1, keepdim=True)  # a query whose positives are every label: its draws, all invalid
        logp = torch.log_softmax(logits.masked_fill(mask, -math.inf), dim=1)
        ids = torch.multinomial(logp.exp(), budget, replacement=True, generator=generator)
        return _finish(ids, math.log(budget) + logp.gather(1, ids), positives)
    return draw


def random_positive(positives: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B,) one valid label of each row of (B, P) positives padded with -1, uniformly at random (0 for a row
    without any)."""
    keys = torch.rand(positives.shape, generator=generator, device=positives.device)
    pick = keys.masked_fill(positives < 0, -1.0).argmax(1, keepdim=True)
    return positives.gather(1, pick).squeeze(1).clamp(min=0)


def _lsh(scheme: str) -> Callable[..., Drawer]:
    def factory(num_labels: int, budget: int, index: LSHIndex | None = None, log_q: bool = True, **_) -> Drawer:
        if index is None:
            raise ValueError(f"drawer lsh-{scheme} needs index=LSHIndex (build_index + rehash)")

        def draw(q, positives, W, generator):
            # label scheme: the true label's raw vector stands in for the query; log_q uses the label vectors as
            # the tables hashed them (centred if the index centres)
            V = index.vectors if index.vectors is not None else W
            qv = V.index_select(0, random_positive(positives, generator)) if scheme == "label" else q
            vectors = index.label_vectors if log_q else None
            return lsh_negatives(index, qv, positives, budget, vectors, generator)
        return draw
    return factory


DRAWERS.register("lsh-embedding")(_lsh("embedding"))
DRAWERS.register("lsh-label")(_lsh("label"))
