"""``full``: every label is scored for every query (the accuracy reference).

For a classifier head this is the full softmax / BCE over all labels (as Renée). For a dual encoder the trainer
may score non-positive labels from a label-embedding cache refreshed every N steps (``stale_ok``): positives
stay fresh (with gradients), negatives are at most N-1 steps stale; the trainer states N in its rows.
"""
from __future__ import annotations

import torch

from . import SAMPLERS
from .base import BaseSampler, SampledBatch


@SAMPLERS.register("full")
class FullSampler(BaseSampler):
    name = "full"
    stale_ok = True
    reads = frozenset()

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        """pool = all L labels; targets (B, L) = the queries' rows of Y."""
        pool = torch.arange(self.num_labels)
        return SampledBatch(queries=queries, pool=pool, candidates=None, targets=self.pos.pool_targets(queries, pool))
