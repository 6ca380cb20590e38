"""The trainer's log rows by hand, on a faked clock: phase seconds summed over a window, refresh seconds inside
wall_s, throughput over the encoder's own seconds, a short last window averaged over its own steps, the
encoder group's learning rate, and dropout drawn afresh at every step."""

from __future__ import annotations

import pytest
import torch

from tests.xmc_train.test_trainer import _on_a_fake_clock, setup
from workbench.xmc_train import trainer as trainer_mod
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.optim import lr_schedule
from workbench.xmc_train.train_config import TrainConfig, planned_steps
from workbench.xmc_train.trainer import Trainer


def _ticking(monkeypatch, loss):
    """test_trainer's faked clock (it moves 0.125 s per sample() call and nowhere else), here also 2 s per sampler
    refresh and 0.5 s per loss call (all exact in binary). Returns the model, the sampler, the loss callable and
    the list of per-call loss values."""
    m, s = _on_a_fake_clock(monkeypatch)
    now = trainer_mod.time.now
    inner_refresh = s.refresh

    def refresh(*a):
        now[0] += 2.0
        return inner_refresh(*a)
    s.refresh = refresh
    seen = []

    def timed_loss(*a):
        now[0] += 0.5
        out = loss(*a)
        seen.append(float(out.detach()))
        return out
    return m, s, timed_loss, seen


def test_a_rows_phase_seconds_wall_throughput_and_loss_by_hand(monkeypatch):
    """2 epochs of 3 steps (120 queries, batch 40), log_every 4: rows at steps 4 and 6, the second a short
    window of 2 steps. Row 4 holds both epochs' refreshes (4 s), four samples (0.5 s) and four losses (2 s);
    wall_s counts the refreshes too (4 + 4 * 0.625 = 6.5). Row 6: no refresh, 0.25 s and 1 s; wall 7.75.
    seqs_per_s is sequences over the encoder's seconds (encode + loss + backward: the loss calls' seconds here),
    not over the sampling. The short window's loss is the mean of its 2 steps, not their sum over log_every.
    Catches phase seconds overwritten instead of summed (row 4 would show 0.125 s of sampling), refresh seconds
    left out of wall_s (2.5 and 3.75), sampling counted as encoder time, and a window mean over log_every."""
    m, s, loss, seen = _ticking(monkeypatch, build_loss("softmax"))
    cfg = TrainConfig(epochs=2, batch_size=40, log_every=4, device="cpu")
    rows = [r for r in Trainer(m, s, loss, cfg, progress=False).run() if "loss" in r]
    assert [r["step"] for r in rows] == [4, 6] and [r["steps"] for r in rows] == [4, 2]
    assert [r["refresh_s"] for r in rows] == [4.0, 0.0]
    assert [r["sample_s"] for r in rows] == [0.5, 0.25]
    assert [r["loss_s"] for r in rows] == [2.0, 1.0]
    assert [r["wall_s"] for r in rows] == [6.5, 7.75]
    for r in rows:
        busy = r["encode_s"] + r["loss_s"] + r["backward_s"]
        assert r["seqs_per_s"] == pytest.approx(r["seqs_per_step"] * r["steps"] / busy, rel=1e-12)
    assert len(seen) == 6
    assert rows[0]["loss"] == pytest.approx(sum(seen[:4]) / 4, rel=1e-6)
    assert rows[1]["loss"] == pytest.approx(sum(seen[4:]) / 2, rel=1e-6)


def test_the_lr_column_is_the_encoder_groups_rate():
    """With a classifier head the optimizer has two groups, encoder (lr 1e-3) and classifier vectors (clf_lr 5e-2).
    Row k shows the encoder's rate at step k: 1e-3 times the warm-up/decay factor at position k - 1 of 3 steps.
    Catches the classifier group's rate in the column (50 times larger)."""
    m, s, _ = setup("in_batch", heads="de+clf")
    cfg = TrainConfig(epochs=1, batch_size=40, lr=1e-3, clf_lr=5e-2, log_every=1, device="cpu")
    rows = [r for r in Trainer(m, s, build_loss("softmax"), cfg, progress=False).run() if "loss" in r]
    plan = lr_schedule(3, cfg.warmup_frac)
    assert [r["lr"] for r in rows] == pytest.approx([1e-3 * plan(k) for k in range(3)], rel=1e-9)


def test_dropout_masks_change_from_step_to_step():
    """The same batch at every step with a learning rate too small to move any weight (1e-30): the losses differ
    only by dropout, re-seeded from (seed, step) at each step. Catches a seed that ignores the step (the same
    mask every step: equal losses), which a resumed run would still reproduce."""
    m, s, _ = setup("in_batch")
    inner, first = s.sample, []
    s.sample = lambda q, g: first[0] if first else first.append(inner(q, g)) or first[0]
    seen = []
    loss = build_loss("softmax")

    def recorded(*a):
        out = loss(*a)
        seen.append(float(out.detach()))
        return out
    weights = [p.detach().clone() for p in m.parameters()]
    cfg = TrainConfig(epochs=2, batch_size=40, lr=1e-30, clf_lr=1e-30, log_every=1, device="cpu")
    Trainer(m, s, recorded, cfg, progress=False).run()
    assert max(float((a - b.detach()).abs().max()) for a, b in zip(weights, m.parameters())) < 1e-20  # ~ nothing moved
    assert len(seen) == 6 and len(set(seen)) == 6


@pytest.mark.parametrize(("epochs", "max_steps", "expected"), [(1, 50, 10), (10, 50, 50), (3, 0, 30)])
def test_planned_steps_is_the_schedule_cut_by_max_steps(epochs, max_steps, expected):
    """100 queries in batches of 10: 10 steps an epoch; max_steps only ever shortens the plan."""
    assert planned_steps(100, TrainConfig(epochs=epochs, batch_size=10, max_steps=max_steps)) == expected


def test_a_samplers_step_refresh_is_timed_as_refresh_not_sampling(monkeypatch):
    """A sampler that rebuilds its state before the 3rd step (lsh's tables every rehash_every steps), 0.5 s on the
    faked clock, and samples in 0.125 s: the rows give that step's window 0.5 s of refresh_s and 0.125 s of
    sample_s, and every other window 0 and 0.125 (it used to land in sample_s: 0.625)."""
    m, s = _on_a_fake_clock(monkeypatch)
    calls = [0]

    def refresh_step():
        calls[0] += 1
        if calls[0] == 3:
            trainer_mod.time.now[0] += 0.5
            return 0.5
        return 0.0
    s.refresh_step = refresh_step
    cfg = TrainConfig(epochs=2, batch_size=40, lr=1e-3, log_every=1, device="cpu")  # 3 steps per epoch
    rows = [r for r in Trainer(m, s, build_loss("softmax"), cfg, progress=False).run() if "loss" in r]
    assert [r["refresh_s"] for r in rows] == [0.0, 0.0, 0.5, 0.0, 0.0, 0.0]
    assert [r["sample_s"] for r in rows] == [0.125] * 6
