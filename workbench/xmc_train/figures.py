"""Figures of the negative-mining study: functions of tidy tables that return a titled matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

from ..report import log_y_if_wide
from .train_config import TIMERS

PHASES = TIMERS  # the trainer's timed phases
# one colour per method in every figure of the study (the seaborn colorblind hues first; peers in greys)
COLOURS = {"full": "#0173b2", "uniform": "#de8f05", "log_uniform": "#029e73", "lsh": "#d55e00", "in_batch": "#cc78bc",
           "ance": "#ca9161", "ngame": "#7b3294", "unidec": "#56b4e9", "most popular": "0.6", "parabel": "0.2"}
SPARE = ("#8c6d31", "#637939", "#843c39", "#393b79", "#a55194", "#17becf")  # other names, chosen by their letters
PHASE_COLOURS = ("0.15", "0.35", "0.55", "0.72", "0.88")  # time-split phases: greys, never a method's hue
PHASE_HATCHES = ("", "//", "", "..", "xx")  # and a hatch on every other one: neighbouring light greys looked alike


def _base(name: str) -> str:
    """The sampler (or peer) a run belongs to: 'ngame M-IV', 'in_batch +BCE clf', 'log_uniform logq=true' and
    'ance@cap' belong to their first word, 'Parabel (omikuji, 3 trees)' to 'parabel'."""
    low = name.lower()
    return low if low in COLOURS else low.replace("@", " ").split(" ")[0]


def method_colour(name: str) -> str:
    """The colour of a sampler, its stages and variants, or a peer; other names get a fixed spare colour
    computed from their letters (the same in every figure and run)."""
    base = _base(name)
    return COLOURS.get(base) or SPARE[sum(map(ord, base)) % len(SPARE)]


def method_style(name: str) -> dict[str, str]:
    """Colour and line style: a stage or variant ('ngame M-IV', '<x> +BCE clf', '<x> <field>=<value>') is drawn
    dashed in its sampler's colour, a sampler solid."""
    derived = " " in name and name.lower() not in COLOURS
    return {"color": method_colour(name), "ls": "--" if derived else "-"}


def _peer_lines(ax, peers: pd.DataFrame | None, metric: str) -> None:
    """Peers as dotted grey horizontal lines, one grey each (dashed lines are stages and variants of a sampler)."""
    if peers is None or metric not in peers:
        return
    for _, r in peers.iterrows():
        ax.axhline(r[metric], ls=":", lw=1.6, color=method_colour(r["method"]), label=f"{r['method']} (peer)")


def time_to_accuracy(evals: pd.DataFrame, metric: str = "P@1", x: str = "wall_s",
                     peers: pd.DataFrame | None = None) -> plt.Figure:
    """``metric`` (percent, test split) against training wall-clock seconds (or step), one line per sampler. Against
    steps, a classifier stage (rows with ``stage_start_s`` > 0, e.g. ``ngame M-IV``) counts its own steps from 0,
    after the encoder's: its legend entry says so."""
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    evals = evals.dropna(subset=[metric])
    for name, g in evals.groupby("sampler", sort=False):
        stage = x == "step" and "stage_start_s" in g and bool((g["stage_start_s"] > 0).any())
        label = f"{name} (stage steps, after the encoder's)" if stage else name
        ax.plot(g[x], g[metric], marker="o", ms=3, label=label, **method_style(name))
    _peer_lines(ax, peers, metric)
    unit = "training wall-clock (s, evaluation excluded)" if x == "wall_s" else x
    positive = evals.loc[evals[x] > 0, x] if x == "wall_s" else evals[x].iloc[:0]
    if len(positive) and positive.max() > 10 * positive.min():  # one slow run would squeeze the others to the left
        lo, hi = positive.min(), positive.max()  # linear from 0 (the untrained model) to the first evaluation, then log
        ax.set_xscale("symlog", linthresh=lo, linscale=0.3)
        ax.set_xlim(-0.1 * lo, hi * 1.15)
        ax.set_xticks([0.0] + [v for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
                               for v in (10.0 ** e, 2 * 10.0 ** e, 5 * 10.0 ** e) if lo <= v <= hi * 1.15])
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        unit += f"; log scale above {lo:.2g} s"
    ax.set(title=f"{metric} vs {'time' if x == 'wall_s' else x} per sampler", xlabel=unit, ylabel=f"{metric} (%)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the curves, not on them
    return fig


def memory_vs_batch(mem: pd.DataFrame) -> plt.Figure:
    """Peak CUDA memory (MiB) against batch size per sampler; on CPU (no CUDA numbers) the proxy: real tokens
    encoded with gradients per step, which activation memory is proportional to."""
    if "oom" in mem:
        mem = mem[~mem["oom"].astype(bool)]
    gpu = mem["peak_mem_mib"].notna().any()
    col = "peak_mem_mib" if gpu else "tokens_per_step"
    fig, ax = plt.subplots()
    drawn: dict[str, list] = {}
    for i, (name, g) in enumerate(mem.groupby("sampler", sort=False)):
        # samplers that encode the same tokens (in_batch, ngame) draw the same line: later lines get smaller
        # markers on top, alternating filled and hollow, a twin dotted, and the legend names the twin
        points = list(zip(g["batch_size"], g[col]))
        twin = next((other for other, p in drawn.items() if p == points), None)
        drawn[name] = points
        style = method_style(name) | ({"ls": ":"} if twin else {})
        ax.plot(g["batch_size"], g[col], marker="osv^DPX*"[i % 8], ms=max(11 - i, 5), mew=1.8, zorder=2 + i,
                mfc="none" if i % 2 else style["color"], label=f"{name} (same as {twin})" if twin else name, **style)
    ax.set_xscale("log", base=2)
    log_y_if_wide(ax, mem[col])  # one sampler (full) far above the others would flatten them
    ylabel = "peak GPU memory (MiB)" if gpu else "tokens encoded with grad per step"
    ax.set(title="Peak GPU memory vs batch size" if gpu else "Memory proxy vs batch size (CPU: no GPU memory)",
           xlabel="batch size (queries)", ylabel=ylabel)
    ax.legend(fontsize="small", title="sampler", title_fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def time_split(train_rows: pd.DataFrame) -> plt.Figure:
    """Seconds per step spent sampling / refreshing / encoding / in the loss / in backward+update, per sampler."""
    g = train_rows.groupby("sampler", sort=False)
    per_step = g[list(PHASES)].sum().div(g["steps"].sum(), axis=0)
    fig, ax = plt.subplots()
    left = np.zeros(len(per_step))
    for ph, colour, hatch in zip(PHASES, PHASE_COLOURS, PHASE_HATCHES):
        ax.barh(per_step.index, per_step[ph], left=left, color=colour, edgecolor="white", hatch=hatch,
                label=ph.removesuffix("_s"))
        left += per_step[ph].to_numpy()
    ax.set(title="Time split per training step", xlabel="seconds per step (mean)", ylabel="sampler")
    ax.legend(fontsize="small", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return fig


def explorer_plot(evals: pd.DataFrame, metric: str = "P@1", x: str = "wall_s", sampler: str = "all") -> plt.Figure:
    """The explorer's view: one metric against time or step, for all samplers or one."""
    df = evals if sampler == "all" else evals[evals["sampler"] == sampler]
    fig = time_to_accuracy(df, metric, x)
    plt.close(fig)
    return fig


def cluster_schedule(rows: pd.DataFrame) -> plt.Figure:
    """NGAME's cluster size per epoch and the seconds each re-clustering cost (encode + cluster)."""
    fig, ax = plt.subplots()
    epochs = list(rows["epoch"]) + [rows["epoch"].max() + 1]
    ax.step(epochs, list(rows["cluster_size"]) + [rows["cluster_size"].iloc[-1]], where="post",
            color=method_colour("ngame"), label="cluster size bound (points)")
    if "mean_points" in rows and rows["mean_points"].notna().any():  # what balanced 2-means made of the bound
        ax.step(epochs, list(rows["mean_points"]) + [rows["mean_points"].iloc[-1]], where="post", linestyle="--",
                color=method_colour("ngame"), alpha=0.7, label="mean cluster in use (points)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(title="NGAME cluster-size schedule and refresh cost", xlabel="epoch", ylabel="cluster size (points)")
    ax2 = ax.twinx()
    ax2.bar(rows["epoch"], rows["refresh_s"], width=0.3, align="edge", alpha=0.5, color="0.5",
            label="re-clustering at epoch start (s)")
    ax2.set_ylabel("re-clustering cost (s)")
    ax2.set_ylim(0, 1.3 * max(rows["refresh_s"].max(), 1e-9))  # the bars stop below the cluster-size line
    ax2.grid(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    # below the axes (inside, it covered the first refresh bar)
    ax.legend(h1 + h2, l1 + l2, fontsize="small", ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    if len(rows) and rows["cluster_size"].max() > 1:
        ax.set_yscale("log", base=2)
    return fig


def fusion_sweep(heads: pd.DataFrame, metrics: tuple[str, ...] = ("P@1", "PSP@5")) -> plt.Figure:
    """Each two-head model's test ``metrics`` against the fusion weight alpha (score = alpha * DE + (1 - alpha) *
    classifier: 0 is the classifier alone, 1 the DE alone); the reported alpha's point is circled."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, g in heads.sort_values("alpha").groupby("sampler", sort=False):
            ax.plot(g["alpha"], g[metric], marker="o", ms=3, label=name, **method_style(name))
            mid = g[g["headline"] & (g["head"] == "fused")]
            ax.plot(mid["alpha"], mid[metric], "o", ms=9, mfc="none", color=method_colour(name))
        ax.set(title=f"{metric} vs fusion weight", xlabel="alpha (weight of the DE score)", ylabel=f"{metric} (%)",
               xlim=(-0.03, 1.03))
    axes[0][0].legend(fontsize="small")
    fig.suptitle("Fusing the dual encoder and the classifier (test split; circled: the reported fuse_alpha)")
    fig.tight_layout()
    return fig
