"""Every registered sampler (baselines, NGAME, UniDEC, LSH) against the SampledBatch contract, on small random
relevance matrices.

What this proves: shapes, that targets mark exactly the true positives among the scored labels, that removal of
accidental hits works (and that hits do happen without it), that uniform / log-uniform draws follow their
stated distributions and ANCE draws its negatives uniformly without replacement from the free shortlist
entries (chi-square, fixed seeds), and that ANCE / UniDEC rebuild their shortlists on the refresh_every
schedule. Truth for "is a positive" is read from the label matrix, not from Positives. It does not prove
anything about training quality.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import chisquare

from workbench.samplers import SAMPLERS, SamplerConfig, build_sampler
from workbench.samplers.log_uniform import log_uniform_probs
from workbench.samplers.positives import Positives

ALL_SAMPLERS = sorted(SAMPLERS.names())  # every registered one: a new sampler is checked without listing it


def random_Y(n=60, L=25, density=0.15, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    Y = sp.random(n, L, density=density, format="csr", random_state=rng, dtype=np.float32)
    Y.data[:] = 1.0
    Y = sp.lil_matrix(Y)
    for i in range(n):  # every query has at least one positive
        if Y[i].nnz == 0:
            Y[i, rng.integers(L)] = 1.0
    return sp.csr_matrix(Y)


class RandomView:
    """A ModelView with fixed random embeddings (what ANCE refreshes from)."""

    def __init__(self, n, L, d=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.q, self.l = torch.randn(n, d, generator=g), torch.randn(L, d, generator=g)

    def query_embeddings(self, ids=None):
        return self.q if ids is None else self.q[ids]

    def label_embeddings(self, ids=None):
        return self.l if ids is None else self.l[ids]


def make(name, Y, **kw):
    s = build_sampler(name, Y, SamplerConfig(**kw))
    s.refresh(RandomView(*Y.shape), 0, 0)
    return s


def scored(batch):
    """(B, K) label ids scored per query, targets, valid."""
    B = len(batch.queries)
    if batch.candidates is None:
        labels = batch.pool[None, :].expand(B, -1)
    else:
        labels = batch.pool[batch.candidates]
    valid = torch.ones_like(batch.targets) if batch.valid is None else batch.valid
    return labels, batch.targets, valid


@pytest.mark.parametrize("name", ALL_SAMPLERS)
@pytest.mark.parametrize("p", [1, 2])
def test_contract(name, p):
    Y = random_Y()
    s = make(name, Y, num_negatives=5, positives_per_query=p, shortlist_size=10)
    gen = torch.Generator().manual_seed(1)
    batches = list(s.batches(0, 16, gen))
    assert sorted(torch.cat(batches).tolist()) == list(range(Y.shape[0]))  # an epoch covers every query once
    dense = Y.toarray()
    for q in batches:
        b = s.sample(q, gen)
        B, C = len(q), len(b.pool)
        assert torch.equal(b.queries, q)
        assert torch.equal(b.pool, torch.unique(b.pool)) and b.pool.min() >= 0 and b.pool.max() < Y.shape[1]
        if b.candidates is None:
            assert b.targets.shape == (B, C)
        else:
            assert b.candidates.shape == b.targets.shape and b.candidates.shape[0] == B
            assert b.candidates.min() >= 0 and b.candidates.max() < C
            assert b.candidates.shape[1] == p + 5
        for t in (b.log_q, b.valid):
            assert t is None or t.shape == b.targets.shape
        labels, targets, valid = scored(b)
        # truth from the label matrix itself, not from Positives (the code under test builds targets with it)
        truth = torch.as_tensor(dense[q[:, None].numpy(), labels.numpy()] > 0)
        assert not (targets & ~truth).any(), "a non-positive is marked as a target"
        if name in ("full", "in_batch"):
            assert torch.equal(targets, truth), "pool-wide samplers mark every positive in the pool"
        assert (targets & valid).sum(1).ge(1).all(), "every query scores at least one positive"
        assert (targets & valid).sum(1).le(p).all() or b.candidates is None


@pytest.mark.parametrize("name", ["uniform", "log_uniform", "ance"])
def test_remove_hits(name):
    Y = random_Y(n=40, L=12, density=0.4)  # dense: accidental hits are frequent
    gen = torch.Generator().manual_seed(0)
    dense = Y.toarray()
    hits = {}
    for remove in (True, False):
        s = make(name, Y, num_negatives=8, remove_hits=remove, shortlist_size=3)
        b = s.sample(torch.arange(40), gen)
        labels, targets, valid = scored(b)
        truth = torch.as_tensor(dense[b.queries[:, None].numpy(), labels.numpy()] > 0)
        hits[remove] = int((truth & ~targets & valid).sum())
    assert hits[True] == 0
    # ance's shortlist negatives exclude positives anyway; its uniform top-up still hits on this dense Y
    assert hits[False] > 0, "the test data must produce accidental hits for the check above to mean anything"


def chi2_p(counts: np.ndarray, probs: np.ndarray) -> float:
    return chisquare(counts, probs / probs.sum() * counts.sum()).pvalue


def test_uniform_frequencies_and_log_q():
    Y = random_Y(L=20)
    s = make("uniform", Y, num_negatives=50, remove_hits=False)
    gen = torch.Generator().manual_seed(3)
    counts = np.zeros(20)
    for _ in range(40):
        b = s.sample(torch.arange(60), gen)
        neg = b.pool[b.candidates[:, 1:]]
        counts += np.bincount(neg.ravel().numpy(), minlength=20)
        assert torch.allclose(b.log_q, torch.full_like(b.log_q, math.log(50 / 20)))
    assert chi2_p(counts, np.ones(20)) > 1e-3  # 120K draws; a wrong distribution gives p ~ 0


def test_log_uniform_frequencies_and_log_q():
    Y = random_Y(n=200, L=30, density=0.1, seed=4)
    s = make("log_uniform", Y, num_negatives=40, remove_hits=False)
    freq = np.asarray(Y.sum(0)).ravel()
    rank = np.empty(30, int)
    rank[np.argsort(-freq, kind="stable")] = np.arange(30)
    p_label = log_uniform_probs(30).numpy()[rank]
    assert abs(p_label.sum() - 1) < 1e-12
    assert p_label[np.argmax(freq)] == p_label.max()  # the most frequent label is the most likely negative
    gen = torch.Generator().manual_seed(5)
    counts = np.zeros(30)
    for _ in range(20):
        b = s.sample(torch.arange(200), gen)
        neg = b.pool[b.candidates[:, 1:]]
        counts += np.bincount(neg.ravel().numpy(), minlength=30)
        lab = b.pool[b.candidates]
        expect = torch.log(40 * torch.as_tensor(p_label)[lab]).float()
        assert torch.allclose(b.log_q, expect, atol=1e-5)
    assert chi2_p(counts, p_label) > 1e-3
    tv = 0.5 * np.abs(counts / counts.sum() - p_label).sum()
    assert tv < 0.01  # 160K draws: TV of an exact sampler is ~ sqrt(L / N) / 2 ~ 0.007 at worst


@pytest.mark.parametrize("name", [n for n in ALL_SAMPLERS if SAMPLERS.get(n).samples_log_q and n != "lsh"])
def test_log_q_is_each_labels_expected_count_among_the_draws(name):
    """Every sampler that says it returns log_q (a new one too, without listing it): exp(log_q) of a label is its
    mean count among one query's negatives, over 1000 batches (L1 gap under 10% of the k draws; sampling noise
    is ~4%, a constant or another distribution's log_q is off by 30% or more). Left out: lsh, whose log_q is over
    random hash functions, not over draws from fixed tables (tests/lsh/test_lsh_logq_padding.py redraws them)."""
    Y = random_Y(n=60, L=20, seed=7)
    k, R = 10, 1000
    s = make(name, Y, num_negatives=k, remove_hits=False)
    gen = torch.Generator().manual_seed(11)
    counts, q_hat = torch.zeros(20), torch.full((20,), float("nan"))
    for _ in range(R):
        b = s.sample(torch.tensor([0]), gen)
        labels, targets, valid = scored(b)
        neg = ~targets[0] & valid[0]
        counts += torch.bincount(labels[0][neg], minlength=20)
        q_hat[labels[0][valid[0]]] = b.log_q[0][valid[0]].double().exp().float()
    free = torch.as_tensor(Y[0].toarray().ravel() == 0)  # the query's positives are scored as positives instead
    assert not q_hat[free].isnan().any(), "every label was drawn at least once in 1000 batches"
    gap = float((counts[free] / R - q_hat[free]).abs().sum())
    assert gap < 0.1 * k, f"{name}: exp(log_q) differs from the draws' mean counts by {gap:.2f} of {k} draws"


def test_shared_negatives_are_shared():
    s = make("uniform", random_Y(), num_negatives=6, share_negatives=True, remove_hits=False)
    b = s.sample(torch.arange(10), torch.Generator().manual_seed(0))
    neg = b.pool[b.candidates[:, 1:]]
    assert (neg == neg[0]).all()


def test_positives_sample_distinct_and_uniform():
    Y = sp.csr_matrix(np.array([[1, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=np.float32))
    pos = Positives(Y)
    gen = torch.Generator().manual_seed(0)
    labs, valid = pos.sample(torch.tensor([0, 1]), 2, gen)
    assert valid.tolist() == [[True, True], [True, False]] and labs[1, 0] == 1
    counts = np.zeros(5)
    for _ in range(3000):
        labs, valid = pos.sample(torch.tensor([0]), 2, gen)
        assert labs[0, 0] != labs[0, 1]
        counts += np.bincount(labs[0].numpy(), minlength=5)
    assert counts[4] == 0 and chi2_p(counts[:4], np.ones(4)) > 1e-3


def test_ance_negatives_come_from_the_shortlist():
    Y = random_Y(n=30, L=40, density=0.05)
    s = make("ance", Y, num_negatives=3, shortlist_size=10)
    b = s.sample(torch.arange(30), torch.Generator().manual_seed(0))
    neg = b.pool[b.candidates[:, 1:]]
    for i in range(30):
        free = [x for x in s.shortlist[i].tolist() if Y[i, x] == 0]
        if len(free) >= 3:
            assert set(neg[i].tolist()) <= set(free)


def test_ance_negatives_follow_a_replaced_or_loaded_shortlist():
    """ANCE marks its shortlist's positives once per shortlist: a replaced shortlist (refresh, checkpoint load) must
    be re-marked, or positives of the new one would be served as negatives."""
    Y = random_Y(n=30, L=40, density=0.05)
    s = make("ance", Y, num_negatives=3, shortlist_size=10, remove_hits=False)
    pos = Positives(Y)
    rows = [sorted(pos.row(i).tolist()) for i in range(30)]
    s.shortlist = torch.tensor([(r + [x for x in range(40) if x not in r])[:10] for r in rows])  # positives first
    loaded = build_sampler("ance", Y, SamplerConfig(num_negatives=3, shortlist_size=10, remove_hits=False))
    loaded.load_state_dict(s.state_dict())
    for sampler in (s, loaded):
        b = sampler.sample(torch.arange(30), torch.Generator().manual_seed(0))
        neg = b.pool[b.candidates[:, 1:]]
        for i in range(30):
            free = [x for x in sampler.shortlist[i].tolist() if Y[i, x] == 0]
            assert set(neg[i].tolist()) <= set(free), "a shortlist positive was drawn as a negative"


def test_unknown_sampler_lists_known():
    with pytest.raises(ValueError, match="known:.*in_batch"):
        SAMPLERS.get("nope")


def test_bad_config_raises():
    with pytest.raises(ValueError, match="num_negatives"):
        build_sampler("uniform", random_Y(), SamplerConfig(num_negatives=0))


def test_pool_targets_equals_dense_lookup():
    # both Positives look-ups against Y's dense matrix: catches a wrong row/column mapping or a missed entry
    Y = random_Y(n=70, L=90, density=0.1)
    dense = Y.toarray() > 0
    pos = Positives(Y)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        q = torch.randperm(70, generator=g)[:20]
        pool = torch.unique(torch.randint(90, (40,), generator=g))
        want = torch.as_tensor(dense[q[:, None].numpy(), pool[None, :].numpy()])
        assert want.any(), "the draw must contain positives for the comparison to mean anything"
        assert torch.equal(pos.pool_targets(q, pool), want)
        assert torch.equal(pos.is_positive(q, pool[None, :].expand(len(q), -1)), want)
    assert pos.pool_targets(q, pool[:0]).shape == (20, 0)


def test_ance_negatives_uniform_without_replacement_over_free_shortlist():
    # query 0: positives {0,1,2,3}; its shortlist mixes them with six free labels {4..9}. Each draw of 3 must be
    # 3 distinct free labels, and every 3-subset of the 6 equally likely (1/20): a chi-square over subsets
    # catches a rank-biased pick (e.g. always the top free entries), a draw with replacement, or a positive.
    from itertools import combinations
    Y = sp.csr_matrix(np.array([[1] * 4 + [0] * 16, [0] * 19 + [1]], dtype=np.float32))
    s = build_sampler("ance", Y, SamplerConfig(num_negatives=3, shortlist_size=10, remove_hits=False))
    s.shortlist = torch.tensor([[0, 4, 1, 5, 6, 2, 7, 8, 9, 3], list(range(10))])
    b = s.sample(torch.zeros(6000, dtype=torch.long), torch.Generator().manual_seed(0))
    neg = b.pool[b.candidates[:, 1:]]
    assert (neg >= 4).all() and (neg <= 9).all(), "a negative outside the free shortlist entries"
    srt = neg.sort(dim=1).values
    assert (srt[:, 1:] != srt[:, :-1]).all(), "a row drew the same negative twice"
    subsets = {c: i for i, c in enumerate(combinations(range(4, 10), 3))}
    counts = np.bincount([subsets[tuple(r)] for r in srt.tolist()], minlength=20)
    assert chi2_p(counts, np.ones(20)) > 1e-3  # 6000 draws, 300 per subset expected


class CountingView(RandomView):
    """RandomView that counts full encodings of the labels (ANCE / UniDEC shortlists encode all labels)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.label_encodings = 0

    def label_embeddings(self, ids=None):
        self.label_encodings += ids is None
        return super().label_embeddings(ids)


@pytest.mark.parametrize("name", ["ance", "unidec"])
def test_shortlist_refresh_schedule(name):
    # refresh_every=2 over epochs 0-5, refresh called at two steps per epoch (the trainer may call it at each
    # step): the shortlist is rebuilt at epochs 0, 2, 4 only. Catches refreshing every epoch, every call, or
    # only once. unidec's NGAME clustering is kept off (cluster_start=99) so only the shortlist encodes labels.
    Y = random_Y()
    s = build_sampler(name, Y, SamplerConfig(refresh_every=2, shortlist_size=5, cluster_start=99))
    view = CountingView(*Y.shape)
    rebuilt = []
    for epoch in range(6):
        for step in (0, 1):
            before = view.label_encodings
            s.refresh(view, epoch, 10 * epoch + step)
            if view.label_encodings > before:
                rebuilt.append(epoch)
    assert rebuilt == [0, 2, 4]


class RecordingConfig:
    """A :class:`SamplerConfig` that records which fields are read (the sampler sees it as its ``cfg``)."""

    def __init__(self, cfg: SamplerConfig):
        self._cfg, self.seen = cfg, set()

    def __getattr__(self, field):
        if field != "validate":
            self.seen.add(field)
        return getattr(self._cfg, field)


@pytest.mark.parametrize("name", ALL_SAMPLERS)
def test_reads_is_what_the_sampler_reads(name):
    # six epochs of refresh, batches and sampling with every schedule due early (clusters from epoch 1 doubling
    # every epoch, shortlists every epoch): the fields read must be exactly the declared `reads`, which the study
    # uses to refuse a sampler_overrides entry or variant that would change nothing (too small a set would refuse
    # a real setting; too large would let a no-op through)
    Y = random_Y()
    rec = RecordingConfig(SamplerConfig(num_negatives=3, shortlist_size=5, cluster_start=1, cluster_every=1,
                                        cluster_double_every=1, cluster_size_max=8, pool_cap=64))
    s = SAMPLERS.get(name)(Y, rec)
    view, gen = RandomView(*Y.shape), torch.Generator().manual_seed(0)
    s.bind(view)
    for epoch in range(6):
        s.refresh(view, epoch, 10 * epoch)
        for q in s.batches(epoch, 16, gen):
            s.refresh_step()
            s.sample(q, gen)
    assert rec.seen == set(s.reads), f"{name} reads {sorted(rec.seen)}, declares {sorted(s.reads)}"
