"""The negative-mining report's lines, tables and figures at their boundaries, each on a case solved by hand: the
loop targets at exactly 70% and 10%, refresh shares under 1%, the bare reference's spread (judged samplers only),
plateaus read from the final value, start and Parabel ties, fusion ties, peak memory over windows, and what three
figures plot. A review that changed one line at a time in these modules found each change passed the rest of the
suite.

Does not prove: that the sentences read well (the reports are read by hand)."""
import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from workbench.xmc_train import tables
from workbench.xmc_train.figures import memory_vs_batch, time_split, time_to_accuracy
from workbench.xmc_train.verdicts import (accuracy_target_lines, below_start_lines, plateau_lines, start_line,
                                         target_lines, unidec_verdict)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


RUNS = {"in_batch": "in_batch", "ngame": "ngame", "full": "full"}


def _comparison(**share):
    return pd.DataFrame({"method": list(RUNS), "steps": [10, 10, 10],
                         "sampling share %": share.get("sampling", [1.0, 1.0, 1.0]),
                         "refresh share %": share.get("refresh", [0.0, 0.0, 0.0])})


def test_unidec_memory_caveat_only_when_no_run_has_memory():
    """One run with a CUDA peak (1.0 MiB), one without: memory was measured, so no 'memory ratios need CUDA'."""
    common = pd.DataFrame({"target P@1": [30.0, 30.0], "x faster than full": [1.0, 2.0],
                           "peak_mem_mib": [1.0, math.nan]}, index=["full", "unidec"])
    assert "memory ratios need CUDA" not in unidec_verdict(common, 100, 0, cuda=True)


def test_bare_spread_said_above_ten_percent():
    """Bare reference at 9000 and 10350 seqs/s at one length: 10350 / 9000 = 1.15x > 1.1, so the clause is said."""
    thr = pd.DataFrame({"sampler": ["in_batch", "ngame"], "ratio": [0.9, 0.9],
                        "bare encoder seqs/s": [9000.0, 10350.0], "bare length": [16.0, 16.0]})
    assert "moved 1.15x between runs" in target_lines(thr, _comparison(), RUNS)[0]


def test_throughput_exactly_at_target_is_met():
    """A ratio of exactly 0.70 meets 'throughput >= 70%': met by 1 of 1, nothing below."""
    thr = pd.DataFrame({"sampler": ["in_batch"], "ratio": [0.7]})
    assert target_lines(thr, _comparison(), RUNS)[0] == "throughput >= 70% of the bare encoder: met by 1 of 1"


def test_bare_spread_ignores_samplers_not_judged():
    """full (500 seqs/step > 2.5 x 100) is not judged; its bare 10214 must not count: judged ones 9000/9090 = 1.01x."""
    thr = pd.DataFrame({"sampler": ["in_batch", "ngame", "full"], "ratio": [0.9, 0.9, 2.0],
                        "seqs per step": [200.0, 200.0, 500.0],
                        "bare encoder seqs/s": [9000.0, 9090.0, 10214.0], "bare length": [16.0] * 3})
    assert "moved" not in target_lines(thr, _comparison(), RUNS, batch_size=100)[0]


def test_sampling_share_exactly_at_target_is_met():
    """A sampling share of exactly 10.0% meets 'sampling <= 10% of step time'."""
    line = target_lines(None, _comparison(sampling=[10.0, 1.0, 1.0]), RUNS)[0]
    assert line == "sampling <= 10% of step time (refreshes apart): met by all 3 samplers"


def test_small_refresh_share_is_listed():
    """Any refresh time (0.5% here) is listed on the refresh line; zero is not."""
    lines = target_lines(None, _comparison(refresh=[0.0, 0.5, 0.0]), RUNS)
    assert lines[-1].endswith("share of training time: ngame 0.5%")


def test_plateau_gain_is_final_minus_last_before_window():
    """wall 0..40, last quarter after 30 s: last before = 30.0 (at 30 s), final 30.2: +0.2, a plateau, even though a
    35.0 peak at 35 s sits inside the window (final, not best, minus the last before)."""
    ev = pd.DataFrame({"sampler": ["a"] * 6, "wall_s": [0, 10, 20, 30, 35, 40],
                       "P@1": [5.0, 20.0, 30.0, 30.0, 35.0, 30.2]})
    assert plateau_lines(ev)[0].startswith("plateau (P@1 gain over the last 25% of training < 0.5 points): a (+0.2); "
                                           "still rising: none")


def test_plateau_gain_of_exactly_tol_is_rising():
    """gain 30.5 - 30.0 = 0.5 exactly is not '< 0.5 points': still rising."""
    ev = pd.DataFrame({"sampler": ["a"] * 3, "wall_s": [0, 30, 40], "P@1": [5.0, 30.0, 30.5]})
    assert "plateau (P@1 gain over the last 25% of training < 0.5 points): none; still rising: a (+0.5)" \
        == plateau_lines(ev)[0]


def test_below_start_exactly_tol_below_is_not_lost():
    """start 28.75, final 28.25: exactly 0.5 below, not 'more than 0.5 points below'."""
    ev = pd.DataFrame({"sampler": ["a"] * 3, "step": [0, 8, 16], "P@1": [28.75, 40.0, 28.25]})
    assert below_start_lines(ev)[0].endswith(": none")


def test_below_start_best_exactly_tol_above_is_flat():
    """start 28.75, best 29.25: exactly 0.5 above, i.e. 'never more than 0.5 points above': listed as flat."""
    ev = pd.DataFrame({"sampler": ["a"] * 3, "step": [0, 8, 16], "P@1": [28.75, 29.25, 29.0]})
    assert below_start_lines(ev)[1].endswith("): a (best 29.25, start 28.75)")


def test_start_equal_to_parabel_is_not_above():
    """A start of 22.25 equal to Parabel's 22.25 is not above it: no 'above Parabel' clause."""
    ev = pd.DataFrame({"sampler": ["de", "de"], "step": [0, 8], "P@1": [22.25, 30.0]})
    comparison = pd.DataFrame({"method": ["de", "Parabel (omikuji, 3 trees)"], "P@1": [30.0, 22.25]})
    assert start_line(ev, comparison) == "the models the runs started from (step 0) scored P@1 22.25"


def test_fusion_tie_names_only_the_best_samplers_weights():
    """Two models tie at P@1 40.0; the first (a, alpha 0.5) is reported: b's alpha 0.3 is not a's weight."""
    c = pd.DataFrame([["a", 40.0, 30.0, 10, 5]], columns=["method", "P@1", "PSP@5", "train_s", "steps"])
    heads = pd.DataFrame({"sampler": ["a", "b"], "alpha": [0.5, 0.3], "P@1": [40.0, 40.0], "PSP@5": [30.0, 20.0]})
    line = accuracy_target_lines(c, heads, at_scale=True)[1]
    assert line.endswith("best P@1 40.0 (PSP@5 30.0) from a at alpha 0.5")


def test_comparison_peak_memory_is_the_max_over_windows():
    """The trainer resets the CUDA peak each window: windows at 900 then 300 MiB peak at 900, not the last 300."""
    nan = math.nan
    m = pd.DataFrame([
        {"sampler": "a", "step": 1, "wall_s": 1.0, "loss": 1.0, "peak_mem_mib": 900.0, "P@1": nan},
        {"sampler": "a", "step": 2, "wall_s": 2.0, "loss": 1.0, "peak_mem_mib": 300.0, "P@1": nan},
        {"sampler": "a", "step": 2, "wall_s": 2.0, "loss": nan, "peak_mem_mib": nan, "P@1": 10.0}])
    assert tables.comparison_table(m).loc[0, "peak_mem_mib"] == 900.0


def test_time_split_is_seconds_per_step_over_all_windows():
    """Windows of 10 and 30 steps with 1 s and 3 s sampling: 4 s / 40 steps = 0.1 s per step (not the 2 s mean)."""
    rows = pd.DataFrame({"sampler": ["a", "a"], "steps": [10, 30], "sample_s": [1.0, 3.0], "refresh_s": [0.0, 0.0],
                         "encode_s": [0.0, 0.0], "loss_s": [0.0, 0.0], "backward_s": [0.0, 0.0]})
    fig = time_split(rows)
    assert fig.axes[0].patches[0].get_width() == 0.1
    assert fig.axes[1].patches[0].get_width() == 100.0  # the share panel: sampling is all of the step


def test_time_to_accuracy_goes_log_when_runs_span_over_tenfold():
    """Evaluations at 1 s and 50 s (50x > 10x): the time axis is symlog."""
    ev = pd.DataFrame({"sampler": ["a", "a", "b", "b"], "wall_s": [0.0, 1.0, 0.0, 50.0], "P@1": [1.0, 2.0, 1.0, 3.0]})
    assert time_to_accuracy(ev).axes[0].get_xscale() == "symlog"


def test_time_to_accuracy_keeps_far_peers_off_the_axis():
    """Samplers at 28-35% and a 0.5% peer: the y axis spans the samplers (not 0), the peer is a note with its value
    at the bottom edge; a 30% peer stays a line in the legend. Two samplers get two markers, a stage a hollow one."""
    ev = pd.DataFrame({"sampler": ["a", "a", "b", "b", "b M-IV"], "wall_s": [0.0, 1.0, 0.0, 1.0, 1.5],
                       "P@1": [28.0, 35.0, 28.0, 30.0, 31.0]})
    peers = pd.DataFrame({"method": ["most popular", "parabel"], "P@1": [0.5, 30.0]})
    ax = time_to_accuracy(ev, peers=peers).axes[0]
    assert ax.get_ylim()[0] > 20 and ax.get_ylim()[1] < 40
    assert [t.get_text() for t in ax.texts] == ["\u2193 most popular (peer): 0.5%, below the axis"]
    assert "parabel (peer)" in [t.get_text() for t in ax.get_legend().get_texts()]
    a, b, stage = ax.lines[:3]
    assert a.get_marker() != b.get_marker() == stage.get_marker() and stage.get_markerfacecolor() == "white"


def test_memory_vs_batch_plots_peak_memory_and_drops_oom():
    """With CUDA peaks the line is the peak MiB (100, 200), not tokens; the OOM point at batch 64 is left out."""
    mem = pd.DataFrame({"sampler": ["a"] * 3, "batch_size": [16, 32, 64], "peak_mem_mib": [100.0, 200.0, 9e9],
                        "tokens_per_step": [1.0, 2.0, 4.0], "oom": [False, False, True]})
    ax = memory_vs_batch(mem).axes[0]
    assert list(ax.lines[0].get_ydata()) == [100.0, 200.0] and ax.get_ylabel() == "peak GPU memory (MiB)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32"]  # ticks at the measured sizes only
