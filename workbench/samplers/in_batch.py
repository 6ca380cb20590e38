"""``in_batch``: the other queries' sampled positives are the negatives (no extra label encoding).

Each query samples ``positives_per_query`` positives; the pool is their union and every query scores the whole
pool. Targets mark every pool label that is a positive of the query (not only its own sample), so a decoupled
loss never pushes a true positive down as a negative. A batch none of whose queries has a positive (a label-less
query alone in its batch) gets an empty pool: nothing to score, and its loss is 0 (``XMCModel.encode`` of no rows).
"""
from __future__ import annotations

import torch

from . import SAMPLERS
from .base import BaseSampler, SampledBatch


def in_batch_sample(sampler: BaseSampler, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
    pos, valid = sampler.pos.sample(queries, sampler.cfg.positives_per_query, generator)
    pool = torch.unique(pos[valid])
    targets = sampler.pos.pool_targets(queries, pool)  # torch.unique sorts the pool
    return SampledBatch(queries=queries, pool=pool, candidates=None, targets=targets)


@SAMPLERS.register("in_batch")
class InBatchSampler(BaseSampler):
    name = "in_batch"
    reads = frozenset({"positives_per_query"})

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        return in_batch_sample(self, queries, generator)
