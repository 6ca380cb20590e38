"""Verdicts: what a negative-mining run's tables say, one printed sentence each (the notebook's prose states what
the papers predict; these say whether this run bears it out, and what it cannot test)."""
from __future__ import annotations

import pandas as pd


def throughput_verdict(throughput: pd.DataFrame, batch_size: int) -> list[str]:
    """Lines on :func:`tables.throughput_table`: which samplers train faster than the bare encoder (ratio > 1)
    and whether they do so at a like-for-like size (at most 2.5 x ``batch_size`` sequences per step: the queries
    and about one label each), or only by encoding bigger batches than the bare reference's ``batch_size``."""
    t = throughput.set_index("sampler")
    near = t.index[t["seqs per step"] <= 2.5 * batch_size]
    above = t.index[t["ratio"] > 1]
    lines = [f"ratio above 1: {len(above)} of {len(t)} samplers" + "".join(
        f"{', ' if i else ': '}{s} {t.at[s, 'ratio']:.2f} at {t.at[s, 'seqs per step']:,.0f} sequences per step"
        for i, s in enumerate(above)),
        f"bare reference: {batch_size} sequences per call; like for like (<= {2.5 * batch_size:.0f} sequences per "
        "step): " + (", ".join(f"{s} {t.at[s, 'ratio']:.2f}" for s in near) or "none in this run")]
    if len(above) and not set(above) & set(near):
        lines.append("every ratio above 1 belongs to a sampler encoding several bare batches per step: bigger "
                     "encoder calls, not a loop faster than the encoder")
    elif set(above) & set(near):
        lines.append(f"above 1 at a like-for-like size: {', '.join(sorted(set(above) & set(near)))}; the bare "
                     "reference is timed once, apart from the training runs, so on a busy host ratios near 1 are "
                     "within noise")
    return lines


def unidec_verdict(common: pd.DataFrame, labels: int, n_train: int, cuda: bool) -> str:
    """One line on :func:`tables.time_to_common_best` for ``full`` and ``unidec`` (indexed by sampler): UniDEC's
    speedup over full at the best P@1 both reach, and whether this run can test the claim (4-16x less cost on
    large label spaces on a GPU): not on a subsample (``n_train`` > 0) or without CUDA."""
    small = [why for why, yes in ((f"a {n_train:,}-point subsample", n_train > 0), ("no GPU", not cuda)) if yes]
    u = common.loc["unidec"]
    return (f"unidec reached P@1 {u['target P@1']:.2f} {u['x faster than full']:.2f}x as fast as full "
            f"({labels:,} labels, {'CUDA' if cuda else 'CPU'}). The issue's claim, 4-16x less cost than full, is "
            "about large label spaces on a GPU, where full's per-step cost grows with the label count; "
            + (f"this run cannot test it ({' and '.join(small)}): read the ratio as a check of the machinery"
               if small else "this run is at the study's scale, so the ratio tests it")
            + ("" if common["peak_mem_mb"].notna().any() else "; memory ratios need CUDA (not shown)"))
