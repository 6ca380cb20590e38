"""A classifier stage's row in the comparison: ``train_s`` is the whole recipe's training time (the encoder's before
the stage included, as on the time-to-accuracy axis), ``stage_s`` the stage's own, which its steps go with."""
from __future__ import annotations

import pandas as pd
import pytest

from workbench.xmc_train.stages import classifier_stage, train_sampler
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.samplers import build_sampler
from workbench.xmc_train.tables import comparison_table
from workbench.xmc_train.toy import toy_text_dataset


def test_comparison_separates_a_stage_from_the_encoder_before_it():
    ev = {"P@1": 1.0, "loss": float("nan")}
    rows = [{"sampler": "ngame", "step": 10, "wall_s": 30.0, **ev},
            {"sampler": "ngame M-IV", "step": 0, "wall_s": 30.0, "stage_start_s": 30.0, **ev},
            {"sampler": "ngame M-IV", "step": 4, "wall_s": 42.0, "stage_start_s": 30.0, **ev}]
    t = comparison_table(pd.DataFrame(rows)).set_index("method")
    assert t.loc["ngame", "train_s"] == t.loc["ngame", "stage_s"] == 30.0
    assert t.loc["ngame M-IV", "train_s"] == 42.0 and t.loc["ngame M-IV", "stage_s"] == 12.0
    assert t.loc["ngame M-IV", "steps"] == 4
    assert t["predict_s"].isna().all()  # rows without eval_s: no prediction time, not a crash


def test_trained_rows_carry_their_last_evaluation_time_as_predict_s():
    """Once NaN for every trained sampler beside the peers' prediction seconds."""
    rows = [{"sampler": "in_batch", "step": 0, "wall_s": 0.0, "P@1": 1.0, "eval_s": 9.0},
            {"sampler": "in_batch", "step": 5, "wall_s": 3.0, "P@1": 2.0, "eval_s": 1.5}]
    peers = pd.DataFrame([{"method": "Parabel", "P@1": 3.0, "train_s": 1.0, "predict_s": 0.25}])
    t = comparison_table(pd.DataFrame(rows), peers).set_index("method")
    assert t.loc["in_batch", "predict_s"] == 1.5 and t.loc["Parabel", "predict_s"] == 0.25


def test_classifier_stage_rows_carry_their_start():
    cfg = NegativeMiningConfig(samplers=["in_batch"], epochs=1, batch_size=32, eval_every=2, max_length=12,
                               device="cpu", heads="de")
    prep = prepare(cfg, toy_text_dataset(n_train=64, n_test=16, num_labels=12))
    _, model, _ = train_sampler(cfg, prep, "in_batch", progress=False)
    s = build_sampler("full", prep.data.Y_train, cfg.sampler_config("full"))
    rows, _ = classifier_stage(cfg, prep, model, s, "bce", cfg.loss_params("bce"), 1, "in_batch +BCE clf",
                               wall_offset=7.5, progress=False)
    assert rows and all(r["stage_start_s"] == 7.5 and r["wall_s"] >= 7.5 for r in rows)
    t = comparison_table(pd.DataFrame(rows)).set_index("method")
    assert t.loc["in_batch +BCE clf", "train_s"] - t.loc["in_batch +BCE clf", "stage_s"] == pytest.approx(7.5)


def test_a_stage_plotted_against_steps_says_its_steps_restart():
    """Against steps, ngame M-IV's steps 0..4 sit under the encoder's 0..10: the legend says they are the stage's
    own (it looked like a sampler starting at a high P@1). Against time nothing is added."""
    import matplotlib
    matplotlib.use("Agg")
    from workbench.xmc_train.figures import time_to_accuracy
    rows = pd.DataFrame([{"sampler": "ngame", "step": 10, "wall_s": 30.0, "P@1": 30.0, "stage_start_s": float("nan")},
                         {"sampler": "ngame M-IV", "step": 4, "wall_s": 42.0, "P@1": 35.0, "stage_start_s": 30.0}])
    labels = [t.get_text() for t in time_to_accuracy(rows, x="step").axes[0].get_legend().get_texts()]
    assert labels == ["ngame", "ngame M-IV (stage steps, after the encoder's)"]
    labels = [t.get_text() for t in time_to_accuracy(rows).axes[0].get_legend().get_texts()]
    assert labels == ["ngame", "ngame M-IV"]
