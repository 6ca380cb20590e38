"""LSH negatives against brute force on random tiny indexes (hypothesis, derandomized): 1-40 labels, 1-4
tables of 1-4 bits, bucket caps from 1, budgets above and below the union, a zero label vector, both families,
plain and centred hashing.

What this proves: ``union_size`` is the number of distinct non-positive labels kept in the query's buckets
(read bucket by bucket from the compact layout); the slots drawn from the buckets are distinct members of that
union, min(budget, union) of them; no valid slot is a positive; every id is a label; log_q is finite. Does not
prove: the log_q values (test_lsh_sampler and test_lsh_logq_* check those).
"""
from __future__ import annotations

import torch
from hypothesis import assume, given, settings, strategies as st

from workbench.lsh.params import LSHParams, build_index
from workbench.lsh.query import lsh_negatives

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True)


@SETTINGS
@given(N=st.integers(1, 40), d=st.integers(1, 6), K=st.integers(1, 4), L=st.integers(1, 4), cap=st.integers(1, 8),
       B=st.integers(1, 5), P=st.integers(0, 3), budget=st.integers(1, 50), family=st.sampled_from(["simhash", "dwta"]),
       center=st.booleans(), seed=st.integers(0, 1000), zero_label=st.booleans())
def test_negatives_match_a_brute_force_union(N, d, K, L, cap, B, P, budget, family, center, seed, zero_label):
    assume(family == "simhash" or d >= 2)  # DWTA bins of 2 coordinates at least
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(N, d, generator=g)
    if zero_label:
        W[0] = 0.0
    index = build_index(LSHParams(family=family, K=K, L=L, cap=cap, bin_size=2, center=center, seed=seed), dim=d)
    index.rehash(W)
    q = torch.randn(B, d, generator=g)
    positives = torch.randint(-1, N, (B, P), generator=g)  # -1: padding
    neg = lsh_negatives(index, q, positives, budget, index.label_vectors, g)
    assert neg.ids.shape == (B, budget) and torch.isfinite(neg.log_q).all()
    t, codes = index.tables, index.family.codes(q)
    for b in range(B):
        union = set()
        for table in range(t.L):
            start, count = int(t.offsets[table, codes[b, table]]), int(t.counts[table, codes[b, table]])
            union |= set(t.ids[start:start + count].tolist())
        pos = {x for x in positives[b].tolist() if x >= 0}
        union -= pos
        assert int(neg.union_size[b]) == len(union)
        drawn = neg.ids[b][neg.from_lsh[b]].tolist()
        assert set(drawn) <= union and len(drawn) == len(set(drawn)) == min(budget, len(union))
        assert not set(neg.ids[b][neg.valid[b]].tolist()) & pos
        assert all(0 <= x < N for x in neg.ids[b].tolist())
