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
    host = []
    rows = step_profile(cfg, prep, "in_batch", steps=3, warmup=2, top=10**6, host=host)
    # a real run's host row: time passed, the main thread's CPU is part of the process's (give or take the
    # microseconds between the two clocks' readings: the thread's is read last)
    (h,) = host
    assert h["wall_ms"] > 0 and 0 < h["main_thread_cpu_ms"] <= h["process_cpu_ms"] + 0.01 and h["steps"] == 3
    assert 0 <= h["gc_ms"] < h["wall_ms"] and h["gc_full"] <= h["gc_collections"]
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


def _faked_profile(monkeypatch):
    """step_profile around stand-ins: a 'training' that only calls on_step, and a profiler whose one operator
    took 3 ms of self CPU time and 4.5 ms in total over 6 calls (the whole recorded window)."""
    import types

    from workbench.xmc_train import profile as profile_mod
    seen = {}

    class FakeProfile:
        def __init__(self, activities, schedule):
            seen["schedule"] = schedule

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def step(self):
            pass

        def key_averages(self):
            return [types.SimpleNamespace(key="aten::mm", count=6, self_cpu_time_total=3000.0,
                                          cpu_time_total=4500.0, self_device_time_total=0.0)]

    def fake_train(cfg, prep, sampler, *, on_step, max_steps, **kw):
        for i in range(1, max_steps + 1):
            on_step(i)
        return [], None, None
    monkeypatch.setattr(profile_mod, "profile", FakeProfile)
    monkeypatch.setattr(profile_mod, "train_sampler", fake_train)
    return seen, NegativeMiningConfig(samplers=["in_batch"], batch_size=16, device="cpu"), \
        types.SimpleNamespace(train=list(range(64)))


def test_step_profile_divides_by_the_recorded_steps_and_records_after_the_warmup(monkeypatch):
    """3 recorded steps after 1 warm-up one: 6 calls are 2 per step, 3 ms of self CPU 1 ms per step, 4.5 ms in
    total 1.5 ms; the schedule handed to the profiler warms up on step 0 and records steps 1-3 (not from step 0,
    where the first calls' costs fall)."""
    from torch.profiler import ProfilerAction
    seen, cfg, prep = _faked_profile(monkeypatch)
    rows = step_profile(cfg, prep, "in_batch", steps=3, warmup=1)
    assert len(rows) == 1
    r = rows[0]
    assert (r["calls_per_step"], r["self_cpu_ms"], r["cpu_total_ms"]) == (2.0, 1.0, 1.5)
    assert r["self_device_ms"] != r["self_device_ms"]  # NaN: nothing timed on a device
    actions = [seen["schedule"](k) for k in range(4)]
    assert actions == [ProfilerAction.WARMUP] + [ProfilerAction.RECORD] * 2 + [ProfilerAction.RECORD_AND_SAVE]


@pytest.mark.parametrize(("steps", "warmup", "warns"), [(3, 1, False), (3, 2, True)])
def test_step_profile_warns_when_warmup_and_steps_cross_an_epoch(monkeypatch, steps, warmup, warns):
    """64 points at batch 16: an epoch is 4 batches. 1 + 3 steps fit in it; 2 + 3 do not (the recorded steps
    then include the next epoch's refresh), whatever the recorded steps alone would say."""
    import warnings
    _, cfg, prep = _faked_profile(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        step_profile(cfg, prep, "in_batch", steps=steps, warmup=warmup)
    assert any("per-epoch refreshes" in str(w.message) for w in caught) == warns


def test_host_row_per_step_from_two_marks():
    """Marks (wall, process CPU, thread CPU, (throttled periods, seconds), (gc seconds, collections, full ones)) 2 s
    apart over 4 steps: per step 500 ms wall, 750 ms of process CPU (1.5 cores busy), 250 ms on the main thread, 3
    periods throttled in all and 250 ms of throttling per step, 100 ms of gc per step in 7 collections, 1 full;
    unreadable throttling is NaN, not 0."""
    from workbench.xmc_train.profile import host_row
    r = host_row("in_batch", 4, (10.0, 1.0, 0.5, (1, 0.5), (0.1, 3, 0)), (12.0, 4.0, 1.5, (4, 1.5), (0.5, 10, 1)))
    assert (r["sampler"], r["steps"], r["wall_ms"], r["process_cpu_ms"], r["main_thread_cpu_ms"]) == \
        ("in_batch", 4, 500.0, 750.0, 250.0)
    assert (r["cores_busy"], r["throttled_periods"], r["throttled_ms"]) == (1.5, 3, 250.0)
    assert (r["gc_ms"], r["gc_collections"], r["gc_full"]) == (pytest.approx(100.0), 7, 1)
    r = host_row("in_batch", 4, (10.0, 1.0, 0.5, None, (0, 0, 0)), (12.0, 4.0, 1.5, (4, 1.5), (0, 0, 0)))
    assert r["throttled_ms"] != r["throttled_ms"] and r["throttled_periods"] != r["throttled_periods"]


def test_step_profile_host_row_covers_the_recorded_steps(monkeypatch):
    """The host row's marks are taken after the warm-up's last step and the last recorded step: with a clock that
    reads the steps done so far, 1 warm-up and 3 recorded steps give 3 s over 3 steps (1000 ms a step)."""
    from workbench.xmc_train import profile as profile_mod
    _, cfg, prep = _faked_profile(monkeypatch)
    clock = {"steps": 0}

    def train(cfg, prep, sampler, *, on_step, max_steps, **kw):
        for i in range(1, max_steps + 1):
            clock["steps"] = i
            on_step(i)
        return [], None, None
    monkeypatch.setattr(profile_mod, "train_sampler", train)
    monkeypatch.setattr(profile_mod, "_host_mark", lambda gc_clock: (float(clock["steps"]), 0.0, 0.0, None, (0, 0, 0)))
    host = []
    step_profile(cfg, prep, "in_batch", steps=3, warmup=1, host=host)
    assert len(host) == 1 and host[0]["wall_ms"] == pytest.approx(1000.0)
    assert step_profile(cfg, prep, "in_batch", steps=3, warmup=1) and len(host) == 1   # no host list: no row


def test_gc_clock_times_collections_inside_its_block_only():
    """Two forced full collections and a young-generation one inside the block: 3 counted, 2 full, time > 0; one
    outside: not counted, and the callback is gone afterwards."""
    import gc

    from workbench.xmc_train.profile import GcClock
    with GcClock() as clock:
        gc.collect()
        gc.collect(0)
        gc.collect()
    gc.collect()
    seconds, collections, full = clock.reading()
    assert (collections, full) == (3, 2) and seconds > 0 and clock not in gc.callbacks
