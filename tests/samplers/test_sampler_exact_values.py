"""Samplers on batches small enough to write their answer by hand: which labels enter the pool, which pairs are
masked, in what order hard negatives are taken. A review that changed one line at a time in the samplers found each
of these changes passed the rest of the suite (label ids equal to pool indices, one positive per query, a shortlist
never short, hid them).

Does not prove: that the samplers train well (the negative-mining study measures that)."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from workbench.samplers import SamplerConfig, build_sampler
from workbench.samplers.base import SampledBatch, mask_excluded
from workbench.samplers.ngame import pack_clusters
from workbench.samplers.positives import Positives


def _Y(rows: list[list[int]], L: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(r) for r in rows])
    cols = np.concatenate([np.asarray(r, np.int64) for r in rows]) if indptr[-1] else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), shape=(len(rows), L))


def test_candidate_masks_read_label_ids_not_pool_indices():
    """Pool (10, 20, 30), query 0 scores pool indices (2, 0), i.e. labels 30 and 10; (0, 30) is excluded: the
    first candidate is masked. Read as label ids, the indices 2 and 0 would hit nothing."""
    pos = Positives(_Y([[10]], 40))
    pos.exclude(np.array([[0, 30]]))
    batch = SampledBatch(torch.tensor([0]), torch.tensor([10, 20, 30]), torch.tensor([[2, 0]]),
                         torch.tensor([[False, True]]))
    assert mask_excluded(batch, pos).valid.tolist() == [[False, True]]


def test_an_excluded_pair_that_is_also_a_positive_stays_a_positive():
    """(0, 1) is both a positive and an excluded pair: it keeps its place as a target, valid."""
    pos = Positives(_Y([[1]], 3))
    pos.exclude(np.array([[0, 1]]))
    q, pool = torch.tensor([0]), torch.arange(3)
    batch = SampledBatch(q, pool, None, pos.pool_targets(q, pool))
    out = mask_excluded(batch, pos)
    assert out.valid is None or out.valid.tolist() == [[True, True, True]]


def test_in_batch_pool_is_every_sampled_positive_and_nothing_else():
    """Four queries with two positives each, positives_per_query 2: the pool is all 8 labels. Two queries with one
    positive each (5 and 6) and p = 2: the pool is {5, 6}; the padding of the second slot brings no label 0."""
    Y = _Y([[0, 1], [2, 3], [4, 5], [6, 7]], 8)
    for name in ("in_batch", "ngame"):
        s = build_sampler(name, Y, SamplerConfig(positives_per_query=2))
        assert s.sample(torch.arange(4), torch.Generator().manual_seed(0)).pool.tolist() == list(range(8))
        s = build_sampler(name, _Y([[5], [6]], 8), SamplerConfig(positives_per_query=2))
        assert s.sample(torch.arange(2), torch.Generator().manual_seed(0)).pool.tolist() == [5, 6]


def test_ance_fills_a_short_shortlist_with_uniform_labels():
    """A one-entry shortlist holding the query's positive, 4 negatives asked: all 4 are uniform draws over the 10
    labels (the positive among them at rate 1/10), never the shortlist entry repeated."""
    s = build_sampler("ance", _Y([[3]], 10), SamplerConfig(num_negatives=4, remove_hits=False))
    s.shortlist = torch.tensor([[3]])
    negs = torch.cat([s.hard_negatives(torch.tensor([0]), 4, torch.Generator().manual_seed(i)) for i in range(500)])
    assert negs.shape == (500, 4)
    assert float((negs == 3).float().mean()) < 0.2   # uniform: 0.1; the entry repeated in 3 slots: 0.77
    assert len(torch.unique(negs)) == 10


def test_ngame_shuffles_the_clusters_every_call():
    """Eight single-query clusters packed with 50 seeds: the first batch starts with different clusters."""
    clusters = [torch.tensor([i]) for i in range(8)]
    firsts = {int(pack_clusters(clusters, 2, torch.Generator().manual_seed(s))[0][0]) for s in range(50)}
    assert len(firsts) >= 5


def test_unidec_hard_negatives_skip_excluded_pairs_and_are_rank_major():
    """Query 0's shortlist starts with its excluded label 3: its first hard negative is 4. With two per query,
    the batch takes every query's best before anyone's second (a, c, b, d), so a pool cap cuts second choices."""
    Y = _Y([[0], [1]], 10)
    s = build_sampler("unidec", Y, SamplerConfig(hard_per_query=1))
    s.pos.exclude(np.array([[0, 3]]))
    s.shortlist = torch.tensor([[3, 4, 5], [6, 7, 8]])
    assert s.hard_negatives(torch.tensor([0])).tolist() == [4]
    s = build_sampler("unidec", Y, SamplerConfig(hard_per_query=2))
    s.shortlist = torch.tensor([[4, 5, 6], [7, 8, 9]])
    assert s.hard_negatives(torch.arange(2)).tolist() == [4, 7, 5, 8]


def test_ngame_reclusters_every_n_epochs_from_its_start_with_a_seed_per_epoch(monkeypatch):
    """cluster_start 3, cluster_every 2, clusters of 2 from the start on: refreshes at epochs 3, 5 and 7 (counted
    from the start, not 4 and 6 from epoch 0), each clustering seeded by seed + epoch (a new split each time);
    before the start, batches are random even though clusters exist (e.g. loaded from a checkpoint)."""
    from tests.samplers.test_sampler_contract import RandomView, random_Y
    from workbench.samplers.positives import random_batches
    from workbench.xmc_train import clustering
    seeds = []
    real = clustering.balanced_clusters
    monkeypatch.setattr(clustering, "balanced_clusters", lambda emb, size, seed: seeds.append(seed)
                        or real(emb, size, seed=seed))
    s = build_sampler("ngame", random_Y(n=40, L=10), SamplerConfig(cluster_start=3, cluster_every=2,
                                                                  cluster_size_max=2, cluster_double_every=1, seed=7))
    view = RandomView(40, 10)
    for e in range(8):
        s.refresh(view, e, 0)
    assert [c["epoch"] for c in s.costs] == [3, 5, 7] and seeds == [10, 12, 14]
    got = torch.cat(list(s.batches(0, 8, torch.Generator().manual_seed(5))))
    assert got.tolist() == torch.cat(random_batches(40, 8, torch.Generator().manual_seed(5))).tolist()


def test_unidec_pool_has_no_padding_label_and_short_shortlists_add_no_positives():
    """Query 0 has no positive, query 1 has label 2: the pool is [2] (query 0's empty sample slot must not put
    label 0 in). A shortlist [0, 1, 3] for a query whose positives are 0 and 1 holds one hard negative, 3: with
    hard_per_query 2 the second slot is marked missing, not filled with a positive."""
    Y = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 1, 0]], np.float32))
    s = build_sampler("unidec", Y, SamplerConfig(hard_per_query=2, pool_cap=8))
    b = s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert b.pool.tolist() == [2]
    Y2 = sp.csr_matrix(np.array([[1, 1, 0, 0]], np.float32))
    s2 = build_sampler("unidec", Y2, SamplerConfig(hard_per_query=2, pool_cap=8))
    picked, ok = s2._hard_table(torch.tensor([[0, 1, 3]]))
    assert picked[ok].tolist() == [3] and ok.tolist() == [[True, False]]


@pytest.mark.parametrize("scheme", ["label", "embedding"])
def test_lsh_schemes_query_with_the_positive_vector_or_the_query_embedding(monkeypatch, scheme):
    """LSH-Label hashes each query's sampled positive's (snapshot) label vector, LSH-Embedding the query's own
    embedding: the vectors handed to the bucket lookup are exactly those rows."""
    from workbench.lsh.params import LSHParams
    from workbench.samplers import lsh as lsh_mod
    g = torch.Generator().manual_seed(0)
    W, Q = torch.randn(10, 8, generator=g), torch.randn(6, 8, generator=g)
    Y = sp.csr_matrix(np.eye(6, 10, dtype=np.float32))  # query i's one positive is label i
    seen = []
    real = lsh_mod.lsh_negatives
    monkeypatch.setattr(lsh_mod, "lsh_negatives", lambda ix, qv, *a: seen.append(qv.clone()) or real(ix, qv, *a))
    s = build_sampler("lsh", Y, SamplerConfig(num_negatives=3), lsh=LSHParams(K=2, L=2, cap=4, scheme=scheme),
                      label_vectors=lambda ids: W if ids is None else W[ids], query_vectors=lambda ids: Q[ids])
    s.refresh(None, 0, 0)
    q = torch.tensor([4, 1, 3])
    s.sample(q, torch.Generator().manual_seed(1))
    assert torch.equal(seen[0], W[q] if scheme == "label" else Q[q])


def test_unidec_pool_rules_cap_other_positives_and_fixed_clusters():
    """The pool must hold every query's sampled positive, so a cap below the batch is refused (B - 1 too);
    with room, a query's other positives fill the pool (4 positives, 1 sampled: all 4 are in); UniDEC's clusters
    keep their size (cluster_size_max) from the start, not NGAME's doubling."""
    Y = sp.csr_matrix(np.array([[1, 1, 1, 1, 0], [0, 0, 0, 0, 1]], np.float32))
    cfg = dict(psl_positives=1, hard_per_query=0, cluster_start=1, cluster_size_max=8, cluster_double_every=1)
    with pytest.raises(ValueError, match="pool_cap"):
        build_sampler("unidec", Y, SamplerConfig(pool_cap=1, **cfg)).sample(torch.tensor([0, 1]),
                                                                            torch.Generator().manual_seed(0))
    s = build_sampler("unidec", Y, SamplerConfig(pool_cap=8, **cfg))
    assert s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0)).pool.tolist() == [0, 1, 2, 3, 4]
    assert [s.cluster_size(e) for e in range(4)] == [1, 8, 8, 8]


def test_lsh_tables_hash_a_snapshot_not_the_live_weights():
    """A classifier's rows move in place under the optimizer after a rehash: the sampler's snapshot (what the
    tables hashed, what log_q describes) must not move with them."""
    from workbench.lsh.params import LSHParams
    W = torch.randn(10, 8, generator=torch.Generator().manual_seed(0))
    before = W.clone()
    Y = sp.csr_matrix(np.eye(6, 10, dtype=np.float32))
    s = build_sampler("lsh", Y, SamplerConfig(num_negatives=3), lsh=LSHParams(K=2, L=2, cap=4, scheme="label"),
                      label_vectors=lambda ids: W if ids is None else W[ids], query_vectors=lambda ids: W[ids])
    s.refresh(None, 0, 0)
    s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(1))
    W.add_(1.0)
    assert torch.equal(s.snapshot, before)


def test_sampler_config_refuses_a_negative_hard_per_query():
    with pytest.raises(ValueError, match="hard_per_query"):
        SamplerConfig(hard_per_query=-1).validate()
