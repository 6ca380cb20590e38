"""``ance``: hard negatives from the current model's top-k shortlist, refreshed every N epochs (Xiong et al.).

At refresh every training query and every label is encoded and the exact top-``shortlist_size`` labels per query
kept (chunked matrix product; on GPU this is the fast path, on CPU it is exact too, just slower). Each step a
query gets ``positives_per_query`` sampled positives and ``num_negatives`` negatives drawn uniformly without
replacement from its shortlist minus its positives; a short list is topped up with uniform labels (masked when
they are positives and ``remove_hits`` is on). Before the first refresh the negatives are uniform.
"""
from __future__ import annotations

import time

import torch

from . import SAMPLERS
from .base import BaseSampler, SampledBatch
from .positives import Positives, pool_from


def shortlist_hits(pos: Positives, shortlist: torch.Tensor) -> torch.Tensor:
    """(n_train, k) bool: ``shortlist[i, j]`` may not be a negative of training query ``i`` (a positive, or an
    excluded pair: :meth:`Positives.not_negative`). A shortlist changes only at a refresh, so this is computed
    then, once for every query, not at each step (512 x 100 look-ups, ~2 ms of one CPU core per step on the
    Debian set)."""
    return pos.not_negative(torch.arange(len(shortlist)), shortlist)


def shortlist_from(view, k: int) -> torch.Tensor:
    """(n_train, k) int64 CPU top-k label ids per training query under the model ``view``."""
    from ..xmc.topk import topk_scores
    with torch.no_grad():
        q = view.query_embeddings()
        lab = view.label_embeddings().to(q)
        return topk_scores(q, lab, k)[1].cpu()


@SAMPLERS.register("ance")
class AnceSampler(BaseSampler):
    name = "ance"
    reads = frozenset({"num_negatives", "positives_per_query", "remove_hits", "refresh_every", "shortlist_size"})

    def __init__(self, Y_train, cfg):
        super().__init__(Y_train, cfg)
        self.shortlist = None
        self.refreshed_epoch = -1

    @property
    def shortlist(self) -> torch.Tensor | None:
        """(n_train, shortlist_size) label ids per training query (None before the first refresh)."""
        return self._shortlist

    @shortlist.setter
    def shortlist(self, value: torch.Tensor | None) -> None:
        self._shortlist = value
        self._hits = None if value is None else shortlist_hits(self.pos, value)

    def refresh(self, view, epoch: int, step: int) -> float:
        if self.shortlist is not None and (epoch % self.cfg.refresh_every or epoch == self.refreshed_epoch):
            return 0.0
        t0 = time.perf_counter()
        self.shortlist = shortlist_from(view, self.cfg.shortlist_size)
        self.refreshed_epoch = epoch
        return time.perf_counter() - t0

    def hard_negatives(self, queries: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
        """(B, k) negatives: shortlist entries that are not positives, uniformly; uniform labels where short."""
        B = len(queries)
        fill = torch.randint(self.num_labels, (B, k), generator=generator)
        if self.shortlist is None:
            return fill
        sl, bad = self.shortlist[queries], self._hits[queries]
        keys = torch.rand(sl.shape, generator=generator)
        keys[bad] = 2.0
        order = keys.argsort(dim=1)[:, :k]
        ok = ~bad.gather(1, order)
        if order.shape[1] < k:
            pad = k - order.shape[1]
            order = torch.cat([order, order.new_zeros((B, pad))], 1)
            ok = torch.cat([ok, ok.new_zeros((B, pad))], 1)
        return torch.where(ok, sl.gather(1, order), fill)

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        B, k, p = len(queries), self.cfg.num_negatives, self.cfg.positives_per_query
        pos, pos_valid = self.pos.sample(queries, p, generator)
        neg = self.hard_negatives(queries, k, generator)
        neg_valid = torch.ones((B, k), dtype=torch.bool)
        if self.cfg.remove_hits:
            neg_valid &= ~self.pos.is_positive(queries, neg)
        labels = torch.cat([pos, neg], 1)
        valid = torch.cat([pos_valid, neg_valid], 1)
        targets = torch.cat([pos_valid, torch.zeros((B, k), dtype=torch.bool)], 1)
        pool, cols = pool_from(labels, valid)
        return SampledBatch(queries=queries, pool=pool, candidates=cols, targets=targets, valid=valid)

    def state_dict(self) -> dict:
        return {"shortlist": self.shortlist, "refreshed_epoch": self.refreshed_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.shortlist, self.refreshed_epoch = state["shortlist"], state["refreshed_epoch"]
