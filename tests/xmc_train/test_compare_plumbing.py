"""How compare_samplers wires one sampler's training to its stages and checkpoints, with the training itself
replaced by stubs: checkpoint names keyed by the config, NGAME's schedule over the epochs actually trained, its
M-IV stage's clock continuing M1's. Does not prove: anything about the training (the sampler tests do)."""
from types import SimpleNamespace

import pytest

from workbench.xmc_train import compare
from workbench.xmc_train.study import NegativeMiningConfig


def test_checkpoints_are_named_by_sampler_and_config(monkeypatch, tmp_path):
    """Two configs that differ only in lr never share a checkpoint: a re-run with a new lr must not resume the
    old run's training."""
    seen = []
    monkeypatch.setattr(compare, "_one_sampler", lambda cfg, prep, name, ckpt, progress: seen.append(ckpt)
                        or ([[]], [], []))
    for lr in (1e-3, 2e-3):
        compare.compare_samplers(NegativeMiningConfig(samplers=["uniform"], lr=lr), None, checkpoint_dir=tmp_path)
    assert len(seen) == 2 and seen[0] != seen[1] and all(p.name.startswith("uniform-") for p in seen)


def test_ngame_schedule_and_m4_stage_follow_the_training_that_ran(monkeypatch):
    """A time budget stopped NGAME's M1 after 12 steps of 4 per epoch (3 epochs of the 10 configured) at 7.5 s:
    the schedule has 3 epochs, and the M-IV stage's wall clock starts at 7.5 s."""
    cfg = NegativeMiningConfig(samplers=["ngame"], epochs=10, batch_size=16, ngame_m4_epochs=1)
    prep = SimpleNamespace(train=list(range(64)))
    rows = [{"step": 12, "wall_s": 7.5}]
    asked = {}
    monkeypatch.setattr(compare, "train_sampler", lambda *a, **k: (rows, "model", "sampler"))
    monkeypatch.setattr(compare, "head_rows", lambda *a, **k: [])
    monkeypatch.setattr(compare, "schedule_rows", lambda sampler, epochs: asked.setdefault("epochs", epochs) and [])
    monkeypatch.setattr(compare, "ngame_classifier_stage", lambda cfg, prep, model, wall_offset, progress:
                        asked.setdefault("offset", wall_offset) and ([], "m4"))
    compare._one_sampler(cfg, prep, "ngame", None, False)
    assert asked == {"epochs": 3, "offset": pytest.approx(7.5)}


def test_ngame_schedule_survives_the_samplers_after_it(monkeypatch):
    """Samplers run in order ngame, uniform: uniform has no schedule ([]), which must not replace NGAME's."""
    ngame_schedule = [{"epoch": 0, "cluster_size": 1}]
    monkeypatch.setattr(compare, "_one_sampler", lambda cfg, prep, name, ckpt, progress:
                        ([[]], [], ngame_schedule if name == "ngame" else []))
    out = compare.compare_samplers(NegativeMiningConfig(samplers=["ngame", "uniform"]), None)
    assert out.schedule == ngame_schedule
