"""The trainer's rows keep one meaning per column: the loss function's name is the ``loss_fn`` tag, ``loss`` is the
numeric training loss and appears only in training rows (the notebook and ``tables.comparison_table`` select the
training rows by ``loss`` not being NaN). Toy data and the tiny encoder on the CPU; does not check the values of
the metrics or losses, only which rows carry which columns."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from workbench.xmc_train import tables
from workbench.xmc_train.stages import train_sampler
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.xmc_train.toy import toy_text_dataset


def test_loss_column_is_numeric_and_only_in_training_rows():
    cfg = NegativeMiningConfig(samplers=["in_batch"], epochs=1, batch_size=32, eval_every=2, max_length=12,
                               device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=96, n_test=20, num_labels=20))
    rows, _, _ = train_sampler(cfg, prep, "in_batch", progress=False)
    df = pd.DataFrame(rows)
    train, evals = df[df["steps"].notna()], df[df["P@1"].notna()]
    assert len(train) and len(evals)
    assert (df["loss_fn"] == cfg.loss_for("in_batch")).all()
    assert all(isinstance(v, float) and math.isfinite(v) for v in train["loss"])
    assert evals["loss"].isna().all(), "evaluation rows carry no loss"
    assert df[df["loss"].notna()].index.equals(train.index)


def test_trainer_refuses_tags_that_overwrite_its_columns():
    from workbench.xmc_train.stages import build_model
    from workbench.samplers import build_sampler
    from workbench.xmc_train.losses import build_loss
    from workbench.xmc_train.trainer import Trainer
    cfg = NegativeMiningConfig(epochs=1, batch_size=32, max_length=12, device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=40, n_test=10, num_labels=10))
    model = build_model(cfg, prep)
    s = build_sampler("in_batch", prep.data.Y_train, cfg.sampler_config())
    with pytest.raises(ValueError, match="loss"):
        Trainer(model, s, build_loss("softmax"), cfg.train_config(), tags={"sampler": "x", "loss": "softmax"})


def test_comparison_table_survives_runs_that_took_no_step():
    """A time budget spent before the first step leaves a sampler with evaluation rows only (and, when every
    sampler is in that state, no training columns at all): its row says 0 steps and no sampling share."""
    import math

    import pandas as pd

    from workbench.xmc_train.tables import comparison_table
    evals = [{"sampler": s, "step": 0, "wall_s": 0.0, "P@1": 1.0} for s in ("in_batch", "ance")]
    only_evals = comparison_table(pd.DataFrame(evals))
    assert list(only_evals["steps"]) == [0, 0] and only_evals["sampling share %"].isna().all()
    trained = {"sampler": "in_batch", "step": 2, "wall_s": 1.0, "loss": 0.5, "sample_s": 0.1, "refresh_s": 0.25,
               "encode_s": 0.2, "loss_s": 0.1, "backward_s": 0.6, "peak_mem_mib": math.nan}
    mixed = comparison_table(pd.DataFrame(evals + [trained, {**evals[0], "step": 2, "wall_s": 1.0}]))
    row = mixed.set_index("method")
    # sampling over step time without the refresh: 0.1 / 1.0; the refresh over all: 0.25 / 1.25
    assert row.loc["in_batch", "steps"] == 2 and row.loc["in_batch", "sampling share %"] == pytest.approx(10.0)
    assert row.loc["in_batch", "refresh share %"] == pytest.approx(20.0)
    assert row.loc["ance", "steps"] == 0 and math.isnan(row.loc["ance", "sampling share %"])


def test_throughput_table_median_spread_and_ratio():
    rows = pd.DataFrame({"sampler": ["a"] * 11 + ["frozen"] * 2 + ["b"],
                         "seqs_per_s": [float(v) for v in range(100, 1200, 100)] + [0.0, 0.0, 50.0],
                         "seq_len": [32.0] * 11 + [float("nan")] * 2 + [20.0],
                         "seqs_per_step": [64.0] * 11 + [0.0, 0.0, 40.0]})
    t = tables.throughput_table(rows, bare_seqs_per_s=1000.0, bare_length=32).set_index("sampler")
    assert list(t.index) == ["a", "b"]  # a sampler that encoded nothing (frozen stage) has no row
    assert t.loc["a", "train seqs/s"] == 600 and t.loc["a", "ratio"] == 0.6
    assert t.loc["a", "p10 seqs/s"] == pytest.approx(200) and t.loc["a", "p90 seqs/s"] == pytest.approx(1000)
    assert t.loc["b", "train padded length"] == 20 and t.loc["b", "bare length"] == 32


def test_throughput_ratio_from_in_loop_probes():
    """With probes, the ratio is the table's train seqs/s over the probes' median (250 / 300), so the columns
    check by hand, and "bare length" is what the probes ran at (rounded lengths 12, 16: 14); a sampler without
    probes keeps the bare timing given."""
    nan = float("nan")
    rows = pd.DataFrame({"sampler": ["a"] * 4 + ["b"] * 2, "seqs_per_s": [100.0, 200.0, 300.0, 400.0, 50.0, 60.0],
                         "seq_len": [10.0, 12.4, 14.0, 15.6, 8.0, 8.0], "seqs_per_step": [5.0] * 6,
                         "bare_seqs_per_s": [nan, 400.0, nan, 200.0, nan, nan]})
    t = tables.throughput_table(rows, bare_seqs_per_s=120.0, bare_length=9).set_index("sampler")
    assert t.loc["a", "bare encoder seqs/s"] == 300 and t.loc["a", "ratio"] == pytest.approx(250 / 300)
    assert t.loc["a", "bare length"] == 14
    assert t.loc["a", "bare timed"] == "in turn (2 windows)" and t.loc["b", "bare timed"] == "after the runs"
    assert t.loc["b", "ratio"] == pytest.approx(55 / 120) and t.loc["b", "bare length"] == 9
    assert math.isnan(tables.throughput_table(rows[rows["sampler"] == "b"]).loc[0, "ratio"])  # no probe, no timing


def test_throughput_against_bare_times_the_encoder_only_where_a_sampler_has_no_probe():
    """Every sampler probed in the loop: the table of the probes, no timing now; one without: one bare timing of
    the configured encoder at the rows' median length (capped at max_length), "after the runs"."""
    from workbench.xmc_train.bench import throughput_against_bare
    from workbench.xmc_train.study import NegativeMiningConfig
    nan = float("nan")
    rows = pd.DataFrame({"sampler": ["a"] * 2 + ["b"] * 2, "seqs_per_s": [100.0, 200.0, 50.0, 60.0],
                         "seq_len": [40.0] * 4, "seqs_per_step": [5.0] * 4,
                         "bare_seqs_per_s": [300.0, nan, 150.0, nan]})
    cfg = NegativeMiningConfig(encoder="tiny", max_length=12, batch_size=8, device="cpu")
    probed = throughput_against_bare(rows, cfg).set_index("sampler")
    assert set(probed["bare timed"]) == {"in turn (1 window)"}
    timed = throughput_against_bare(rows.assign(bare_seqs_per_s=[300.0, nan, nan, nan]), cfg).set_index("sampler")
    assert timed.loc["b", "bare timed"] == "after the runs" and timed.loc["b", "bare length"] == 12
    assert timed.loc["b", "bare encoder seqs/s"] > 0


def test_the_issue_scale_is_the_full_debian_titles_set_with_minilm_on_a_gpu():
    from workbench.xmc_train.study import NegativeMiningConfig
    full = NegativeMiningConfig(n_train=0, n_test=0)
    assert full.full_debian_titles and not NegativeMiningConfig().full_debian_titles
    assert not NegativeMiningConfig(n_train=0, n_test=0, dataset="debian-fulltext").full_debian_titles
    assert not full.at_issue_scale()  # the tiny encoder, and no GPU here


def test_bare_encoder_rate_and_what_the_table_reads_from_it(monkeypatch):
    """A batch of 8 in a 0.5 s median step is 16 sequences/s; the table takes that rate (not the step time) at the
    rows' median padded length when it is below max_length (5 here, not 12)."""
    from workbench.xmc_train import bench
    from workbench.xmc_train.encoders import get_encoder
    from workbench.xmc_train.study import NegativeMiningConfig
    monkeypatch.setattr(bench, "median_seconds", lambda fn, device, repeats, warmup: fn() or 0.5)
    r = bench.encoder_throughput(get_encoder("tiny", 0, 12), 8, 5, device="cpu")
    assert (r["seqs_per_s"], r["step_s"]) == (16.0, 0.5)
    asked = []
    monkeypatch.setattr(bench, "encoder_throughput", lambda enc, batch, length, device: asked.append(length)
                        or {"seqs_per_s": 1000.0, "step_s": 0.008})
    rows = pd.DataFrame({"sampler": ["a", "a"], "seqs_per_s": [100.0, 200.0], "seq_len": [4.0, 6.0],
                         "seqs_per_step": [5.0] * 2, "bare_seqs_per_s": [float("nan")] * 2})
    cfg = NegativeMiningConfig(encoder="tiny", max_length=12, batch_size=8, device="cpu")
    t = bench.throughput_against_bare(rows, cfg).set_index("sampler")
    assert asked == [5] and t.loc["a", "bare encoder seqs/s"] == 1000.0 and t.loc["a", "bare length"] == 5
