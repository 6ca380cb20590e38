"""``uniform``: k negatives per query drawn uniformly from all L labels, with replacement.

Candidates per query are ``[p sampled positives, k negatives]``. ``log_q`` is TensorFlow's expected-count
convention, log(k * Q(c)), for positives and negatives alike, so a logQ-corrected softmax subtracts it from every
logit (Bengio & Senecal; Yi et al. 2019). With ``remove_hits`` a negative that is a positive of its query is
marked invalid (TensorFlow's ``remove_accidental_hits``), which leaves the draw's distribution unchanged.
"""
from __future__ import annotations

import math

import torch

from . import SAMPLERS
from .base import BaseSampler, SampledBatch
from .positives import pool_from


class CandidateSampler(BaseSampler):
    """Positives plus k negatives from a fixed distribution over labels (``draw`` / ``log_prob``)."""

    samples_log_q = True
    reads = frozenset({"num_negatives", "positives_per_query", "remove_hits", "share_negatives"})

    def draw(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        B, k, p = len(queries), self.cfg.num_negatives, self.cfg.positives_per_query
        pos, pos_valid = self.pos.sample(queries, p, generator)
        neg = self.draw((1 if self.cfg.share_negatives else B, k), generator).expand(B, k)
        neg_valid = torch.ones((B, k), dtype=torch.bool)
        if self.cfg.remove_hits:
            neg_valid &= ~self.pos.is_positive(queries, neg)
        labels = torch.cat([pos, neg], dim=1)
        valid = torch.cat([pos_valid, neg_valid], dim=1)
        targets = torch.cat([pos_valid, torch.zeros((B, k), dtype=torch.bool)], dim=1)
        pool, cols = pool_from(labels, valid)
        log_q = math.log(k) + self.log_prob(labels)
        return SampledBatch(queries=queries, pool=pool, candidates=cols, targets=targets, log_q=log_q, valid=valid)


@SAMPLERS.register("uniform")
class UniformSampler(CandidateSampler):
    """Q(c) = 1 / L for every label."""
    name = "uniform"

    def draw(self, shape, generator):
        return torch.randint(self.num_labels, shape, generator=generator)

    def log_prob(self, labels):
        return torch.full(labels.shape, -math.log(self.num_labels))
