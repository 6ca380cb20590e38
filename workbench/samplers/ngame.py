"""``ngame``: negative-mining-aware mini-batching (Dahiya et al., WSDM 2023).

Batches are built from clusters of training queries: every training query is encoded, the embeddings are
split by recursive balanced 2-means into clusters of ``cluster_size(epoch)`` points, the clusters are shuffled
and packed whole into batches of at most ``batch_size`` queries. Negatives are in-batch (the batch-mates'
sampled positives, as :mod:`.in_batch`), which the clustering makes hard without encoding any extra label.

Schedule (scaled by parameters, the official code's shape): random batches before ``cluster_start``; from
then on re-cluster every ``cluster_every`` epochs (and whenever the cluster size changes); the cluster size is
1 at epoch 0 and doubles every ``cluster_double_every`` epochs up to ``cluster_size_max``. Each refresh's cost
(encode + cluster seconds) is kept in ``costs``.
"""
from __future__ import annotations

import time

import torch

from . import SAMPLERS
from .base import BaseSampler, SampledBatch
from .in_batch import in_batch_sample
from .positives import random_batches


def pack_clusters(clusters: list[torch.Tensor], batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffle clusters and pack them whole, in order, into batches of at most ``batch_size`` queries (a cluster
    larger than a batch is cut, the only case where a batch holds part of a cluster)."""
    out, cur, n = [], [], 0
    for i in torch.randperm(len(clusters), generator=generator).tolist():
        c = clusters[i]
        if n and n + len(c) > batch_size:
            out.append(torch.cat(cur))
            cur, n = [], 0
        if len(c) > batch_size:
            out.extend(c.split(batch_size))
            continue
        cur.append(c)
        n += len(c)
    if cur:
        out.append(torch.cat(cur))
    return out


@SAMPLERS.register("ngame")
class NgameSampler(BaseSampler):
    name = "ngame"
    heads = "de"

    def __init__(self, Y_train, cfg, fixed_size: int | None = None):
        super().__init__(Y_train, cfg)
        self.fixed_size = fixed_size  # set: clusters of this size from cluster_start on, no doubling
        self.clusters: list[torch.Tensor] | None = None
        self.clustered_size = 0
        self.costs: list[dict] = []  # one per re-clustering: epoch, cluster_size, encode_s, cluster_s, refresh_s

    def cluster_size(self, epoch: int) -> int:
        if epoch < self.cfg.cluster_start:
            return 1
        if self.fixed_size:
            return self.fixed_size
        return min(self.cfg.cluster_size_max, 2 ** (epoch // self.cfg.cluster_double_every))

    def due(self, epoch: int) -> bool:
        size = self.cluster_size(epoch)
        if size <= 1:
            return False
        every = (epoch - self.cfg.cluster_start) % self.cfg.cluster_every == 0
        return every or size != self.clustered_size or self.clusters is None

    def refresh(self, state, epoch: int, step: int) -> float:
        if not self.due(epoch):
            return 0.0
        from ..xmc_train.clustering import balanced_clusters, cluster_members
        size = self.cluster_size(epoch)
        t0 = time.perf_counter()
        with torch.no_grad():
            emb = state.query_embeddings()
        t1 = time.perf_counter()
        self.clusters = cluster_members(balanced_clusters(emb, size, seed=self.cfg.seed + epoch))
        t2 = time.perf_counter()
        self.clustered_size = size
        self.costs.append({"epoch": epoch, "step": step, "cluster_size": size, "clusters": len(self.clusters),
                           "encode_s": t1 - t0, "cluster_s": t2 - t1, "refresh_s": t2 - t0})
        return t2 - t0

    def batches(self, epoch: int, batch_size: int, generator: torch.Generator):
        if self.cluster_size(epoch) <= 1 or self.clusters is None:
            return iter(random_batches(self.pos.num_queries, batch_size, generator))
        return iter(pack_clusters(self.clusters, batch_size, generator))

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        return in_batch_sample(self, queries, generator)

    def state_dict(self) -> dict:
        return {"clusters": self.clusters, "clustered_size": self.clustered_size, "costs": self.costs}

    def load_state_dict(self, state: dict) -> None:
        self.clusters, self.clustered_size, self.costs = state["clusters"], state["clustered_size"], state["costs"]
