"""log_q of a short union: each label's expected count in the sample is its union term plus the uniform pads'
share, whether the slot came from the buckets or from padding. Checked against counts over redrawn hash
functions and pads, where padding fills about half the budget (the notebook's default race had 38-62%).
Does not prove: calibration when buckets overflow their cap (a plug-in there, see test_lsh_sampler.py)."""
import math

import torch

from workbench.lsh.params import LSHParams, build_index
from workbench.lsh.query import lsh_negatives


def test_expected_counts_include_the_padding_term():
    g = torch.Generator().manual_seed(0)
    N, d, budget, R = 120, 12, 60, 400
    W = torch.randn(N, d, generator=g)
    q = (W[0] + 0.6 * torch.randn(d, generator=g))[None]
    idx = build_index(LSHParams(family="simhash", K=4, L=3, cap=N, seed=0), dim=d)
    idx.rehash(W)
    counts, est, union_only, padded = torch.zeros(N), torch.zeros(N), torch.zeros(N), 0.0
    for _ in range(R):
        idx.redraw(W)
        neg = lsh_negatives(idx, q, torch.full((1, 1), -1), budget, idx.label_vectors, g)
        counts += torch.bincount(neg.ids[0], minlength=N).float()
        U = int(neg.union_size[0])
        incl = idx.family.log_inclusion(q, W[None]).exp()[0] * min(1.0, budget / U if U else 1.0)
        pads = max(budget - U, 0) / N
        est += (incl + pads) / R
        union_only += incl / R
        padded += float((~neg.from_lsh).float().mean()) / R
        # what the sampler reports for each slot is this draw's formula, for bucket and padded slots alike
        assert torch.allclose(neg.log_q[0], (incl[neg.ids[0]].clamp(min=1e-6) + pads).log(), atol=1e-5)
    freq = counts / R
    assert 0.3 < padded < 0.8                                    # a short union: much of the budget is padding
    assert math.isclose(float(est.sum()), budget, rel_tol=0.02)  # the expected counts add up to the budget
    assert float((freq - est).abs().sum() / est.sum()) < 0.1     # and match the counts label by label
    assert float(union_only.sum() / freq.sum()) < 0.7            # the union term alone misses the pads
