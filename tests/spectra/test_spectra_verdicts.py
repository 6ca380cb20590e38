"""The verdict helpers the spectra notebooks print from (verdicts.py; peers.for_display), on hand-made tables whose
answers are known. Does not prove: that the prose around them reads right (the report review does that)."""
import math

import pandas as pd

from workbench.spectra import peers
from workbench.spectra.verdicts import (above_tolerance, batch_vs_full, learner_verdicts, outlier_verdicts,
                                        peer_verdict, slope_verdicts)


def test_batch_vs_full_flags_each_b_and_counts_batches():
    """Per B: batch count, mean, mean / full and mean > full, on four hand rows. Does not prove: behaviour with
    several full rows per group (they are averaged; untested)."""
    lam = pd.DataFrame({"bn_mode": ["eval"] * 4, "scope": ["batch", "batch", "batch", "full"],
                        "batch_size": [16, 16, 32, 64], "lambda_max": [3.0, 5.0, 1.5, 2.0]})
    v = batch_vs_full(lam, by=("bn_mode",)).set_index("batch_size")
    assert v.loc[16, "n"] == 2 and v.loc[16, "mean"] == 4.0 and v.loc[16, "ratio"] == 2.0 and v.loc[16, "above"]
    assert v.loc[32, "n"] == 1 and not v.loc[32, "above"]


def test_above_tolerance_keeps_only_rows_over_tol_and_names_the_run():
    """Rows strictly over tol are kept (NaN estimates are not), named "slq" for a B's first batch and "adaptive"
    after it, or all "slq" without adaptive Lanczos. Does not prove: that error_estimate bounds the true error."""
    lam = pd.DataFrame({"batch_index": [0, 1, 2, 3], "error_estimate": [1e-3, 1e-6, 5e-4, float("nan")]})
    off = above_tolerance(lam, 1e-4)
    assert list(off.batch_index) == [0, 2] and list(off.run) == ["slq", "adaptive"]
    assert list(above_tolerance(lam, 1e-4, adaptive=False).run) == ["slq", "slq"]  # lambda_tol 0: all fixed-step


def test_outlier_verdicts_compare_smallest_b_with_full_and_check_monotonicity():
    """Smallest B against the largest (the full operator), a never-rising outlier count (ties allowed) and a bulk
    edge that must fall at every step. Does not prove: anything about how outlier_table counts outliers."""
    out = pd.DataFrame({"epoch": 0, "curvature": "hessian", "batch_size": [16, 64, 1000],
                        "outliers": [3.0, 2.0, 2.0], "bulk_edge": [0.5, 0.6, 0.4]})
    (v,) = outlier_verdicts(out).itertuples()
    assert (v.smallest_b, v.outliers_smallest_b, v.outliers_full) == (16, 3.0, 2.0)
    assert (v.bulk_edge_smallest_b, v.bulk_edge_full) == (0.5, 0.4)
    assert v.outliers_decreasing_in_b and not v.bulk_edge_decreasing_in_b


def test_slope_verdicts_predictions_containment_and_regime():
    """Predicted slope per optimizer and regime (0 above), whether the CI holds it, and the fitted range against
    the critical batch size (below / spans / above / unknown). Does not prove: the fits' intervals (fits tests)."""
    slopes = pd.DataFrame({"optimizer": ["sgd", "adam", "sgd"], "regime": ["below", "below", "above"],
                           "slope": [0.7, 0.47, 0.1], "slope_lo": [0.4, 0.34, -0.2], "slope_hi": [0.99, 0.59, 0.3],
                           "min_batch": [8.0, 8.0, 128.0], "max_batch": [128.0, 8.0, 512.0]})
    v = slope_verdicts(slopes, 11.0)
    assert list(v.predicted) == [1.0, 0.5, 0.0] and list(v.contains) == [False, True, True]
    assert list(v.curvature_regime) == ["spans", "below", "above"]
    assert list(slope_verdicts(slopes, float("nan")).curvature_regime) == ["unknown"] * 3


def test_learner_verdicts_final_rows_ratio_and_grid_edge():
    """Final epoch's accuracy per method, wall time over the SLQ learner's, and whether a tuned lr sits at the
    grid's edge. Does not prove: which method trains better on real data."""
    methods = ["SLQ learner", "constant (tuned lr 0.3)", "cosine (tuned lr 0.03)"]
    curves = pd.DataFrame({"method": [m for m in methods for _ in range(2)],
                           "epoch": [1, 2] * 3, "eval_acc": [0.5, 0.8, 0.6, 0.9, 0.7, 0.95],
                           "wall_s": [1.0, 2.0, 0.5, 1.0, 0.5, 0.5],
                           "tuned_lr": [float("nan")] * 2 + [0.3] * 2 + [0.03] * 2})
    v = learner_verdicts(curves, [0.01, 0.03, 0.1, 0.3]).set_index("method")
    assert v.loc["SLQ learner", "final_eval_acc"] == 0.8 and v.loc["SLQ learner", "wall_vs_learner"] == 1.0
    assert v.loc["constant (tuned lr 0.3)", "wall_vs_learner"] == 0.5
    assert v.loc["constant (tuned lr 0.3)", "at_grid_edge"] and not v.loc["cosine (tuned lr 0.03)", "at_grid_edge"]
    assert math.isnan(v.loc["SLQ learner", "tuned_lr"]) and not v.loc["SLQ learner", "at_grid_edge"]


def test_learner_verdicts_flag_a_blow_up_the_final_accuracy_hides():
    """A loss that ends above twice its lowest (0.18 -> 1.77, as a CPU run's learner did) or goes NaN is flagged;
    the best accuracy stands beside the final one. Does not prove why the run blew up."""
    curves = pd.DataFrame({"method": ["SLQ learner"] * 3 + ["nan run"] * 2 + ["steady"] * 2,
                           "epoch": [1, 2, 3, 1, 2, 1, 2], "eval_acc": [0.9, 0.967, 0.883, 0.5, 0.1, 0.8, 0.9],
                           "wall_s": [1.0] * 7, "train_loss": [0.5, 0.18, 1.77, 2.3, float("nan"), 0.6, 0.5]})
    v = learner_verdicts(curves, [0.1]).set_index("method")
    assert v["unstable"].to_dict() == {"SLQ learner": True, "nan run": True, "steady": False}
    assert v.loc["SLQ learner", "best_eval_acc"] == 0.967 and v.loc["SLQ learner", "final_eval_acc"] == 0.883


def test_learner_verdicts_name_an_early_overshoot_apart_from_instability():
    """The CPU run's learner: its first estimate set lr 1.63, epoch 1's mean training loss was 2.78 against 2.36 at
    the init, then it recovered to 0.21: an overshoot (named, with its epoch and loss), not an unstable run.
    Within 5% of the start is no overshoot (a slow first epoch)."""
    curves = pd.DataFrame({"method": ["SLQ learner"] * 3 + ["slow"] * 2, "epoch": [1, 2, 3, 1, 2],
                           "eval_acc": [0.5, 0.8, 0.9, 0.3, 0.6], "wall_s": [1.0] * 5,
                           "train_loss": [2.78, 0.9, 0.21, 2.40, 1.2], "start_loss": [2.36] * 5})
    v = learner_verdicts(curves, [0.1]).set_index("method")
    assert not v["unstable"].any()
    assert v.loc["SLQ learner", "overshoot_epoch"] == 1 and v.loc["SLQ learner", "overshoot_loss"] == 2.78
    assert math.isnan(v.loc["slow", "overshoot_epoch"])
    assert learner_verdicts(curves.drop(columns="start_loss"), [0.1])["overshoot_epoch"].isna().all()  # older rows


def _summary(rows):
    cols = ["tool", "method", "seeds", "seconds", "matvecs", "rel_error_median", "rel_error_max", "ms_per_matvec",
            "x_pyhessian"]
    return pd.DataFrame(rows, columns=cols)


def test_peer_verdict_names_dominating_faster_and_cheapest_tolerant_fixed_runs():
    """The verdict lines name each adaptive rule's matvecs and target and its time against PyHessian's, and the
    fixed-step runs that dominate it, are faster but less accurate, or meet tol at every seed. Does not prove: the
    exact wording of every line (only the phrases asserted)."""
    s = _summary([["workbench", "lanczos 5 steps", 5, 0.005, 5, 1e-3, 1e-2, 1.0, 0.5],
                  ["workbench", "lanczos 10 steps", 5, 0.006, 10, 1e-7, 1e-6, 0.6, 0.6],
                  ["workbench", "lanczos 20 steps", 5, 0.012, 20, 1e-7, 1e-6, 0.6, 1.2],
                  ["workbench", "lanczos tol 0.0001 residual (max 40 steps)", 5, 0.007, 6, 2e-5, 4e-5, 1.2, 0.7],
                  ["workbench", "lanczos tol 0.0001 kato_temple (max 40 steps)", 5, 0.004, 4, 2e-5, 3e-3, 1.0, 0.4],
                  ["workbench", "power iteration (ours) tol 0.001", 5, 0.006, 10, 1e-3, 1.2e-3, 0.6, 0.6],
                  ["pyhessian", "power iteration tol 0.001", 5, 0.010, 9, 1e-3, 1.4e-3, 1.1, 1.0]])
    lines = peer_verdict(s, 1e-4)
    text = "\n".join(lines)
    assert lines[0].startswith("lanczos tol 0.0001 residual") and "median 6 matvecs" in lines[0]
    assert "(target 0.0001: met)" in lines[0] and "0.70x PyHessian's median time (target <= 0.5: not met)" in lines[0]
    assert lines[1].startswith("lanczos tol 0.0001 kato_temple") and "(target 0.0001: missed)" in lines[1]
    assert "0.40x PyHessian's median time (target <= 0.5: met)" in lines[1]
    assert "median 9 matvecs" in lines[2]
    assert lines[3].startswith("the same power iteration on our HVP: a median 10 matvecs") and "0.60x" in lines[3]
    # against it, the residual rule is slower (0.70 / 0.60) and the Kato-Temple one faster (0.40 / 0.60)
    assert "lanczos tol 0.0001 residual (max 40 steps) takes 1.17x its time" in lines[3]
    assert "lanczos tol 0.0001 kato_temple (max 40 steps) takes 0.67x its time" in lines[3]
    assert "as accurate (worst case) as lanczos tol 0.0001 residual (max 40 steps): lanczos 10 steps" in text
    assert "faster but less accurate: lanczos 5 steps" in text
    assert "within 0.0001 at every seed: lanczos 10 steps" in text


def test_peer_verdict_without_adaptive_row_or_pyhessian():
    """No adaptive row: no lines; no PyHessian row: no line mentions it and the fixed-step list ends "none".
    Does not prove: the lines' content when both are present (the test above)."""
    s = _summary([["workbench", "lanczos 5 steps", 1, 0.005, 5, 1e-3, 1e-3, 1.0, float("nan")]])
    assert peer_verdict(s, 1e-4) == []
    s = _summary([["workbench", "lanczos tol 0.0001 residual (max 40 steps)", 1, 0.007, 6, 2e-5, 4e-5, 1.2,
                   float("nan")]])
    lines = peer_verdict(s, 1e-4)
    assert not any("PyHessian" in line for line in lines) and lines[-1].endswith("none")


def test_for_display_formats_errors_and_leaves_blanks():
    """Relative errors as strings in scientific notation (2 significant figures), NaN as an empty string,
    x_pyhessian rounded to 2 decimals.
    Does not prove: the formatting of the other columns."""
    s = _summary([["workbench", "lanczos 5 steps", 1, 0.0051234, 5, 1.2345e-7, float("nan"), 1.02, 0.4567]])
    d = peers.for_display(s)
    assert d.rel_error_median[0] == "1.2e-07" and d.rel_error_max[0] == "" and d.x_pyhessian[0] == 0.46


def test_learner_verdicts_read_rows_in_epoch_order_whatever_their_order():
    """Rows shuffled: the final accuracy is the last epoch's, and with epochs 1 and 2 both above 1.05 x the start
    the overshoot is the first of them."""
    curves = pd.DataFrame({"method": ["SLQ learner"] * 3, "epoch": [1, 2, 3], "eval_acc": [0.5, 0.8, 0.9],
                           "wall_s": [1.0, 2.0, 3.0], "train_loss": [2.78, 2.6, 0.21], "start_loss": [2.36] * 3})
    v = learner_verdicts(curves.iloc[[2, 0, 1]], [0.1]).set_index("method").loc["SLQ learner"]
    assert v.final_eval_acc == 0.9 and v.wall_s == 3.0
    assert v.overshoot_epoch == 1 and v.overshoot_loss == 2.78


def test_batch_vs_full_reads_the_mean_of_batches_and_a_tie_is_not_above():
    """Batches at B=16 with lambda_max 1, 2 and 6: their mean 3.0 (a median would read 2.0), exactly the full
    value 3.0, so not above it (the claim is batch > full)."""
    lam = pd.DataFrame({"bn_mode": ["eval"] * 4, "scope": ["batch"] * 3 + ["full"], "batch_size": [16] * 3 + [64],
                        "lambda_max": [1.0, 2.0, 6.0, 3.0]})
    v = batch_vs_full(lam, by=("bn_mode",)).iloc[0]
    assert (v["mean"], v["ratio"], v["above"]) == (3.0, 1.0, False)


def test_claims_table_calls_a_flat_step_not_decreasing():
    """Mean batch lambda_max 4, 4, 2 over B = 16, 32, 64: it does not fall at every step (16 -> 32 is flat)."""
    from workbench.spectra.verdicts import claims_table
    lam = pd.DataFrame({"epoch": 0, "curvature": "hessian", "scope": ["batch"] * 3 + ["full"],
                        "batch_size": [16, 32, 64, 128], "lambda_max": [4.0, 4.0, 2.0, 1.0]})
    (c,) = claims_table(lam, 16).itertuples()
    assert c.ratio_smallest_b_to_full == 4.0 and c.above_full_at_smallest_b and not c.decreasing_in_b
    assert claims_table(lam.assign(lambda_max=[5.0, 4.0, 2.0, 1.0]), 16).decreasing_in_b.item()


def test_peer_verdict_equal_accuracy_picks_the_fastest_tolerant_row_whatever_the_row_order():
    """PyHessian's rows within 1e-4 listed slow first (tol 1e-6 at 0.9 s, then tol 1e-5 at 0.5 s): the
    equal-accuracy reading is against the faster, 0.2 / 0.5 = 0.40x, not the first listed (0.22x)."""
    s = _summary([["workbench", "lanczos tol 0.0001 residual (max 40 steps)", 2, 0.2, 10, 1e-8, 1e-8, 1.0, 1.25],
                  ["pyhessian", "power iteration tol 0.001", 2, 0.16, 7, 1e-3, 2.6e-3, 1.0, 1.0],
                  ["pyhessian", "power iteration tol 1e-06", 2, 0.9, 45, 1e-6, 1e-6, 1.0, 1.0],
                  ["pyhessian", "power iteration tol 1e-05", 2, 0.5, 25, 3e-5, 5e-5, 1.0, 1.0]])
    assert "at equal accuracy 0.40x PyHessian at tol 1e-05" in peer_verdict(s, 1e-4)[0]
