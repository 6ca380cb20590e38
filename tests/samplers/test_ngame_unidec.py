"""NGAME batching and UniDEC pick-some-labels pools against their contracts.

Proves: NGAME's epoch is exactly ceil(n / batch_size) batches (the count the learning-rate schedule is planned
from) covering every query once; each cluster lies whole in one batch or runs on across consecutive batches, and
a batch ends inside a cluster only when no cluster boundary leaves the remaining batches able to hold the rest;
its schedule doubles the cluster size and re-clusters when due; PSL pools never exceed the cap, hold a positive
for every query, mark positives exactly, and include shortlist hard negatives when there is room, from the current
shortlist (its per-query tables are rebuilt whenever it is replaced, a checkpoint load included). Not proved:
any accuracy claim of the papers, nor that the greedy cuts split the fewest clusters possible.
"""
from __future__ import annotations

import math

import pytest
import torch

from tests.samplers.test_sampler_contract import RandomView, random_Y
from workbench.samplers import SamplerConfig, build_sampler
from workbench.samplers.positives import Positives


def ngame(Y, **kw):
    return build_sampler("ngame", Y, SamplerConfig(**kw))


def test_ngame_schedule_and_costs():
    Y = random_Y(n=80, L=20)
    s = ngame(Y, cluster_start=2, cluster_every=2, cluster_size_max=8, cluster_double_every=1)
    sizes = [s.cluster_size(e) for e in range(6)]
    assert sizes == [1, 1, 4, 8, 8, 8]
    view = RandomView(80, 20)
    for e in range(6):
        s.refresh(view, e, 0)
    assert [c["epoch"] for c in s.costs] == [2, 3, 4]  # first clustering, size change at 3, then every 2 epochs from 2
    assert all(c["refresh_s"] >= c["encode_s"] for c in s.costs)
    from workbench.xmc_train.stages import schedule_rows
    rows = schedule_rows(s, 6)
    assert [r["cluster_size"] for r in rows] == sizes and math.isnan(rows[0]["mean_points"])
    for r in rows[2:]:  # the clusters in use: at most the bound, and more than a quarter of it
        clusters = next(c["clusters"] for c in reversed(s.costs) if c["epoch"] <= r["epoch"])
        assert r["mean_points"] == 80 / clusters and r["cluster_size"] / 4 < r["mean_points"] <= r["cluster_size"]


@pytest.mark.parametrize("n,cluster,batch,splits", [
    (97, 4, 16, None), (97, 5, 16, None), (97, 8, 8, None), (97, 32, 8, None), (1000, 64, 100, None),
    (128, 8, 16, 0),  # clusters of 8 fill batches of 16 exactly: nothing to split
    (120, 16, 40, 2),  # 8 clusters of 15 in 3 batches of 40: packing whole clusters needs 4 (the old defect)
])
def test_ngame_batches_keep_clusters_whole_unless_forced(n, cluster, batch, splits):
    Y = random_Y(n=n, L=20)
    s = ngame(Y, cluster_start=0, cluster_size_max=cluster, cluster_double_every=1)
    s.fixed_size = cluster
    s.refresh(RandomView(n, 20), 0, 0)
    gen = torch.Generator().manual_seed(0)
    batches = list(s.batches(0, batch, gen))
    assert len(batches) == math.ceil(n / batch), "the per-epoch count the learning-rate schedule is planned from"
    flat = torch.cat(batches)
    assert sorted(flat.tolist()) == list(range(n))
    assert all(0 < len(b) <= batch for b in batches)
    at = {q: i for i, q in enumerate(flat.tolist())}
    starts = set()
    for c in s.clusters:  # a cluster occupies one contiguous run of the epoch: whole, or on into the next batch
        where = sorted(at[q] for q in c.tolist())
        assert where == list(range(where[0], where[0] + len(c)))
        starts.add(where[0])
    cuts = torch.tensor([len(b) for b in batches]).cumsum(0).tolist()[:-1]
    split = [i for i, c in enumerate(cuts) if c not in starts]
    for i in split:  # forced: the batch is full, and every boundary it could end at leaves too much for the rest
        prev, left = (cuts[i - 1] if i else 0), len(batches) - 1 - i
        assert len(batches[i]) == batch
        assert all(b <= prev or b > prev + batch or n - b > left * batch for b in starts)
    for i, c in enumerate(cuts):  # greedy: no cluster start past a cut fits this batch and leaves room for the rest
        prev, left = (cuts[i - 1] if i else 0), len(batches) - 1 - i
        assert not any(c < b <= prev + batch and n - b <= left * batch for b in starts)
    if splits is not None:
        assert len(split) == splits
    sb = s.sample(batches[0], gen)  # in-batch negatives: pool-wide targets
    assert torch.equal(sb.targets, Positives(Y).is_positive(batches[0], sb.pool))


def test_ngame_random_batches_before_clustering():
    s = ngame(random_Y(), cluster_start=5)
    assert s.refresh(RandomView(60, 25), 0, 0) == 0.0 and s.clusters is None
    assert sorted(torch.cat(list(s.batches(0, 16, torch.Generator()))).tolist()) == list(range(60))


# (300, 1, 4): a cap with room for everything and hard negatives on reaches the "pool holds a label no query
# of the batch has as positive" check below (hard negatives were dropped from the pool -> caught)
@pytest.mark.parametrize("cap,p,hard", [(16, 3, 2), (40, 3, 4), (300, 1, 0), (16, 1, 8), (300, 1, 4)])
def test_psl_pools(cap, p, hard):
    Y = random_Y(n=50, L=60, density=0.12)
    s = build_sampler("unidec", Y, SamplerConfig(pool_cap=cap, psl_positives=p, hard_per_query=hard,
                                                 shortlist_size=10, cluster_start=0, cluster_size_max=4))
    s.refresh(RandomView(50, 60), 0, 0)
    pos = Positives(Y)
    gen = torch.Generator().manual_seed(0)
    for q in s.batches(0, 16, gen):
        b = s.sample(q, gen)
        assert len(b.pool) <= cap and torch.equal(b.pool, torch.unique(b.pool))
        assert b.candidates is None and b.targets.shape == (len(q), len(b.pool))
        assert torch.equal(b.targets, pos.is_positive(q, b.pool)), "targets are exactly the positives"
        assert b.targets.any(1).all(), "every query has a positive in the pool"
        if hard and cap >= 300:
            negs = (~b.targets).all(0)
            assert negs.any()
            assert set(s.hard_negatives(q).tolist()) <= set(b.pool.tolist()), "room for all hard negatives"


def test_psl_includes_hard_negatives_when_room():
    Y = random_Y(n=30, L=80, density=0.05)
    s = build_sampler("unidec", Y, SamplerConfig(pool_cap=500, psl_positives=1, hard_per_query=3,
                                                 shortlist_size=10, cluster_start=99))
    s.refresh(RandomView(30, 80), 0, 0)
    q = torch.arange(30)
    b = s.sample(q, torch.Generator().manual_seed(0))
    hard = s.hard_negatives(q)
    assert len(hard) > 0 and set(hard.tolist()) <= set(b.pool.tolist())
    for i in range(30):  # per query: the first non-positive shortlist entries, in shortlist order
        expect = [x for x in s.shortlist[i].tolist() if Y[i, x] == 0][:3]
        assert s.hard_negatives(torch.tensor([i])).tolist() == expect


@pytest.mark.parametrize("p", [1, 3])
@pytest.mark.parametrize("hard", [0, 2])
def test_psl_samples_psl_positives_per_query_first(p, hard):
    """Disjoint positives, 5 per query, the cap at p labels per query: the cap is spent on the sampled positives
    before any hard negative (from a shortlist of 10 labels no query has), so each query has exactly p of its
    positives in the pool (then the cap cuts). Catches hard negatives filled before the sampled positives."""
    import numpy as np
    import scipy.sparse as sp
    n = 8
    Y = sp.csr_matrix((np.ones(5 * n), np.arange(5 * n), np.arange(0, 5 * n + 1, 5)), shape=(n, 5 * n + 10))
    shortlisted = set(range(5 * n, 5 * n + 10))
    for room in (0, 10):
        s = build_sampler("unidec", Y, SamplerConfig(pool_cap=p * n + room, psl_positives=p, hard_per_query=hard,
                                                     shortlist_size=10, cluster_start=99))
        s.shortlist = torch.arange(5 * n, 5 * n + 10).repeat(n, 1)
        b = s.sample(torch.arange(n), torch.Generator().manual_seed(0))
        if not room:
            assert b.targets.sum(1).tolist() == [p] * n
        # the hard negatives come in once there is room (else the shortlist would not be read at all)
        assert bool(set(b.pool.tolist()) & shortlisted) == bool(hard and room)


def test_psl_cap_below_batch_raises():
    s = build_sampler("unidec", random_Y(), SamplerConfig(pool_cap=4))
    with pytest.raises(ValueError, match="pool_cap"):
        s.sample(torch.arange(10), torch.Generator())


def _first_free(Y, shortlist, i: int, h: int) -> list[int]:
    return [x for x in shortlist[i].tolist() if Y[i, x] == 0][:h]


def test_psl_hard_negatives_follow_a_replaced_or_loaded_shortlist():
    """The hard negatives are tabulated once per shortlist: replacing the shortlist (a refresh, a checkpoint load)
    must rebuild the table, never serve the old one."""
    Y = random_Y(n=30, L=80, density=0.05)
    cfg = SamplerConfig(pool_cap=500, hard_per_query=3, shortlist_size=10, cluster_start=99)
    s = build_sampler("unidec", Y, cfg)
    s.refresh(RandomView(30, 80, seed=0), 0, 0)
    first = s.shortlist.clone()
    s.shortlist = torch.flip(first, dims=[1])  # same labels, reversed rank order
    for i in range(30):
        assert s.hard_negatives(torch.tensor([i])).tolist() == _first_free(Y, s.shortlist, i, 3)
    loaded = build_sampler("unidec", Y, cfg)
    loaded.load_state_dict(s.state_dict())
    q, gen_a, gen_b = torch.arange(30), torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    a, b = s.sample(q, gen_a), loaded.sample(q, gen_b)
    assert torch.equal(a.pool, b.pool) and torch.equal(a.targets, b.targets)
    assert torch.equal(s.hard_negatives(q), loaded.hard_negatives(q))


def test_pack_clusters_cuts_at_the_furthest_boundary_that_fits():
    """Clusters {0}, {1, 2, 3}, {4..7}, {8} in batches of 4 (n = 9: 3 batches; boundaries 1, 4, 8, 9). First cut:
    the batch may end in [9 - 2 x 4, 4] = [1, 4], the furthest boundary there is 4; second: [5, 8], boundary 8. So
    no cluster is split (a boundary exactly at the batch's end missed, the cut fell back to 1 and split {4..7})."""
    from workbench.samplers.ngame import pack_clusters
    desired = [torch.tensor([0]), torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6, 7]), torch.tensor([8])]
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0)).tolist()  # the shuffle pack_clusters draws
    clusters = [None] * 4
    for i, o in enumerate(order):
        clusters[o] = desired[i]
    out = pack_clusters(clusters, 4, torch.Generator().manual_seed(0))
    assert [b.tolist() for b in out] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
