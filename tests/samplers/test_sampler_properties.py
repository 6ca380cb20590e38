"""Every registered sampler on random tiny problems (hypothesis, derandomized): label and query counts from 1,
batches larger than the data, one-label spaces, shortlists and pools of one, clustered epochs from epoch 0.

What this proves: over several epochs with refreshes, each epoch's batches cover every query once in
ceil(n / batch_size) batches; pools are sorted unique label ids; targets mark only true positives (truth read
from the label matrix); every query scores a valid positive; with remove_hits no valid negative is a positive;
log_q is finite where valid. Does not prove: any sampling distribution (test_sampler_contract checks those).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.samplers.test_sampler_contract import RandomView, scored
from workbench.samplers import SAMPLERS, SamplerConfig, build_sampler

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(name=st.sampled_from(sorted(SAMPLERS.names())), n=st.integers(1, 30), L=st.integers(1, 30),
       density=st.floats(0.0, 0.6), seed=st.integers(0, 999), batch_size=st.integers(1, 12),
       k=st.integers(1, 6), p=st.integers(1, 3), shortlist=st.integers(1, 12), psl=st.integers(1, 3),
       hard=st.integers(0, 4), cluster_start=st.integers(0, 2), cluster_max=st.integers(1, 8), remove=st.booleans(),
       share=st.booleans(), epochs=st.integers(1, 3), data=st.data())
def test_batches_and_targets_on_random_tiny_problems(name, n, L, density, seed, batch_size, k, p, shortlist, psl,
                                                      hard, cluster_start, cluster_max, remove, share, epochs, data):
    rng = np.random.default_rng(seed)
    dense = rng.random((n, L)) < density
    dense[np.arange(n), rng.integers(L, size=n)] = True  # every query has a positive
    Y = sp.csr_matrix(dense.astype(np.float32))
    pool_cap = data.draw(st.integers(batch_size, 40))  # unidec needs one positive per query in its pool
    cfg = SamplerConfig(num_negatives=k, positives_per_query=p, remove_hits=remove, share_negatives=share,
                        shortlist_size=shortlist, cluster_start=cluster_start, cluster_every=1,
                        cluster_size_max=cluster_max, cluster_double_every=1, pool_cap=pool_cap, psl_positives=psl,
                        hard_per_query=hard, seed=seed)
    sampler, view = build_sampler(name, Y, cfg), RandomView(n, L, seed=seed)
    sampler.bind(view)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        sampler.refresh(view, epoch, epoch * 10)
        batches = list(sampler.batches(epoch, batch_size, gen))
        assert len(batches) == math.ceil(n / batch_size)
        assert sorted(torch.cat(batches).tolist()) == list(range(n))
        for q in batches:
            b = sampler.sample(q, gen)
            assert torch.equal(b.pool, torch.unique(b.pool)) and 0 <= int(b.pool.min()) <= int(b.pool.max()) < L
            labels, targets, valid = scored(b)
            truth = torch.as_tensor(dense[q[:, None].numpy(), labels.numpy()])
            assert not (targets & ~truth).any(), "a non-positive is marked as a target"
            assert (targets & valid).sum(1).ge(1).all(), "every query scores a valid positive"
            if remove:
                assert not (truth & ~targets & valid).any(), "a valid negative is a positive"
            if b.log_q is not None:
                assert torch.isfinite(b.log_q[valid]).all()
