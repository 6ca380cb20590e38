"""Clustered batching keeps the learning-rate schedule: every optimizer step is a planned one, none at lr 0.

NGAME and UniDEC used to pack whole clusters into batches, which on this toy problem (120 queries, batch 40,
clusters of 15) gave 4 batches an epoch where the schedule planned ceil(120 / 40) = 3: the extra steps ran past
the end of the warm-up/decay schedule at learning rate 0. Proves: over runs with clustering active, the optimizer
steps exactly as many times as the schedule planned, each at a positive learning rate read from the optimizer
just before the step, and the schedule reaches its end; a sampler yielding another count is refused. Does not
prove anything about accuracy, nor about GPU runs.
"""
from __future__ import annotations

import pytest

from tests.xmc_train.test_trainer import setup as build
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.train_config import TrainConfig, planned_steps, steps_per_epoch
from workbench.xmc_train.trainer import Trainer


class LrProbe:
    """Wraps a sampler; records the learning rate each optimizer step uses (read when its batch is sampled,
    after the previous step's scheduler update)."""

    def __init__(self, inner):
        self.inner, self.trainer, self.lrs = inner, None, []

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def sample(self, q, g):
        self.lrs.append([group["lr"] for group in self.trainer.opt.param_groups])
        return self.inner.sample(q, g)


@pytest.mark.parametrize("sampler,heads,kw", [
    ("ngame", "de", {"cluster_start": 1, "cluster_double_every": 1, "cluster_size_max": 16}),
    ("unidec", "de+clf", {"cluster_start": 1, "cluster_size_max": 16, "pool_cap": 64}),
])
def test_clustered_run_steps_exactly_the_planned_schedule(sampler, heads, kw):
    m, s, _ = build(sampler, heads=heads, **kw)
    cfg = TrainConfig(epochs=5, batch_size=40, lr=1e-3, warmup_frac=0.2, log_every=1, device="cpu")
    probe = LrProbe(s)
    tr = Trainer(m, probe, build_loss("softmax"), cfg, progress=False)
    probe.trainer = tr
    tr.run()
    assert s.clusters is not None and max(len(c) for c in s.clusters) == 15, "clustering must be active"
    assert {c["cluster_size"] for c in s.costs} >= {16}
    n = len(m.queries)
    assert tr.total == planned_steps(n, cfg) == cfg.epochs * steps_per_epoch(n, cfg.batch_size) == 15
    assert len(probe.lrs) == tr.step == tr.total, "optimizer steps = the schedule's planned total"
    assert all(lr > 0 for step in probe.lrs for lr in step), "a step ran at learning rate 0"
    assert tr.sched.get_last_lr() == [0.0] * len(tr.opt.param_groups), "the schedule ran to its end"
    encoder_lrs = [step[0] for step in probe.lrs]
    peak = encoder_lrs.index(max(encoder_lrs))
    assert encoder_lrs[peak:] == sorted(encoder_lrs[peak:], reverse=True), "linear decay after warm-up"


class ExtraBatch:
    """Wraps a sampler and cuts one more batch out of every epoch (what whole-cluster packing used to do)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def batches(self, epoch, batch_size, generator):
        first, *rest = self.inner.batches(epoch, batch_size, generator)
        return iter([first[:1], first[1:], *rest])


def test_a_sampler_with_another_batch_count_is_refused():
    m, s, _ = build("in_batch")
    with pytest.raises(RuntimeError, match="learning-rate schedule"):
        Trainer(m, ExtraBatch(s), build_loss("softmax"), TrainConfig(epochs=1, batch_size=40, device="cpu"),
                progress=False).run()
