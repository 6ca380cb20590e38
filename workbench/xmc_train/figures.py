"""Figures of the negative-mining study: functions of tidy tables that return a titled matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

from ..report import log_y_if_wide
from .train_config import TIMERS

PHASES = TIMERS  # the trainer's timed phases
# one colour per method in every figure of the study (the seaborn colorblind hues first; peers in greys); lsh crimson
# and ance dark brown, not the palette's vermillion and tan: beside uniform's orange the three looked alike
COLOURS = {"full": "#0173b2", "uniform": "#de8f05", "log_uniform": "#029e73", "lsh": "#c0162c", "in_batch": "#cc78bc",
           "ance": "#6f4e37", "ngame": "#7b3294", "unidec": "#56b4e9", "most popular": "0.6", "parabel": "0.2"}
# and one marker per sampler, so that colour is not the only cue (stages and variants take their sampler's, hollow)
MARKERS = {"full": "o", "uniform": "s", "log_uniform": "v", "lsh": "D", "in_batch": "^", "ance": "P", "ngame": "X",
           "unidec": "*"}
SPARE_MARKERS = ("h", "p", "d", "<", ">", "8")  # other names, chosen by their letters as their colours
SPARE = ("#8c6d31", "#637939", "#843c39", "#393b79", "#a55194", "#17becf")  # other names, chosen by their letters
# time-split phases: a categorical palette (ColorBrewer's pastel Set2) unlike the saturated method hues; five greys
# with hatches looked alike
PHASE_COLOURS = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854")


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


def method_marker(name: str) -> dict:
    """Marker of a sampler's line: its own shape, hollow for a stage or variant (drawn dashed)."""
    derived = " " in name and name.lower() not in COLOURS
    base = _base(name)
    marker = MARKERS.get(base) or SPARE_MARKERS[sum(map(ord, base)) % len(SPARE_MARKERS)]
    return {"marker": marker} | ({"mfc": "white"} if derived else {})


def _y_range(values: pd.Series, peers: pd.Series) -> tuple[float, float]:
    """The samplers' own range with a margin: a peer far below (most popular at 0.5%) must not squeeze them. Each
    peer outside it adds a band at that edge for its note (so the note covers no curve)."""
    lo, hi = float(values.min()), float(values.max())
    span = max(hi - lo, 1.0)
    lo, hi = lo - 0.06 * span, hi + 0.06 * span
    below, above = int((peers < lo).sum()), int((peers > hi).sum())
    return lo - 0.09 * span * below, hi + 0.09 * span * above


def _peer_lines(ax, peers: pd.DataFrame | None, metric: str, ylim: tuple[float, float]) -> None:
    """Peers as dotted grey horizontal lines, one grey each (dashed lines are stages and variants of a sampler);
    a peer outside ``ylim`` is an arrow and its value at that edge of the axes instead of a line that would
    stretch the axis."""
    if peers is None or metric not in peers:
        return
    stacked = {"below": 0, "above": 0}  # notes already at each edge: the next one sits further in
    for _, r in peers.dropna(subset=[metric]).iterrows():
        v, colour, name = r[metric], method_colour(r["method"]), f"{r['method']} (peer)"
        if ylim[0] <= v <= ylim[1]:
            ax.axhline(v, ls=":", lw=1.6, color=colour, label=name)
            continue
        side = "below" if v < ylim[0] else "above"
        edge, sign, arrow = (0.0, 1, "\u2193") if side == "below" else (1.0, -1, "\u2191")
        ax.annotate(f"{arrow} {name}: {v:.3g}%, {side} the axis", xy=(0.99, edge), xycoords="axes fraction",
                    xytext=(0, sign * (4 + 14 * stacked[side])), textcoords="offset points", ha="right",
                    va="bottom" if side == "below" else "top", fontsize="small", color=colour, fontweight="bold")
        stacked[side] += 1


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
        style = method_style(name)  # stages on top: ngame M-IV's short dashed line hid under ngame's
        ax.plot(g[x], g[metric], ms=5, label=label, zorder=3 if style["ls"] == "--" else 2, **method_marker(name),
                **style)
    peer_values = peers[metric].dropna() if peers is not None and metric in peers else pd.Series(dtype=float)
    ylim = _y_range(evals[metric], peer_values) if len(evals) else (0.0, 100.0)
    ax.set_ylim(*ylim)
    _peer_lines(ax, peers, metric, ylim)
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
    sizes = sorted(mem["batch_size"].unique())  # few sizes: ticks at the measured ones, as plain numbers, not 2^k
    ax.set_xticks(sizes, [f"{b:g}" for b in sizes])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.margins(x=0.08, y=0.1)  # the top markers (full's) were cut in half by the frame
    log_y_if_wide(ax, mem[col])  # one sampler (full) far above the others would flatten them
    ylabel = "peak GPU memory (MiB)" if gpu else "tokens encoded with grad per step"
    ax.set(title="Peak GPU memory vs batch size" if gpu else "Memory proxy vs batch size (CPU: no GPU memory)",
           xlabel="batch size (queries)", ylabel=ylabel)
    ax.legend(fontsize="small", title="sampler", title_fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _stacked_bars(ax, table: pd.DataFrame) -> None:
    """One horizontal bar per row of ``table``, its columns (the phases) stacked in the phase colours."""
    left = np.zeros(len(table))
    for ph, colour in zip(PHASES, PHASE_COLOURS):
        ax.barh(table.index, table[ph], left=left, color=colour, edgecolor="white", label=ph.removesuffix("_s"))
        left += table[ph].to_numpy()


def time_split(train_rows: pd.DataFrame) -> plt.Figure:
    """Seconds per step spent sampling / refreshing / encoding / in the loss / in backward+update, per sampler
    (left), and each phase's share of the step (right: ``full``'s long bar squeezes the others' on the left)."""
    g = train_rows.groupby("sampler", sort=False)
    per_step = g[list(PHASES)].sum().div(g["steps"].sum(), axis=0)
    fig, (ax, share_ax) = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    _stacked_bars(ax, per_step)
    _stacked_bars(share_ax, 100 * per_step.div(per_step.sum(axis=1).replace(0, np.nan), axis=0).fillna(0))
    ax.set(title="Time split per training step", xlabel="seconds per step (mean)", ylabel="sampler")
    share_ax.set(title="Share of the step per phase", xlabel="share of step time (%)", xlim=(0, 100))
    share_ax.legend(fontsize="small", title="phase", title_fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
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
    if len(rows) and rows["cluster_size"].max() > 4 * max(rows["cluster_size"].min(), 1):  # doublings to show
        ax.set_yscale("log", base=2)
    else:  # a linear axis: log2 ticks at 2^0 and 2^1 alone read as a broken axis
        ax.yaxis.get_major_locator().set_params(integer=True)
    if len(rows) <= 2:
        ax.text(0.02, 0.95, f"only {len(rows)} epoch(s): too few to show the schedule's growth", fontsize="small",
                transform=ax.transAxes, va="top", bbox={"fc": "white", "ec": "0.7", "alpha": 0.9})
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
