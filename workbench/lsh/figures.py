"""Figures of the LSH sampling study. Each takes a tidy table and returns a titled matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

ADAPTIVITY_METRICS = {"mean_logit": "mean logit of sampled negatives",
                      "mean_rank": "mean rank of negatives (fraction, 0 = top)",
                      "top50_share": "share of true top-50 negatives returned",
                      "tv": "empirical total variation vs softmax", "kl": "KL(sampler || softmax) (nats)"}
# one colour per method in every figure of the study (seaborn colorblind hues): the exact softmax as race entrant
# and adaptivity probe shares one; the full softmax's cost curve, drawn beside the exact sampler's, has its own
# (dark purple); lsh-embedding crimson, not the palette's vermillion, too near uniform's orange; table maintenance
# in greys
COLOURS = {"full": "#0173b2", "exact": "#0173b2", "full-softmax": "#6a3d9a", "uniform": "#de8f05",
           "loguniform": "#029e73", "log-uniform": "#029e73", "lsh-embedding": "#c0162c", "lsh-label": "#cc78bc",
           "rehash": "0.55", "redraw": "0.1", "draw": "0.1"}
LINESTYLES = {"full-softmax": "-."}  # and dash-dotted, as the exact sampler's twin
SPARE = ("#ca9161", "#56b4e9", "#7b3294", "#8c6d31", "#637939", "#843c39")  # other names, chosen by their letters


def method_colour(name: str) -> str:
    """The colour of a method; a variant 'X:<change>' (e.g. 'lsh-embedding:nologq') has X's. Other names get a fixed
    spare colour computed from their letters (the same in every figure and run)."""
    base = name.split(":")[0].lower().replace("_", "-")
    return COLOURS.get(base) or SPARE[sum(map(ord, base)) % len(SPARE)]


def method_style(name: str) -> dict[str, str]:
    """Colour and line style: a variant 'X:<change>' in X's colour, dashed (``:nologq``) or dotted (``:center``;
    both flags: dash-dotted), a method solid (the full softmax's cost curve dash-dotted beside the exact
    sampler's)."""
    flags = set(name.split(":")[1:])
    if not flags:
        return {"color": method_colour(name), "ls": LINESTYLES.get(name.lower(), "-")}
    return {"color": method_colour(name), "ls": ":" if flags == {"center"} else "--" if "center" not in flags else "-."}


def constant_time(df: pd.DataFrame) -> plt.Figure:
    """Sampling time per query (ms, log) against the number of labels (log), one line per method; right panel:
    rehash and redraw cost (s) of the LSH tables."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    per_query = df[df["ms_per_query"].notna()]
    devices = sorted(per_query["device"].unique())
    for (method, dev), g in per_query.groupby(["method", "device"]):
        g = g.sort_values("num_labels")
        ax.plot(g["num_labels"], g["ms_per_query"], marker="osD^"[devices.index(dev) % 4], label=f"{method} ({dev})",
                **method_style(method))
    ax.set(xscale="log", yscale="log", xlabel="number of labels", ylabel="time per query (ms, median)",
           title="Sampling cost per query")
    ax.legend(fontsize=8)
    _maintenance(ax2, df)
    return fig


def _maintenance(ax, df: pd.DataFrame) -> None:
    """Rehash and the hash functions' draw alone (s per rebuild), per device. The bench times a redraw as draw +
    rehash, so a redraw line would lie on the rehash one by construction: the draw is shown on its own instead."""
    costs = df[df["method"].isin(["rehash", "redraw"])]
    for dev, g in costs.groupby("device"):
        sec = g.pivot_table(index="num_labels", columns="method", values="ms_per_batch").sort_index() / 1e3
        if "rehash" in sec:
            ax.plot(sec.index, sec["rehash"], marker="s", ls="-", color=method_colour("rehash"),
                    label=f"rehash: hash all label vectors ({dev})")
        if {"rehash", "redraw"} <= set(sec):
            draw = (sec["redraw"] - sec["rehash"]).where(lambda v: v > 0)  # a log axis: a zero draw is not drawn
            ax.plot(sec.index, draw, marker="x", ms=8, mew=2, ls="--", color=method_colour("draw"),
                    label=f"draw new hash functions alone ({dev})")
    ax.set(xscale="log", yscale="log", xlabel="number of labels", ylabel="seconds per rebuild",
           title="Table maintenance cost")
    ax.legend(fontsize=8, title="redraw = draw + rehash", title_fontsize=8)


def adaptivity(df: pd.DataFrame, metric: str = "mean_rank") -> plt.Figure:
    """``metric`` of each sampler's negatives against the training step of the probed model."""
    fig, ax = plt.subplots()
    for sampler, g in df.groupby("sampler"):
        label = f"{sampler} (noise floor)" if metric in ("tv", "kl") and sampler == "exact" else sampler
        ax.plot(g["step"], g[metric], marker=".", label=label, **method_style(sampler))
    title = f"Adaptivity: {ADAPTIVITY_METRICS.get(metric, metric)}"
    if metric in ("tv", "kl") and "draws_per_query" in df:  # empirical: exact's value is the noise at this n
        title += f"\n({df['draws_per_query'].median():.0f} draws per query; exact samples the softmax itself)"
    ax.set(xlabel="training step of the probed model", ylabel=ADAPTIVITY_METRICS.get(metric, metric), title=title)
    ax.legend(fontsize=8, title="sampler", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0)
    return fig


def race(df: pd.DataFrame, metric: str = "P@1", dataset: str | None = None) -> plt.Figure:
    """``metric`` (percent for P@k) on held-out points against training wall-clock (s), one line per method; the title
    names the dataset (``dataset``, or the only one in ``df``). ``loss`` is each method's own training objective (the
    label says so): compare methods by P@k."""
    if dataset is not None and "dataset" in df:
        df = df[df["dataset"] == dataset]
    if dataset is None and "dataset" in df and df["dataset"].nunique() == 1:
        dataset = str(df["dataset"].iloc[0])
    fig, ax = plt.subplots()
    for method, g in df.groupby("method"):
        if g[metric].isna().all():  # e.g. over_cap_share of a method without tables: no line, no legend entry
            continue
        g = g.sort_values("train_s")
        ax.plot(g["train_s"], g[metric], marker=".", label=method, **method_style(method))
    where = f" ({dataset})" if dataset else ""
    # each method minimises its own objective (full softmax over L labels, sampled softmax over its budget, with or
    # without logQ): their losses are not on one scale, only their P@k are
    unit = {"loss": " (nats, each method's own)",
            "top1_share": " (share of points with the most predicted top label)",
            "over_cap_share": " (share of labels in buckets over the cap)"}.get(
        metric, " (%)" if metric.startswith("P@") else "")
    caveat = "\n(each method's own objective: losses are not comparable across methods)" if metric == "loss" else ""
    ax.set(xlabel="training wall-clock (s, evaluation excluded)", ylabel=metric + unit,
           title=f"{metric} vs training wall-clock{where}{caveat}")
    ax.legend(fontsize=8)
    return fig
