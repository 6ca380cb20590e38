"""The race loop's bookkeeping on a faked clock, with training steps, index upkeep and evaluation replaced by
stand-ins that only move the clock: which points each step trains on, what train_s and rehash_s count, and when
rows are written. Not proven: anything about learning (nothing is trained here)."""

from __future__ import annotations

import types
import warnings

import pytest
import torch

from workbench.lsh import race
from workbench.lsh.bowdata import load_bow
from workbench.lsh.params import LSHParams

DATA = load_bow("synthetic", num_labels=20, num_points=12, num_features=10, words_per_point=3)


def _faked(monkeypatch, step_seconds, maintain_seconds=()):
    """Step k (0-based) takes ``step_seconds[k]`` (the last value repeats); the upkeep before step k takes
    ``maintain_seconds[k]`` (0 past the list); evaluation takes 100 s that must never count. Returns the list
    of batches the steps received."""
    now = [0.0]
    monkeypatch.setattr(race, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    batches = []

    def step(model, opts, data, batch, *rest):
        now[0] += step_seconds[min(len(batches), len(step_seconds) - 1)]
        batches.append(batch.tolist())
        return 1.0

    def maintain(index, params, model, step, last):
        s = maintain_seconds[step] if step < len(maintain_seconds) else 0.0
        now[0] += s
        return s

    def evaluate(*a):
        now[0] += 100.0
        return {"P@1": 0.0, "P@5": 0.0, "top1_share": 0.0}
    monkeypatch.setattr(race, "_step", step)
    monkeypatch.setattr(race, "_maintain", maintain)
    monkeypatch.setattr(race, "evaluate", evaluate)
    return batches


def _run(**kw):
    args = dict(params=LSHParams(), budget=4, batch_size=4, lr=0.01, hidden=4, time_budget_s=1e9, max_steps=6,
                eval_every=1000, eval_points=4, device=torch.device("cpu"))
    return race.train_one(DATA, "full", **{**args, **kw})


def test_each_epoch_visits_every_training_point_once(monkeypatch):
    """8 training points in batches of 4: steps 1-2 cover a permutation of all 8, steps 3-4 another, 5-6 a
    third. Catches a batch order that does not advance (the same 4 points every step)."""
    assert DATA.X_train.shape[0] == 8
    batches = _faked(monkeypatch, [0.125])
    _run()
    assert len(batches) == 6
    for epoch in (batches[0:2], batches[2:4], batches[4:6]):
        assert sorted(i for b in epoch for i in b) == list(range(8))


def test_train_seconds_count_the_index_upkeep_and_no_evaluation(monkeypatch):
    """Upkeep of 1 s before step 0 and 0.5 s before step 3, steps of 0.125 s: after 6 steps train_s is
    1.5 + 0.75 = 2.25 with rehash_s 1.5 inside it; the 100 s evaluations are off the clock."""
    _faked(monkeypatch, [0.125], [1.0, 0.0, 0.0, 0.5])
    rows = _run(eval_every=3)
    assert [r["step"] for r in rows] == [3, 6]
    assert [r["train_s"] for r in rows] == [1.375, 2.25]
    assert [r["rehash_s"] for r in rows] == [1.0, 1.5]


def test_a_spent_time_budget_ends_the_run_with_an_evaluation(monkeypatch):
    """Steps of 0.25 s under a 1 s budget: the run stops after step 4 (clock 1.0) and evaluates there, although
    neither the step cadence (1000) nor max_steps (6) asks for it."""
    _faked(monkeypatch, [0.25])
    rows = _run(time_budget_s=1.0)
    assert [(r["step"], r["train_s"]) for r in rows] == [(4, 1.0)]


def test_a_long_step_skips_the_evaluation_times_it_jumped_over(monkeypatch):
    """eval_every_s 0.25; the first step takes 1 s, then 0.125 s each. After step 1 the next evaluation time
    moves past the clock (to 1.25), not by one interval (0.5, which would evaluate at every following step until
    it caught up): rows at steps 1, 3, 5 (clock 1.0, 1.25, 1.5) and at the end (step 6)."""
    _faked(monkeypatch, [1.0, 0.125])
    rows = _run(eval_every_s=0.25)
    assert [(r["step"], r["train_s"]) for r in rows] == [(1, 1.0), (3, 1.25), (5, 1.5), (6, 1.625)]


@pytest.mark.parametrize("method", ["uniform", "lsh-embedding"])
def test_the_stand_ins_fit_the_real_signatures(method):
    """The real _step and _maintain accept what the race passes (so the stand-ins above model a real call)."""
    rows = race.train_one(DATA, method, params=LSHParams(K=2, L=2, cap=8), budget=4, batch_size=4, lr=0.01,
                          hidden=4, time_budget_s=1e9, max_steps=2, eval_every=1000, eval_points=4,
                          device=torch.device("cpu"))
    assert [r["step"] for r in rows] == [2] and rows[0]["loss"] == rows[0]["loss"]


def test_the_race_warms_every_method_up_before_timing_the_first_on_any_device(monkeypatch):
    """On a CPU too, a few untimed steps of every method come before the first raced method (its first calls
    would otherwise pay the allocator's growth and oneDNN's set-up), and each method is then raced once."""
    from workbench.lsh import experiments
    from workbench.lsh.study import LSHStudyConfig
    calls = []
    monkeypatch.setattr(experiments, "_warm_up", lambda cfg, data, device: calls.append("warm-up") or set())
    monkeypatch.setattr(experiments, "_race_one", lambda cfg, data, device, m: (calls.append(m) or ([], [])))
    cfg = LSHStudyConfig(methods=["full", "lsh_embedding"])
    experiments.run_race(cfg, types.SimpleNamespace(name="tiny"), torch.device("cpu"))
    assert calls == ["warm-up", "full", "lsh_embedding"]


def test_a_method_out_of_memory_is_left_out_of_the_race_not_fatal(monkeypatch):
    """The full softmax running out of memory, in its warm-up or in its race (raised on purpose, on a CPU): left
    out with a warning and named in ``skipped``, the others raced; the probed method's own out of memory still
    ends the race (its probes are the adaptivity experiment)."""
    from workbench.lsh import experiments
    from workbench.lsh.study import LSHStudyConfig
    raced = []

    def train(cfg, data, device, method, **kw):
        if method == "full":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 46.00 GiB")
        return []
    monkeypatch.setattr(experiments, "_train", train)
    monkeypatch.setattr(experiments, "_race_one", lambda cfg, data, device, m: (raced.append(m) or ([{"m": m}], [])))
    cfg = LSHStudyConfig(methods=["full", "uniform", "lsh-embedding"], adaptivity_method="lsh-embedding")
    skipped = []
    with pytest.warns(RuntimeWarning, match=r"full ran out of cpu memory at 2,000 labels and is left out"):
        race, _ = experiments.run_race(cfg, types.SimpleNamespace(name="tiny", num_labels=2000),
                                       torch.device("cpu"), skipped=skipped)
    assert skipped == ["full"] and raced == ["uniform", "lsh-embedding"] and len(race) == 2
    monkeypatch.setattr(experiments, "_race_one", lambda cfg, data, device, m: (_ for _ in ()).throw(
        torch.OutOfMemoryError("oom")) if m == "lsh-embedding" else ([], []))
    with pytest.raises(torch.OutOfMemoryError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        experiments.run_race(cfg, types.SimpleNamespace(name="tiny", num_labels=2000), torch.device("cpu"))
