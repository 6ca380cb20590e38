"""``unidec``: pick-some-labels (PSL) pools for a dual encoder + classifier trained together (Kharbanda et al.).

Per batch: each query samples ``psl_positives`` positives (3 in the reference setting). The pool is
filled, without repeats and up to ``pool_cap`` labels, in this order: one sampled positive per query (so every
query has a positive in the pool; ``pool_cap`` must be >= the batch size), its other sampled positives, the
``hard_per_query`` best-ranked non-positive labels of each query's shortlist (top-``shortlist_size`` by the
current label embeddings, refreshed every ``refresh_every`` epochs), then the queries' remaining positives.
Every query scores the whole pool; targets are the exact multi-hot matrix of which pool labels are positives of
which query. Batches are built from query clusters as NGAME's (``cluster_*`` fields; their defaults are NGAME's,
from epoch 10 every 5: the reference's UniDEC schedule, from epoch 5 every 5, is set per run, e.g.
``sampler_overrides: ["unidec:cluster_start=5"]``, as the gpu profiles do scaled). The model is meant to
have both heads (``heads = "de+clf"``): L = 1/2 L_DE + 1/2 L_CLF over the pool only; the study gives its
classifier residual rows (label embedding + learned offset, ``XMCModel(classifier_form=...)``) by default.
"""
from __future__ import annotations

import time

import torch

from . import SAMPLERS
from .ance import shortlist_from, shortlist_hits
from .base import SampledBatch
from .ngame import NgameSampler


def first_unique(labels: torch.Tensor, cap: int) -> torch.Tensor:
    """The first ``cap`` distinct values of 1-D ``labels`` in order of first appearance."""
    uniq, inv = torch.unique(labels, return_inverse=True)
    first = torch.full((len(uniq),), len(labels), dtype=torch.long).scatter_reduce(
        0, inv, torch.arange(len(labels)), reduce="amin")
    return uniq[torch.argsort(first)][:cap]


@SAMPLERS.register("unidec")
class UnidecSampler(NgameSampler):
    name = "unidec"
    heads = "de+clf"
    # fixed clusters of cluster_size_max (no doubling); psl_positives in place of positives_per_query
    reads = frozenset({"cluster_start", "cluster_every", "cluster_size_max", "seed", "pool_cap", "psl_positives",
                       "hard_per_query", "refresh_every", "shortlist_size"})

    def __init__(self, Y_train, cfg):
        super().__init__(Y_train, cfg, fixed_size=cfg.cluster_size_max)  # UniDEC does not grow the clusters
        self.shortlist = None
        self.shortlist_epoch = -1

    @property
    def shortlist(self) -> torch.Tensor | None:
        """(n_train, shortlist_size) label ids per training query (None before the first refresh)."""
        return self._shortlist

    @shortlist.setter
    def shortlist(self, value: torch.Tensor | None) -> None:
        self._shortlist = value
        self._hard = None if value is None else self._hard_table(value)

    def refresh(self, view, epoch: int, step: int) -> float:
        spent = super().refresh(view, epoch, step)
        if self.shortlist is None or (epoch % self.cfg.refresh_every == 0 and epoch != self.shortlist_epoch):
            t0 = time.perf_counter()
            self.shortlist = shortlist_from(view, self.cfg.shortlist_size)
            self.shortlist_epoch = epoch
            spent += time.perf_counter() - t0
        return spent

    def _hard_table(self, shortlist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every training query's ``hard_per_query`` best-ranked non-positive shortlist labels (n, h) and which of
        them exist (n, h) bool: fixed between refreshes, so built once per refresh instead of at every step."""
        ok = ~shortlist_hits(self.pos, shortlist)
        # stable sort puts the non-positives first, keeping shortlist order among them
        order = torch.argsort((~ok).to(torch.int8), dim=1, stable=True)[:, :self.cfg.hard_per_query]
        return shortlist.gather(1, order), ok.gather(1, order)

    def hard_negatives(self, queries: torch.Tensor) -> torch.Tensor:
        """(B * hard_per_query,) best-ranked non-positive shortlist labels, rank-major (every query's best
        negative before anyone's second)."""
        if self._hard is None or self.cfg.hard_per_query == 0:
            return queries.new_zeros(0)
        picked, good = self._hard[0][queries], self._hard[1][queries]
        return picked.T[good.T]

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        B, cap = len(queries), self.cfg.pool_cap
        if cap < B:
            raise ValueError(f"unidec: pool_cap ({cap}) must be at least the batch size ({B}) so every query "
                             "keeps a positive in the pool")
        pos, valid = self.pos.sample(queries, self.cfg.psl_positives, generator)
        tiers = [pos[:, 0][valid[:, 0]], pos[:, 1:][valid[:, 1:]], self.hard_negatives(queries),
                 self.pos.batch_positives(queries)]
        pool = torch.sort(first_unique(torch.cat(tiers), cap)).values
        targets = self.pos.pool_targets(queries, pool)
        return SampledBatch(queries=queries, pool=pool, candidates=None, targets=targets)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "shortlist": self.shortlist, "shortlist_epoch": self.shortlist_epoch}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.shortlist, self.shortlist_epoch = state["shortlist"], state["shortlist_epoch"]
