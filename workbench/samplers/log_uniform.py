"""``log_uniform``: TensorFlow's log-uniform (Zipfian) candidate sampler over labels ranked by frequency.

Labels are ranked by training frequency, most frequent first (ties by label id), and rank r in [0, L) is drawn
with P(r) = (log(r + 2) - log(r + 1)) / log(L + 1), by TensorFlow's inverse-CDF formula
r = floor(exp(u * log(L + 1))) - 1, u ~ U[0, 1). Same candidate layout and ``log_q`` convention as ``uniform``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import SAMPLERS
from .uniform import CandidateSampler


def log_uniform_probs(L: int) -> torch.Tensor:
    """(L,) float64 P(rank r) of the log-uniform distribution; sums to 1."""
    r = torch.arange(L, dtype=torch.float64)
    return (torch.log(r + 2) - torch.log(r + 1)) / math.log(L + 1)


@SAMPLERS.register("log_uniform")
class LogUniformSampler(CandidateSampler):
    name = "log_uniform"

    def __init__(self, Y_train, cfg):
        super().__init__(Y_train, cfg)
        freq = np.asarray((Y_train > 0).sum(axis=0)).ravel()
        self.rank_to_label = torch.from_numpy(np.argsort(-freq, kind="stable").astype(np.int64))
        self.label_rank = torch.empty_like(self.rank_to_label)
        self.label_rank[self.rank_to_label] = torch.arange(self.num_labels)
        self._log_p = log_uniform_probs(self.num_labels).log().float()

    def draw(self, shape, generator):
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        r = (torch.exp(u * math.log(self.num_labels + 1)).floor().long() - 1).clamp(0, self.num_labels - 1)
        return self.rank_to_label[r]

    def log_prob(self, labels):
        return self._log_p[self.label_rank[labels]]
