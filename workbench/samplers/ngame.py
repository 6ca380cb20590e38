"""``ngame``: negative-mining-aware mini-batching (Dahiya et al., WSDM 2023).

Batches are built from clusters of training queries: every training query is encoded, the embeddings are
split by recursive balanced 2-means into clusters of at most ``cluster_size(epoch)`` points (halving until each
fits: between about half that and all of it), the clusters are shuffled, concatenated and cut into exactly
``ceil(n / batch_size)`` batches of at most ``batch_size`` queries, the count every sampler yields and the
learning-rate schedule is planned from (see :func:`pack_clusters`). Cuts fall between clusters wherever the
remaining batches can still hold the rest; otherwise a cluster is split across two consecutive batches. Negatives
are in-batch (the batch-mates' sampled positives, as :mod:`.in_batch`), which the clustering makes hard without
encoding any extra label.

Schedule (scaled by parameters, after the official code's): random batches before ``cluster_start``; from
then on re-cluster every ``cluster_every`` epochs (and whenever the cluster size changes); the cluster size is
1 at epoch 0 and doubles every ``cluster_double_every`` epochs up to ``cluster_size_max``. One difference: the
official code (LF-AmazonTitles-131K config) doubles at listed epochs, the first being the one clustering starts
at (10, 20, 25, 50, ..., 200: 2 points at epoch 10, 512 at 200), so its first clusters hold 2 points; here the
doublings count from epoch 0, so the first clusters hold ``2 ** (cluster_start // cluster_double_every)`` points:
2 at the CPU defaults (both 1), 4 in the gpu profiles (4 and 2). Each refresh's cost (encode + cluster seconds)
is kept in ``costs``.
"""
from __future__ import annotations

import math
import time

import torch

from ..timing import sync
from . import SAMPLERS
from .base import BaseSampler, SampledBatch
from .in_batch import in_batch_sample
from .positives import random_batches


def pack_clusters(clusters: list[torch.Tensor], batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffle clusters, concatenate them and cut the sequence into exactly ``ceil(n / batch_size)`` batches of
    at most ``batch_size`` queries (n = all clustered queries): the per-epoch step count the trainer plans its
    learning-rate schedule from, whatever the cluster sizes.

    Cuts are chosen greedily, batch by batch: the furthest cluster boundary that fits in the batch and still
    leaves the remaining batches able to hold the rest (``n - cut <= batches_left * batch_size``). Only when no
    boundary qualifies is the batch filled to exactly ``batch_size``, splitting one cluster across two
    consecutive batches (a cluster larger than a batch is always cut). So a split is forced given the cuts
    before it; the greedy does not prove the fewest splits over all cut sequences. It sits between a plain cut
    every ``batch_size`` queries (a split at nearly every cut) and packing whole clusters only, which yields
    more batches than planned unless ``batch_size`` is close to a multiple of the cluster size (the extra steps
    then ran past the end of the learning-rate schedule, at learning rate 0).
    """
    order = torch.randperm(len(clusters), generator=generator).tolist()
    flat = torch.cat([clusters[i] for i in order])
    n, B = len(flat), batch_size
    count = math.ceil(n / B)
    ends = torch.tensor([len(clusters[i]) for i in order]).cumsum(0)  # cluster boundaries in ``flat``
    cuts = [0]
    for left in range(count - 1, 0, -1):  # batches left after this cut
        reach, need = cuts[-1] + B, n - left * B  # this batch ends in [need, reach]
        j = int(torch.searchsorted(ends, reach, right=True)) - 1  # furthest boundary <= reach
        whole = j >= 0 and int(ends[j]) > cuts[-1] and int(ends[j]) >= need
        cuts.append(int(ends[j]) if whole else reach)
    cuts.append(n)
    return [flat[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


@SAMPLERS.register("ngame")
class NgameSampler(BaseSampler):
    name = "ngame"
    heads = "de"
    reads = frozenset({"positives_per_query", "cluster_start", "cluster_every", "cluster_size_max",
                       "cluster_double_every", "seed"})

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

    def refresh(self, view, epoch: int, step: int) -> float:
        if not self.due(epoch):
            return 0.0
        from ..xmc_train.clustering import balanced_clusters, cluster_members
        size = self.cluster_size(epoch)
        t0 = time.perf_counter()
        with torch.no_grad():
            emb = view.query_embeddings()
        sync(emb.device)  # the last encoder chunk may still be queued: count it as encoding, not clustering
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
