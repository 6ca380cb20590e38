"""Compact tables against brute force: every label once per table when buckets are large enough; the reservoir
bound and its uniformity when they are not; bucket look-ups return exactly the labels that share the code."""
import pytest
import torch

from workbench.lsh.params import LSHParams, build_index
from workbench.lsh.tables import build_tables


def test_every_label_once_per_table_after_rehash():
    g = torch.Generator().manual_seed(0)
    idx = build_index(LSHParams(K=4, L=5, cap=10_000), dim=8)
    W = torch.randn(3000, 8, generator=g)
    codes = []
    for refresh in (idx.rehash, idx.redraw):  # rehash, then redraw (new functions + rehash), called explicitly
        refresh(W)
        t = idx.tables
        codes.append(idx.family.codes(W))
        for table in range(5):
            start, end = int(t.offsets[table, 0]), int(t.offsets[table, -1] + t.counts[table, -1])
            assert torch.equal(t.ids[start:end].sort().values, torch.arange(3000))
    assert [c["what"] for c in idx.costs] == ["rehash", "rehash", "redraw"]
    assert not torch.equal(codes[0], codes[1]), "redraw must draw new hash functions"


@pytest.mark.parametrize("center", [False, True])
def test_buckets_hold_exactly_the_labels_with_that_code(center):
    g = torch.Generator().manual_seed(1)
    idx = build_index(LSHParams(K=3, L=2, cap=10_000, center=center), dim=6)
    W = torch.randn(500, 6, generator=g) + 2.0     # a shared direction, as trained label vectors have
    idx.rehash(W)
    codes = idx.family.codes(W - W.mean(0) if center else W)
    q = torch.randn(7, 6, generator=g)
    ids, valid = idx.buckets(idx.family.codes(q))
    qc = idx.family.codes(q)
    for b in range(7):
        got = ids[b][valid[b]].sort().values
        want = torch.cat([torch.nonzero(codes[:, t] == qc[b, t]).ravel() for t in range(2)]).sort().values
        assert torch.equal(got, want)


def test_reservoir_bound_and_uniform_choice():
    N, cap = 40, 10
    codes = torch.zeros(N, 1, dtype=torch.int64)  # one overfull bucket
    codes[:5] = 1
    g = torch.Generator().manual_seed(2)
    hits = torch.zeros(N)
    R = 1500
    for _ in range(R):
        t = build_tables(codes, num_buckets=4, cap=cap, generator=g)
        assert t.counts.tolist() == [[cap, 5, 0, 0]] and t.full.tolist() == [[35, 5, 0, 0]]
        kept = t.ids
        assert len(kept) == len(set(kept.tolist())) == cap + 5
        hits[kept] += 1
    assert torch.all(hits[:5] == R)                            # under-full bucket keeps everyone
    freq = hits[5:] / R                                        # each of 35 kept with prob 10/35
    assert abs(freq.mean().item() - cap / 35) < 1e-6
    assert float((freq - cap / 35).abs().max()) < 0.06         # ~4.7 sigma at R=1500


def test_bad_capacity_and_missing_tables():
    with pytest.raises(ValueError, match="capacity"):
        build_tables(torch.zeros(3, 1, dtype=torch.int64), 2, 0, torch.Generator())
    idx = build_index(LSHParams(), dim=4)
    with pytest.raises(RuntimeError, match="rehash"):
        idx.buckets(torch.zeros(1, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="scheme"):
        LSHParams(scheme="both").validate()


def test_centering_spreads_a_shared_direction_and_keeps_logit_order():
    """Label vectors sharing a direction crowd a few buckets; centring spreads them. Centring shifts every logit
    of a query by the same amount, so the order of labels by logit (what the softmax sees) is unchanged. Does not
    prove: that the sampled negatives are harder (the study measures that)."""
    g = torch.Generator().manual_seed(3)
    W = torch.randn(4000, 16, generator=g) * 0.3 + torch.randn(16, generator=g)   # one direction dominates
    crowd = {}
    for center in (False, True):
        idx = build_index(LSHParams(K=6, L=4, cap=10_000, center=center), dim=16)
        idx.rehash(W)
        crowd[center] = int(idx.tables.full.max())
        q = torch.randn(5, 16, generator=g)
        hashed = idx.label_vectors(torch.arange(4000))
        shift = (q @ W.T) - (q @ hashed.T)
        assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-4)
    assert crowd[True] * 4 < crowd[False], crowd
