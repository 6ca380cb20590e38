"""The step profiler records exactly the requested steps of one sampler (the warm-up ones are run, not recorded)
and returns per-step operator rows; the trainer's ``on_step`` hook sees every step once. Toy data, tiny encoder,
CPU. Does not prove: anything about where a GPU step's time goes (that is what it is for, on the device)."""
from __future__ import annotations

import pytest

from workbench.xmc_train.profile import step_profile
from workbench.xmc_train.stages import train_sampler
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.xmc_train.toy import toy_text_dataset


@pytest.fixture(scope="module")
def setup():
    cfg = NegativeMiningConfig(samplers=["in_batch"], epochs=3, batch_size=16, max_length=12, device="cpu")
    return cfg, prepare(cfg, toy_text_dataset(n_train=64, n_test=10, num_labels=20))


def test_on_step_sees_every_step_once(setup):
    cfg, prep = setup
    seen = []
    rows, _, _ = train_sampler(cfg, prep, "in_batch", progress=False, on_step=seen.append, max_steps=7,
                               eval_every=-1)
    assert seen == list(range(1, 8))


def test_step_profile_rows_per_recorded_step(setup):
    cfg, prep = setup
    # every operator (top large): which ones rank in a top 15 by CPU time depends on the machine's load (under two
    # concurrent jobs no matrix product made this test's top 15)
    rows = step_profile(cfg, prep, "in_batch", steps=3, warmup=2, top=10**6)
    assert len(step_profile(cfg, prep, "in_batch", steps=1, warmup=1, top=5)) == 5
    assert [r["self_cpu_ms"] for r in rows] == sorted((r["self_cpu_ms"] for r in rows), reverse=True)
    ops = {r["op"]: r for r in rows}
    # the encoder's matrix products run on every recorded step: a whole number of calls per step
    mm = [r for name, r in ops.items() if name in ("aten::addmm", "aten::mm", "aten::linear", "aten::matmul")]
    assert mm and all(r["calls_per_step"] >= 1 and float(r["calls_per_step"]).is_integer() for r in mm)
    assert all(r["sampler"] == "in_batch" and r["self_cpu_ms"] >= 0 for r in rows)
    assert ops["ProfilerStep*"]["calls_per_step"] == 1   # exactly the 3 recorded steps, no teardown
    with pytest.raises(ValueError):
        step_profile(cfg, prep, "in_batch", steps=0)
    with pytest.raises(ValueError):
        step_profile(cfg, prep, "in_batch", warmup=0)


def test_step_profile_runs_past_the_configured_epochs(setup):
    """64 points at batch 16 and 3 epochs allow 12 steps; 20 + 2 are asked for: the profile trains them all."""
    cfg, prep = setup
    rows = step_profile(cfg, prep, "in_batch", steps=20, warmup=2, top=50)
    assert {r["op"]: r for r in rows}["ProfilerStep*"]["calls_per_step"] == 1
