"""Tables of the negative-mining study: the comparison per sampler, time-to-accuracy, reference rows."""
from __future__ import annotations

import math

import pandas as pd

from .evaluate import METRICS
from .train_config import TIMERS

#: Reference points measured on the full committed Debian titles dataset (filter pairs applied), as stated in the
#: study's issue; shown beside full-data runs only (a subsample's numbers are not comparable).
DEBIAN_REFERENCES = [
    {"method": "most popular (reference)", "P@1": 1.1},
    {"method": "Parabel / omikuji 3 trees (reference)", "P@1": 47.7, "P@5": 23.1, "PSP@1": 18.2, "PSP@5": 23.0},
    {"method": "zero-shot MiniLM DE (reference)", "P@1": 31.0, "PSP@5": 31.6},
    {"method": "in-batch DE fine-tune, 20 ep (reference)", "P@1": 38.8, "P@5": 18.2, "PSP@1": 41.9, "PSP@5": 40.2},
    {"method": "full-BCE classifier, frozen (reference)", "P@1": 48.4, "PSP@5": 25.1},
    {"method": "DE + classifier fused 0.5/0.5 (reference)", "P@1": 57.6, "P@5": 27.9, "PSP@1": 33.2, "PSP@5": 42.2},
]


def evals_of(measurements: pd.DataFrame) -> pd.DataFrame:
    """The evaluation rows (those with metrics) of the measurements table."""
    return measurements.dropna(subset=["P@1"]) if "P@1" in measurements else measurements.iloc[:0]


def train_rows_of(measurements: pd.DataFrame) -> pd.DataFrame:
    """The training rows (those with a loss) of the measurements table; empty when no run took a step."""
    return measurements[measurements["loss"].notna()] if "loss" in measurements else measurements.iloc[:0]


def comparison_table(measurements: pd.DataFrame, peers: pd.DataFrame | None = None,
                     stats: dict | None = None) -> pd.DataFrame:
    """One row per trained sampler (its last evaluation; training seconds, steps, time split shares) and per
    peer method, metrics in percent; dataset statistics repeated as columns so the table stands alone.

    ``train_s`` is the training wall-clock the row's model cost in all: for a classifier stage (rows with a
    ``stage_start_s``, e.g. ``ngame M-IV``) the encoder's training before it included, as on the time-to-accuracy
    axis. ``stage_s`` is the row's own run alone (equal to ``train_s`` for a one-stage run); ``steps``, the shares
    and the peak memory are the row's own run's too.

    ``predict_s`` is the seconds to predict the test split: a trained sampler's last evaluation (label and query
    encoding, top-k, metrics), a peer's prediction.

    ``sampling share %`` is sampling time over step time with the per-epoch refreshes left out (the issue's
    "sampler time <= 10% of step time"), ``refresh share %`` the refreshes (ANCE's shortlist, NGAME's clustering,
    the full sampler's label cache) over all training time."""
    ev = evals_of(measurements)
    train = train_rows_of(measurements)
    rows = []
    for name, g in ev.groupby("sampler", sort=False):
        last = g.iloc[-1]
        t = train[train["sampler"] == name]
        # a run that took no step (a time budget spent before it) has no training rows, maybe no timer columns
        busy = t.reindex(columns=list(TIMERS)).sum()
        step = busy.sum() - busy["refresh_s"]
        before = last.get("stage_start_s", math.nan)
        before = 0.0 if before != before else before  # NaN: no stage column, or a one-stage run's row
        rows.append({"method": name, **{m: last[m] for m in METRICS if m in last},
                     "train_s": last["wall_s"], "stage_s": last["wall_s"] - before, "steps": int(last["step"]),
                     "sampling share %": 100 * busy["sample_s"] / step if step > 0 else math.nan,
                     "refresh share %": 100 * busy["refresh_s"] / busy.sum() if busy.sum() > 0 else math.nan,
                     "peak_mem_mib": t["peak_mem_mib"].max() if len(t) else math.nan,
                     "predict_s": last.get("eval_s", math.nan)})
    out = pd.DataFrame(rows)
    if peers is not None and len(peers):
        out = pd.concat([out, peers], ignore_index=True)
    if stats:
        for k in ("name", "train_points", "test_points", "labels"):
            out[f"data_{k}"] = stats.get(k)
    return out


def trained_evals(evals: pd.DataFrame) -> pd.DataFrame:
    """The evaluations after a training step (``step > 0``): the step-0 row is the starting model's accuracy
    (e.g. the zero-shot encoder, or a stage's encoder before the stage), which no sampler earned."""
    return evals[evals["step"] > 0] if "step" in evals else evals


def time_to_fraction(evals: pd.DataFrame, metric: str = "P@1", frac: float = 0.95) -> pd.DataFrame:
    """Per sampler: its ``metric`` at step 0 (``start``: the untrained model's), its best after training steps,
    and the first training wall-clock second at which ``frac`` x the best over all samplers' trained evaluations
    is reached (NaN if never). Step-0 rows count for neither: a run that only got worse would otherwise show its
    start as its best, reached at 0 s. ``target above start`` says whether the target lies above the run's start:
    where it does not, a hit only says the run did not fall below the model it started from (e.g. a stage that
    starts from an already trained encoder). The time column's name states that target and the best it is a
    fraction of, e.g. ``s to P@1 >= 33.25 (95% of best 35.00)``."""
    evals = evals.dropna(subset=[metric])
    trained = trained_evals(evals)
    best = trained[metric].max()
    target = frac * best
    column = (f"s to {metric} >= {target:.2f} ({round(frac * 100)}% of best {best:.2f})" if len(trained)
              else f"s to {round(frac * 100)}% of the best {metric} (no run took a training step)")
    out = []
    for name, g in evals.groupby("sampler", sort=False):
        start = g[g["step"] == 0][metric] if "step" in g else g.iloc[:0][metric]
        t = trained_evals(g)
        hit = t[t[metric] >= target]
        s0 = start.iloc[0] if len(start) else math.nan
        out.append({"sampler": name, f"start {metric}": s0, f"best {metric}": t[metric].max() if len(t) else math.nan,
                    column: hit["wall_s"].min() if len(hit) else math.nan,
                    "target above start": bool(s0 != s0 or target > s0)})
    return pd.DataFrame(out)


def time_to_common_best(evals: pd.DataFrame, samplers: list[str], metric: str = "P@1",
                        train_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """For ``samplers`` (e.g. ``["full", "unidec"]``): the best ``metric`` all of them reach after training
    steps (the lowest of their bests; step-0 rows are the untrained model's and count for none), and for each the
    first training second and step at which it got there, and from ``train_rows`` (the training log rows) the
    peak CUDA memory up to that step (NaN on a CPU, or without ``train_rows``), and each one's ``start`` (step-0)
    value. The ``x faster`` and ``x less memory`` columns divide the first sampler's (the reference's) by each
    one's: UniDEC's claim is 4-16x less cost than ``full``. Where the target is not above a start, those ratios
    time runs that merely did not fall below their starting model (:func:`workbench.xmc_train.verdicts.
    unidec_verdict` says so)."""
    every = evals[evals["sampler"].isin(samplers)].dropna(subset=[metric])
    ev = trained_evals(every)
    if ev.empty:
        return pd.DataFrame()
    starts = every[every["step"] == 0].groupby("sampler")[metric].first() if "step" in every else pd.Series()
    target = ev.groupby("sampler")[metric].max().min()
    out = []
    for name, g in ev.groupby("sampler", sort=False):
        hit = g[g[metric] >= target].iloc[0]
        peak = math.nan
        if train_rows is not None and len(train_rows):
            upto = train_rows[(train_rows["sampler"] == name) & (train_rows["step"] <= hit["step"])]
            peak = upto["peak_mem_mib"].max() if len(upto) else math.nan
        out.append({"sampler": name, f"target {metric}": target, "s to target": hit["wall_s"],
                    "step": int(hit["step"]), "peak_mem_mib": peak, f"start {metric}": starts.get(name, math.nan)})
    present = set(ev["sampler"])
    out = pd.DataFrame(out).set_index("sampler").reindex([s for s in samplers if s in present])
    ref = out.iloc[0]
    out[f"x faster than {ref.name}"] = ref["s to target"] / out["s to target"]
    out[f"x less memory than {ref.name}"] = ref["peak_mem_mib"] / out["peak_mem_mib"]
    return out.reset_index()


def warm_windows(train_rows: pd.DataFrame) -> pd.DataFrame:
    """The training log rows after each run's first window (a fresh model's first steps pay its warm-up: on the
    CPU default the first of ~5 windows per sampler); a run's only window is kept. Runs are told apart by
    ``sampler`` (variants carry their own label)."""
    if train_rows.empty:
        return train_rows
    by = train_rows.groupby("sampler")["step"]
    return train_rows[(train_rows["step"] > by.transform("min")) | (by.transform("size") == 1)]


def throughput_table(train_rows: pd.DataFrame, bare_seqs_per_s: float = math.nan,
                     bare_length: float = math.nan) -> pd.DataFrame:
    """Per sampler that encoded anything: training sequences/s over its log windows (the study passes those
    :func:`warm_windows` keeps): the median, and the 10th and 90th percentiles (identical steps that vary
    several-fold point at the host, not the sampler); its median padded length, its median ``seqs per step``
    (queries and labels encoded per step), and ``ratio``: the median over the bare encoder's sequences/s. The
    bare figure is the median of the sampler's in-loop probes where its rows hold some (``bare_seqs_per_s``, the
    trainer's ``bare_probe_every``; "bare timed": in turn, with the count, and "bare length" the median length
    they ran at), else ``bare_seqs_per_s`` given here, timed at ``bare_length`` after the runs ("after the
    runs")."""
    enc = train_rows[train_rows["seqs_per_s"] > 0]
    g = enc.groupby("sampler", sort=False)
    out = pd.DataFrame({"train seqs/s": g["seqs_per_s"].median(),
                        "p10 seqs/s": g["seqs_per_s"].quantile(0.1),
                        "p90 seqs/s": g["seqs_per_s"].quantile(0.9),
                        "train padded length": g["seq_len"].median(),
                        "seqs per step": g["seqs_per_step"].median()})
    out["bare encoder seqs/s"] = bare_seqs_per_s
    out["bare length"] = float(bare_length)
    out["ratio"] = out["train seqs/s"] / bare_seqs_per_s
    out["bare timed"] = "after the runs"
    probed = enc[enc["bare_seqs_per_s"] > 0] if "bare_seqs_per_s" in enc else enc.iloc[:0]
    for name, p in probed.groupby("sampler", sort=False):
        bare = p["bare_seqs_per_s"].median()
        out.loc[name, ["bare encoder seqs/s", "bare length", "ratio", "bare timed"]] = [
            bare, p["seq_len"].round().clip(lower=1).median(), out.at[name, "train seqs/s"] / bare,  # as probed
            f"in turn ({len(p)} window{'s' if len(p) > 1 else ''})"]
    return out.reset_index()
