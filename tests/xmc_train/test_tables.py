"""The study's summary tables, on hand-made measurement rows whose answers are known.

Does not prove: anything about the real runs' rows (their columns are checked by the trainer tests)."""
import math

import pandas as pd

from workbench.xmc_train import tables


def _measurements() -> pd.DataFrame:
    nan = math.nan
    return pd.DataFrame([
        # full: reaches 30 at step 20 (12 s); its memory peaks at 900 MB by then, 2000 MB later
        {"sampler": "full", "step": 10, "wall_s": 5.0, "loss": 2.0, "peak_mem_mib": 900.0, "P@1": nan},
        {"sampler": "full", "step": 10, "wall_s": 5.0, "loss": nan, "peak_mem_mib": nan, "P@1": 20.0},
        {"sampler": "full", "step": 20, "wall_s": 12.0, "loss": 1.5, "peak_mem_mib": 800.0, "P@1": nan},
        {"sampler": "full", "step": 20, "wall_s": 12.0, "loss": nan, "peak_mem_mib": nan, "P@1": 30.0},
        {"sampler": "full", "step": 30, "wall_s": 20.0, "loss": 1.2, "peak_mem_mib": 2000.0, "P@1": nan},
        {"sampler": "full", "step": 30, "wall_s": 20.0, "loss": nan, "peak_mem_mib": nan, "P@1": 35.0},
        # unidec: best 30 (the common best, the lower of the two), reached at step 10 (3 s)
        {"sampler": "unidec", "step": 10, "wall_s": 3.0, "loss": 1.0, "peak_mem_mib": 300.0, "P@1": nan},
        {"sampler": "unidec", "step": 10, "wall_s": 3.0, "loss": nan, "peak_mem_mib": nan, "P@1": 30.0},
        {"sampler": "unidec", "step": 20, "wall_s": 6.0, "loss": 0.9, "peak_mem_mib": 350.0, "P@1": nan},
        {"sampler": "unidec", "step": 20, "wall_s": 6.0, "loss": nan, "peak_mem_mib": nan, "P@1": 28.0},
    ])


def test_time_to_common_best_reports_time_step_and_memory_up_to_the_hit():
    m = _measurements()
    out = tables.time_to_common_best(tables.evals_of(m), ["full", "unidec"],
                                     train_rows=tables.train_rows_of(m)).set_index("sampler")
    assert (out["target P@1"] == 30.0).all()
    assert out.loc["full", "s to target"] == 12.0 and out.loc["full", "step"] == 20
    assert out.loc["unidec", "s to target"] == 3.0 and out.loc["unidec", "step"] == 10
    assert out.loc["full", "peak_mem_mib"] == 900.0     # not the 2000 MB it reached after the target
    assert out.loc["unidec", "peak_mem_mib"] == 300.0
    assert out.loc["unidec", "x faster than full"] == 4.0 and out.loc["unidec", "x less memory than full"] == 3.0
    assert out.loc["full", "x faster than full"] == 1.0
    reversed_ = tables.time_to_common_best(tables.evals_of(m), ["unidec", "full"]).set_index("sampler")
    assert list(reversed_.index) == ["unidec", "full"] and reversed_.loc["full", "x faster than unidec"] == 0.25
    without = tables.time_to_common_best(tables.evals_of(m), ["full", "unidec"])
    assert without["peak_mem_mib"].isna().all()


def test_time_to_fraction_first_second_at_the_target_and_nan_if_never():
    # best over all samplers is full's 35. At 85 % (29.75) full first gets there at 12 s (30), unidec at 3 s;
    # at 90 % (31.5) only full's 35 at 20 s counts and unidec never reaches it. Catches a target taken per
    # sampler (unidec's own best 30 would give it a time), the last hit instead of the first, a wrong name.
    ev = tables.evals_of(_measurements())
    out = tables.time_to_fraction(ev, frac=0.85).set_index("sampler")
    col = "s to P@1 >= 29.75 (85% of best 35.00)"
    assert list(out.columns) == ["start P@1", "best P@1", col, "target above start"]
    assert out.loc["full", col] == 12.0 and out.loc["unidec", col] == 3.0
    assert out.loc["full", "best P@1"] == 35.0 and out.loc["unidec", "best P@1"] == 30.0
    strict = tables.time_to_fraction(ev, frac=0.9).set_index("sampler")
    col = "s to P@1 >= 31.50 (90% of best 35.00)"
    assert strict.loc["full", col] == 20.0 and math.isnan(strict.loc["unidec", col])


def test_time_to_fraction_without_any_training_step_names_no_nan_target():
    """Every run stopped before its first step (a time budget spent by the first refreshes): the column was named
    's to P@1 >= nan (95% of best nan)'."""
    ev = pd.DataFrame({"sampler": ["ance", "ngame"], "step": [0, 0], "wall_s": [0.0, 0.0], "P@1": [5.0, 6.0]})
    out = tables.time_to_fraction(ev).set_index("sampler")
    col = "s to 95% of the best P@1 (no run took a training step)"
    assert list(out.columns) == ["start P@1", "best P@1", col, "target above start"]
    assert out[col].isna().all() and out.loc["ngame", "start P@1"] == 6.0


def test_time_to_fraction_leaves_the_starting_model_out():
    # "a" starts at 40 (step 0, the zero-shot model) and only falls; "b" starts at 10 and climbs to 30. The best
    # after training is b's 30, so the target is 28.5: a never reached it in training (its 40 at 0 s is not a
    # hit) and its best is 20, not 40. Catches step 0 counted as a best, a target or a hit at 0 s.
    ev = pd.DataFrame({"sampler": ["a"] * 3 + ["b"] * 3, "step": [0, 5, 10] * 2,
                       "wall_s": [0.0, 1.0, 2.0, 0.0, 1.5, 3.0], "P@1": [40.0, 20.0, 2.0, 10.0, 25.0, 30.0]})
    out = tables.time_to_fraction(ev, frac=0.95).set_index("sampler")
    col = "s to P@1 >= 28.50 (95% of best 30.00)"
    assert out.loc["a", "start P@1"] == 40.0 and out.loc["a", "best P@1"] == 20.0 and math.isnan(out.loc["a", col])
    assert out.loc["b", "start P@1"] == 10.0 and out.loc["b", col] == 3.0
    common = tables.time_to_common_best(ev, ["b", "a"]).set_index("sampler")
    assert (common["target P@1"] == 20.0).all() and common.loc["a", "step"] == 5 and common.loc["b", "step"] == 5


def test_comparison_table_takes_the_highest_peak_memory_of_the_run():
    """full's training rows peak at 900, 800 and 2000 MiB: its run needed 2000 (a mean would read 1233); unidec's
    300 and 350: 350."""
    out = tables.comparison_table(_measurements()).set_index("method")
    assert out.loc["full", "peak_mem_mib"] == 2000.0 and out.loc["unidec", "peak_mem_mib"] == 350.0


def test_target_equal_to_the_start_is_not_above_it():
    """Best 40 at 50 %: the target is 20, exactly run a's start. A hit then only says a did not fall below its
    start, so 'target above start' is False for a (strictly above is asked) and True for b (start 10)."""
    ev = pd.DataFrame({"sampler": ["a"] * 2 + ["b"] * 2, "step": [0, 5] * 2, "wall_s": [0.0, 1.0, 0.0, 2.0],
                       "P@1": [20.0, 25.0, 10.0, 40.0]})
    out = tables.time_to_fraction(ev, frac=0.5).set_index("sampler")
    assert out["target above start"].to_dict() == {"a": False, "b": True}


def test_throughput_table_reads_medians_of_windows_and_probes():
    """Windows at 10, 20 and 90 sequences/s: the median, 20 (a mean: 40); in-loop bare probes at 100, 200 and
    900: bare 200 (a mean: 400) and ratio 20 / 200 = 0.1."""
    rows = pd.DataFrame({"sampler": ["in_batch"] * 3, "seqs_per_s": [10.0, 90.0, 20.0], "seq_len": [8.0, 8.0, 9.0],
                         "seqs_per_step": [64.0, 64.0, 64.0], "bare_seqs_per_s": [100.0, 900.0, 200.0]})
    out = tables.throughput_table(rows, bare_seqs_per_s=1000.0, bare_length=8).set_index("sampler")
    r = out.loc["in_batch"]
    assert (r["train seqs/s"], r["bare encoder seqs/s"], r["ratio"]) == (20.0, 200.0, 0.1)
    assert r["bare timed"] == "in turn (3 windows)" and r["bare length"] == 8.0


def test_warm_windows_drop_each_runs_first_window_but_keep_a_lone_one():
    """Runs a (windows ending at steps 5, 10, 15), a variant 'a logq=true' (5, 10) and b (one window at 5): the
    first window of a and of its variant goes (a fresh model's warm-up), b keeps its only one; an empty table
    stays empty."""
    rows = pd.DataFrame({"sampler": ["a", "a", "a", "a logq=true", "a logq=true", "b"],
                         "step": [5, 10, 15, 5, 10, 5], "seqs_per_s": [10.0, 90.0, 80.0, 5.0, 70.0, 60.0],
                         "seq_len": 8.0, "seqs_per_step": 64.0})
    warm = tables.warm_windows(rows)
    assert list(zip(warm["sampler"], warm["step"])) == [("a", 10), ("a", 15), ("a logq=true", 10), ("b", 5)]
    assert tables.throughput_table(warm).set_index("sampler")["train seqs/s"].to_dict() == {
        "a": 85.0, "a logq=true": 70.0, "b": 60.0}
    assert tables.warm_windows(rows.iloc[:0]).empty
