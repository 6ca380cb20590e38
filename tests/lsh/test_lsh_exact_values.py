"""The LSH sampler's glue on cases solved by hand: DWTA's inclusion probability uses K and L the right way round,
a negative from the buckets stays valid whatever its unused padding draw, the subset of an oversized union is
uniform, the sampler's positive lists and log_q columns, and (a second such review) padded positives' masks, the
collision probability's edges, zero rows, the schedule without refresh, crowding, 24-bit codes, LSH-Label's
snapshot and DWTA's densification order. A review that changed one line at a time found each change passed the
rest of the suite.

Does not prove: that the sampled negatives are hard (the study's adaptivity section measures that)."""
import math
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tests.lsh.test_lsh_sampler import FixedView
from workbench.lsh.hashing import DWTA, SimHash, make_family
from workbench.lsh.params import LSHParams
from workbench.lsh.probability import simhash_bit_prob
from workbench.lsh.query import choose_and_pad
from workbench.lsh.tables import build_tables, crowding
from workbench.samplers import SAMPLERS, SamplerConfig


def test_dwta_inclusion_is_one_minus_miss_to_the_L():
    """K = 3 hashes per table, L = 5 tables: log(1 - (1 - p^3)^5), p the share of agreeing elementary hashes."""
    fam = make_family("dwta", 16, 3, 5, torch.Generator().manual_seed(0), bin_size=4)
    g = torch.Generator().manual_seed(1)
    q, w = torch.randn(1, 16, generator=g), torch.randn(1, 1, 16, generator=g)
    p = float((fam.subhashes(q)[:, None] == fam.subhashes(w[0])[None]).float().mean())
    assert 0 < p < 1   # else K and L could not be told apart
    got = float(fam.log_inclusion(q, w)[0, 0])
    assert math.isclose(got, math.log(1 - (1 - p ** 3) ** 5), rel_tol=1e-5)


def test_a_bucket_negative_stays_valid_whatever_its_padding_draw():
    """Label 3 is the only non-positive in the buckets (labels 0, 1, 2 are positives): it fills the one slot,
    valid, although the unused padding draw behind it (uniform over 4 labels) is a positive 3 times in 4."""
    x, ok, positives = torch.tensor([[3]]), torch.tensor([[True]]), torch.tensor([[0, 1, 2]])
    for seed in range(20):
        ids, from_lsh, valid = choose_and_pad(x, ok, positives, 1, 4, torch.Generator().manual_seed(seed))
        assert ids.tolist() == [[3]] and bool(from_lsh.all()) and bool(valid.all())


def test_an_oversized_union_is_subsampled_uniformly():
    """10 usable ids, a budget of 3: each id is kept with probability 0.3 (the budget / U of log_q)."""
    x = torch.arange(10).repeat(4000, 1)
    ids, from_lsh, _ = choose_and_pad(x, torch.ones_like(x, dtype=torch.bool), torch.full((4000, 1), -1), 3, 10,
                                      torch.Generator().manual_seed(0))
    share = np.bincount(ids.flatten().numpy(), minlength=10) / 4000
    assert bool(from_lsh.all()) and np.abs(share - 0.3).max() < 0.03


def test_sampler_positive_lists_and_their_log_q():
    """Queries with positives {0} and {1, 2}: the padded lists are [[0, -1], [1, 2]] (-1 pads, so label 0 can be
    a negative of query 1); the positives' log_q columns are 0."""
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0]], np.float32))
    s = SAMPLERS.get("lsh")(Y, SamplerConfig(num_negatives=3, positives_per_query=1),
                            lsh=LSHParams(K=2, L=2, cap=8, rehash_every=1))
    assert s._all_positives(torch.tensor([0, 1])).tolist() == [[0, -1], [1, 2]]

    class View:
        def query_embeddings(self, ids):
            return torch.randn(len(ids), 4, generator=torch.Generator().manual_seed(0))

        def label_embeddings(self, ids=None):
            w = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
            return w if ids is None else w[ids]

    s.refresh(View(), 0, 0)
    b = s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert b.log_q.shape == (2, 4) and bool((b.log_q[:, :1] == 0).all()) and bool((b.log_q[:, 1:] != 0).any())


def test_centred_tables_give_log_q_the_centred_vectors(monkeypatch):
    """With center, the tables hash each label vector minus their mean, and the inclusion probabilities of log_q
    must be computed on those same vectors: the sampler hands lsh_negatives W[ids] - mean(W), not W[ids]."""
    from workbench.samplers import lsh as lsh_sampler
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0]], np.float32))
    s = SAMPLERS.get("lsh")(Y, SamplerConfig(num_negatives=3, positives_per_query=1),
                            lsh=LSHParams(K=2, L=2, cap=8, rehash_every=1, center=True))
    W = torch.randn(6, 4, generator=torch.Generator().manual_seed(1)) + 5.0   # a large common offset

    class View:
        def query_embeddings(self, ids):
            return torch.randn(len(ids), 4, generator=torch.Generator().manual_seed(0))

        def label_embeddings(self, ids=None):
            return W if ids is None else W[ids]

    handed = []
    real = lsh_sampler.lsh_negatives
    monkeypatch.setattr(lsh_sampler, "lsh_negatives", lambda *a: handed.append(a[4]) or real(*a))
    s.refresh(View(), 0, 0)
    s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    ids = torch.tensor([0, 3, 5])
    torch.testing.assert_close(handed[0](ids), W[ids] - W.mean(0))


def test_adaptivity_columns_by_hand():
    """One query, logits (4, 3, 2, 1), label 1 its positive; a drawer that always returns labels 0 and 3 (0 from
    its buckets, 3 padding, union 2), three times. By masked logit (the positive last) 0 ranks 0 and 3 ranks 2,
    as fractions of N - 1 = 3: mean rank (0 + 2/3) / 2; mean logit (4 + 1) / 2; the top 3 negatives are
    (0, 2, 3): 2 of the 2 draws are in them (share 1); from_buckets 0.5; union 2; the buckets it read kept 80% of
    their labels. Every column is a mean over the repeats, not their sum."""
    from types import SimpleNamespace

    from workbench.lsh.adaptivity import adaptivity_rows
    h, W = torch.ones(1, 4), torch.diag(torch.tensor([4.0, 3.0, 2.0, 1.0]))
    drawer = lambda h, positives, W, generator: SimpleNamespace(  # noqa: E731
        ids=torch.tensor([[0, 3]]), valid=torch.tensor([[True, True]]), from_lsh=torch.tensor([[True, False]]),
        union_size=torch.tensor([2]), bucket_kept=torch.tensor([0.8]))
    (row,) = adaptivity_rows(h, W, torch.tensor([[1]]), {"fixed": drawer}, repeats=3,
                             generator=torch.Generator(), top=3)
    assert row["mean_logit"] == pytest.approx(2.5) and row["mean_rank"] == pytest.approx(1 / 3)
    assert row["top50_share"] == pytest.approx(1.0) and row["from_buckets"] == pytest.approx(0.5)
    assert row["union_mean"] == pytest.approx(2.0) and row["draws_per_query"] == pytest.approx(6.0)
    assert row["bucket_kept"] == pytest.approx(0.8)


def test_kept_of_read_is_the_share_of_a_querys_bucket_labels_the_cap_kept():
    """Cap 2; 6 labels hashed to one bucket, 1 to another: a query reading the crowded bucket in table 0 and the
    light one in table 1 kept (2 + 1) / (6 + 1); one reading only empty buckets kept all (1.0)."""
    from workbench.lsh.tables import LSHIndex
    index = LSHIndex.__new__(LSHIndex)
    index.tables = types.SimpleNamespace(L=2, cap=2, full=torch.tensor([[6, 0, 1], [0, 1, 0]]))
    kept = index.kept_of_read(torch.tensor([[0, 1], [1, 0]]))
    assert kept.tolist() == pytest.approx([3 / 7, 1.0])


def test_bench_rows_by_a_fixed_clock(monkeypatch):
    """Every timing stubbed to 0.2 s: a batch of 4 queries costs 200 ms, 50 ms per query; a redraw (new functions
    and a rehash of the tables) 400 ms, twice a rehash."""
    from workbench.lsh import bench
    monkeypatch.setattr(bench, "median_seconds", lambda fn, device, repeats, warmup, **kw: [fn()] and 0.2)
    monkeypatch.setattr(bench, "_interleaved_ratio", lambda *a: 1.0)
    rows = bench.bench_sizes([100, 200], LSHParams(K=2, L=2, cap=8), dim=4, batch=4, budget=4, repeats=1,
                             warmup=0, device=torch.device("cpu"), source="gaussian",
                             methods=("uniform", "lsh-embedding"))
    by = {(r["num_labels"], r["method"]): r for r in rows}
    assert by[100, "uniform"]["ms_per_batch"] == pytest.approx(200.0)
    assert by[100, "uniform"]["ms_per_query"] == pytest.approx(50.0)
    assert by[100, "redraw"]["ms_per_batch"] == pytest.approx(2 * by[100, "rehash"]["ms_per_batch"])


def test_lsh_label_queries_with_a_random_positive_of_each_row():
    """Rows [3, 40, 217] and [5, -1, -1]: over 600 calls the first row's query is each of its three labels about
    a third of the time (not label 3 every time), the second row's always label 5, never the padding."""
    from workbench.lsh.drawers import random_positive
    positives = torch.tensor([[3, 40, 217], [5, -1, -1]])
    gen = torch.Generator().manual_seed(0)
    picks = torch.stack([random_positive(positives, gen) for _ in range(600)])
    counts = {int(v): int(c) for v, c in zip(*torch.unique(picks[:, 0], return_counts=True))}
    assert set(counts) == {3, 40, 217} and all(150 <= c <= 250 for c in counts.values())
    assert (picks[:, 1] == 5).all()
    assert random_positive(torch.tensor([[-1, -1]]), gen).tolist() == [0]


def test_lsh_label_drawer_hashes_the_drawn_positive(monkeypatch):
    """The lsh-label drawer queries with the vector of the positive random_positive draws: label i's vector is
    [i] here, and over 300 calls the row [3, 40, 217] queried with all three."""
    import types

    from workbench.lsh import drawers
    monkeypatch.setattr(drawers, "lsh_negatives", lambda index, qv, *a: qv)
    index = types.SimpleNamespace(vectors=torch.arange(300.0).unsqueeze(1), label_vectors=None)
    draw = drawers.DRAWERS.get("lsh-label")(300, 4, index=index, log_q=False)
    gen = torch.Generator().manual_seed(0)
    seen = {int(draw(None, torch.tensor([[3, 40, 217]]), None, gen)[0, 0]) for _ in range(300)}
    assert seen == {3, 40, 217}


def test_adaptivity_in_query_chunks_equals_one_call():
    """A drawer whose draws depend only on the queries (the two labels after each query's own index, half of them
    "from buckets"): probing 7 queries over 11 labels in chunks of one query (max_elements 11) gives every column
    of probing them at once, so chunking (which bounds the probe's memory at 10^7 labels) changes no mean."""
    from types import SimpleNamespace

    from workbench.lsh.adaptivity import adaptivity_rows
    g = torch.Generator().manual_seed(0)
    h, W = torch.randn(7, 5, generator=g), torch.randn(11, 5, generator=g)
    positives = torch.tensor([[i % 11, -1] for i in range(7)])

    def drawer(hq, pos, W, generator):
        first = pos[:, :1] + 1
        ids = torch.cat([first, first + 1], 1) % W.shape[0]
        return SimpleNamespace(ids=ids, valid=torch.ones_like(ids, dtype=torch.bool),
                               from_lsh=torch.tensor([[True, False]]).expand_as(ids), union_size=first[:, 0] * 3,
                               bucket_kept=1 / (1 + first[:, 0].float()))
    whole = adaptivity_rows(h, W, positives, {"d": drawer}, repeats=2, generator=g)
    chunked = adaptivity_rows(h, W, positives, {"d": drawer}, repeats=2, generator=g, max_elements=11)
    assert whole[0].keys() == chunked[0].keys()
    for k, v in whole[0].items():
        assert chunked[0][k] == (v if isinstance(v, str) else pytest.approx(v, rel=1e-6)), k


def test_adaptivity_reads_one_value_for_every_query_as_such():
    """A drawer may give union_size and bucket_kept as one value for all its queries (0-d): the means are that
    value, not that value over the number of queries."""
    from types import SimpleNamespace

    from workbench.lsh.adaptivity import adaptivity_rows
    h, W = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.eye(5, 3)
    drawer = lambda h, positives, W, generator: SimpleNamespace(  # noqa: E731
        ids=torch.zeros(len(h), 2, dtype=torch.long) + 4, valid=torch.ones(len(h), 2, dtype=torch.bool),
        from_lsh=torch.ones(len(h), 2, dtype=torch.bool), union_size=torch.tensor(7), bucket_kept=torch.tensor(0.5))
    (row,) = adaptivity_rows(h, W, torch.tensor([[0]] * 4), {"d": drawer}, repeats=2, generator=torch.Generator())
    assert row["union_mean"] == pytest.approx(7.0) and row["bucket_kept"] == pytest.approx(0.5)


def test_a_padded_slot_that_drew_a_positive_is_not_a_valid_negative():
    """Labels 0, 1, 2 are the query's positives and 6 negatives are asked of 4 labels: most slots are padding, and a
    padded slot that drew a positive must be masked (``valid`` False), else the loss pushes a positive down."""
    y = sp.csr_matrix(np.array([[1, 1, 1, 0]], np.float32))
    s = SAMPLERS.get("lsh")(y, SamplerConfig(num_negatives=6, positives_per_query=1),
                            lsh=LSHParams(K=2, L=2, cap=8, rehash_every=100))
    g = torch.Generator().manual_seed(0)
    s.refresh(FixedView(torch.randn(1, 4, generator=g), torch.randn(4, 4, generator=g)), 0, 0)
    b = s.sample(torch.tensor([0]), torch.Generator().manual_seed(0))
    negs, valid = b.pool[b.candidates][0, 1:], b.valid[0, 1:]
    assert valid.tolist() == [int(x) not in (0, 1, 2) for x in negs]
    assert not bool(valid.all())


def test_simhash_bit_probability_at_the_edges():
    """A vector against itself collides with probability 1 (cos rounds to 1.0000001: unclamped, arccos gives NaN);
    a zero query against anything with probability 1/2 (unclamped norms give 0/0)."""
    q = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    p = simhash_bit_prob(q, q[:, None])
    assert bool(torch.isfinite(p).all())
    torch.testing.assert_close(p, torch.ones(64, 1), atol=1e-3, rtol=0)
    w = torch.randn(1, 3, 4, generator=torch.Generator().manual_seed(0))
    assert simhash_bit_prob(torch.zeros(1, 4), w).tolist() == [[0.5, 0.5, 0.5]]


def test_simhash_codes_of_a_zero_row_pack_its_zero_subhashes():
    """A zero projection is bit 0 in both the subhashes and the packed codes (one sign rule for both)."""
    fam = SimHash(6, K=3, L=2, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(1, 6)
    assert fam.codes(x).tolist() == [[0, 0]] and fam.subhashes(x).sum().item() == 0


def test_a_sampler_called_without_refresh_keeps_the_rehash_schedule_from_step_0():
    """Bound to a view and only ever asked to sample (no trainer refresh), the sampler builds its tables at step 0
    and rehashes every 2 steps after: steps 0 and 2 of 4."""
    y = sp.csr_matrix(np.eye(8, dtype=np.float32))
    s = SAMPLERS.get("lsh")(y, SamplerConfig(num_negatives=2), lsh=LSHParams(K=2, L=2, cap=4, rehash_every=2))
    g = torch.Generator().manual_seed(0)
    s.bind(FixedView(torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)))
    for _ in range(4):
        s.sample(torch.arange(2), g)
    assert [(c["what"], c["step"]) for c in s.costs] == [("rehash", 0), ("rehash", 2)] and s.step == 4


def test_crowding_counts_only_buckets_strictly_over_the_cap():
    """Buckets of 2, 3 and 1 labels with a cap of 2: only the bucket of 3 is over it, i.e. 3 of 6 labels."""
    assert crowding(torch.tensor([[2, 3, 1]]), cap=2, num_labels=6) == {"largest_bucket": 3, "over_cap_share": 0.5}


def test_tables_hold_24_bit_codes():
    """At K = 24 the sort key (code above a random priority) must leave the code its 24 bits: two labels in the
    top bucket, one in bucket 0."""
    codes = torch.tensor([[2 ** 24 - 1], [0], [2 ** 24 - 1]])
    t = build_tables(codes, 2 ** 24, cap=4, generator=torch.Generator().manual_seed(0))
    top = 2 ** 24 - 1
    assert t.counts[0, top].item() == 2 and t.counts[0, 0].item() == 1
    start = t.offsets[0, top].item()
    assert sorted(t.ids[start:start + 2].tolist()) == [0, 2]


def test_label_scheme_queries_with_the_hashed_snapshot_not_the_live_vectors():
    """LSH-Label queries with the label vectors the tables were built from: training moving the live vectors
    between rehashes (here negated) changes nothing until the next rehash."""
    y = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]], np.float32))
    out = []
    for move in (False, True):
        w = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
        s = SAMPLERS.get("lsh")(y, SamplerConfig(num_negatives=3),
                                lsh=LSHParams(K=2, L=2, cap=8, scheme="label", rehash_every=100),
                                label_vectors=lambda ids, w=w: w if ids is None else w[ids])
        s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
        if move:
            w.mul_(-1.0)
        b = s.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
        out.append((b.pool[b.candidates], b.log_q))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


def test_dwta_densification_borrows_in_a_random_order():
    """DWTA densifies an empty bin from the next non-empty one in a random permutation of the K L hashes (borrowing
    from the next hash of the same table correlates a table's hashes): a permutation, not the identity, and a new
    one with each seed."""
    a = DWTA(16, K=4, L=8, generator=torch.Generator().manual_seed(0), bin_size=4).densify_order
    b = DWTA(16, K=4, L=8, generator=torch.Generator().manual_seed(1), bin_size=4).densify_order
    assert sorted(a.tolist()) == list(range(32))
    assert not torch.equal(a, torch.arange(32)) and not torch.equal(a, b)
