"""Verdicts: what an LSH study run's tables say, one printed sentence each (the notebook's prose states what the
paper predicts; these say whether this run bears it out)."""
from __future__ import annotations

import math

import pandas as pd

# The least mean-rank gap between uniform and exact negatives (a fraction of the labels) that a sampler's "share of
# the way from uniform to exact" is read over: below it the model's softmax is still nearly flat, and the share of a
# gap of 0.01 swung from -427% to 1944% between runs (a barely trained race at 200 labels).
MIN_SPAN = 0.05


def adaptivity_verdict(last: pd.DataFrame, cap: int) -> list[str]:
    """Lines on the adaptivity rows of the last step, indexed by sampler (``mean_rank``, ``top50_share``, and for
    LSH samplers ``over_cap_share``, ``largest_bucket``): the samplers by mean rank; for each LSH sampler, how far
    it sits from uniform toward the exact softmax sampler (the paper predicts: closer to exact; where both rows
    are there) and its top-50 share against uniform's and log-uniform's (where there); and whether crowded
    buckets (over ``cap`` labels, within which the sampler draws at random) explain a shortfall (judged on the
    buckets each sampler's queries read, ``bucket_kept``, where given: the tables' share is over all buckets), against
    ``over_cap_share_iid`` where given (the same hash functions on i.i.d. random vectors: crowding within 5 points
    of it comes from the load, labels per bucket against ``cap``, not from the trained vectors); and, per LSH
    sampler that fell short whose buckets supplied under 90% of its negatives (``from_buckets``), how much is
    uniform padding; and, with ``table_age``, how many steps old the probed tables were."""
    lines = ["samplers by mean rank, hardest first: "
             + ", ".join(f"{s} {v:.3f}" for s, v in last["mean_rank"].sort_values().items())]
    lsh = [s for s in last.index if s.startswith("lsh")]
    ends = {"uniform", "exact"} <= set(last.index)
    u, e = (last.at["uniform", "mean_rank"], last.at["exact", "mean_rank"]) if ends else (0.0, 0.0)
    short = None  # whether an LSH sampler sits closer to uniform than to exact (None: no exact row to say)
    # share of the way from uniform to exact in mean rank, where both ends are measured and far enough apart
    gaps = {s: (u - last.at[s, "mean_rank"]) / (u - e) for s in lsh} if u - e >= MIN_SPAN else {}
    if ends and u - e < MIN_SPAN:
        lines.append(f"uniform and exact negatives differ by {u - e:.3f} in mean rank (under {MIN_SPAN}): the softmax "
                     "is still nearly flat, so no sampler's share of the way between them is read")
    for s in lsh:
        parts = []
        if s in gaps:
            gap = gaps[s]
            short = bool(short) or gap <= 0.5
            parts.append(f"{gap:.0%} of the way from uniform to exact in mean rank, so "
                         + ("closer to exact, as the paper predicts" if gap > 0.5
                            else "closer to uniform than the paper predicts"))
        share = last.at[s, "top50_share"]
        for base in ("uniform", "loguniform"):
            if base in last.index:
                b50 = last.at[base, "top50_share"]
                parts.append(f"top-50 share {share:.3f} {'above' if share > b50 else 'not above'} {base}'s {b50:.3f}")
        if parts:
            lines.append(f"{s}: " + "; ".join(parts))
    if lsh and "over_cap_share" in last:
        share, big = last.at[lsh[0], "over_cap_share"], last.at[lsh[0], "largest_bucket"]
        ref = float(last.at[lsh[0], "over_cap_share_iid"]) if "over_cap_share_iid" in last else float("nan")
        # what the cap cost the queries each sampler made (the tables' crowding is over all buckets, read or not)
        kept = {s: float(last.at[s, "bucket_kept"]) for s in lsh} if "bucket_kept" in last else {}
        kept = {s: k for s, k in kept.items() if k == k}  # NaN: not measured
        crowded = [s for s, k in kept.items() if k < 0.9]
        reading = ("tables are not crowded, so crowding does not explain the result" if share <= 0.25 else
                   "but the buckets the queries read are not, so crowding does not explain the result"
                   if kept and not crowded else
                   "within those the sampler draws at random: a reason LSH falls short" if short else
                   "crowded, yet LSH stayed closer to exact" if short is False else
                   "within those the sampler draws at random")
        if crowded and share > 0.25 and len(crowded) < len(kept):
            reading += f" (for {', '.join(crowded)})"
        reads = ("; the buckets the queries read kept " + ", ".join(f"{k:.0%} of their labels ({s})"
                                                                    for s, k in kept.items()) if kept else "")
        line = (f"crowding: {share:.0%} of labels sit in buckets holding more than cap={cap} labels (largest "
                f"bucket {big:.0f} labels){reads}; {reading}")
        if ref == ref and share > 0.25:
            line += (f". i.i.d. random vectors hashed alike: {ref:.0%} (largest "
                     f"{last.at[lsh[0], 'largest_bucket_iid']:.0f}), so "
                     + ("the load sets it, not the trained vectors: more bits per table (K) or a larger cap would "
                        "thin it, centring would not" if share <= ref + 0.05 else
                        "the trained vectors crowd beyond the load: centring (center) may thin it"))
        lines.append(line)
    age = float(last.at[lsh[0], "table_age"]) if lsh and "table_age" in last else float("nan")
    if age > 0:
        lines.append(f"tables probed: hashed {age:.0f} training steps before this probe (the weights moved since; "
                     "right after a rehash the same samplers would read fresher buckets)")
    for s in lsh:  # negatives the buckets did not supply are uniform: they pull any LSH sampler toward uniform
        fb = float(last.at[s, "from_buckets"]) if "from_buckets" in last else float("nan")
        if fb == fb and fb < 0.9 and gaps.get(s, 0.0) <= 0.5:  # fell short (unknown counts as short)
            union = (f" (the query's buckets held {last.at[s, 'union_mean']:.0f} labels on average)"
                     if "union_mean" in last else "")
            # mean rank mixes linearly: with its bucket draws as hard as exact's, the sampler would sit fb of the
            # way from uniform toward exact; padding alone explains sitting closer to uniform only for fb <= 1/2
            reached = f"; it reached {gaps[s]:.0%}" if s in gaps else ""
            lines.append(f"padding: {s} drew {fb:.0%} of its negatives from the query's buckets{union}; the other "
                         f"{1 - fb:.0%} are uniform padding, which by itself holds it to about {fb:.0%} of the way "
                         f"from uniform toward exact (were its bucket draws as hard as exact's{reached})"
                         + (": enough to keep it closer to uniform (another reason)" if fb <= 0.5 else
                            ": part of the shortfall, not all of it"))
    return lines


def adaptivity_trend(adapt: pd.DataFrame) -> list[str]:
    """One line per LSH sampler: how far it sat from uniform toward exact in mean rank at every probe step (the
    last step's verdict alone hides a sampler that came close mid-training and fell back, or the reverse; "n/a" at
    a step where uniform and exact are under :data:`MIN_SPAN` apart). Empty without both the uniform and exact
    rows, or with a single probe step."""
    if adapt["step"].nunique() < 2 or not {"uniform", "exact"} <= set(adapt["sampler"]):
        return []
    rank = adapt.pivot_table(index="step", columns="sampler", values="mean_rank", aggfunc="mean", dropna=False)
    rank = rank.reindex(columns=sorted(set(adapt["sampler"])))  # a sampler whose ranks are all NaN keeps a column
    span = rank["uniform"] - rank["exact"]
    lines = []
    for s in (c for c in rank.columns if c.startswith("lsh")):
        gap = ((rank["uniform"] - rank[s]) / span).where(span >= MIN_SPAN)
        steps = ", ".join(f"{step}: {g:.0%}" if g == g else f"{step}: n/a" for step, g in gap.items())
        lines.append(f"{s}, share of the way from uniform to exact in mean rank by probe step: {steps}")
    return lines


def tv_line(last: pd.DataFrame, num_labels: int) -> list[str]:
    """One line on the ``tv`` column of the adaptivity rows (indexed by sampler): it is the TV of an empirical
    distribution from ``draws_per_query`` draws over ``num_labels`` labels, so the exact drawer's value (it
    samples the softmax itself) is the noise floor; a drawer reads as closer to the softmax only by its distance
    above that floor. Empty without an exact row or the draws column."""
    if "exact" not in last.index or "draws_per_query" not in last:
        return []
    floor = float(last.at["exact", "tv"])
    others = ", ".join(f"{s} {v:.3f}" for s, v in last["tv"].drop("exact").sort_values().items())
    return [f"TV to the softmax is measured on empirical distributions ({last['draws_per_query'].median():.0f} "
            f"draws per query over {num_labels:,} labels): exact, which samples the softmax itself, reads "
            f"{floor:.3f}, the noise floor at this many draws; the others: {others or 'none'}"]


def untrained_lines(final: pd.DataFrame, time_budget_s: float) -> list[str]:
    """One line per method (``final`` indexed by method, with step, train_s and P@1) whose final P@1 is 0: a race
    too short for the data (a real data set at the CPU default budget) rather than a broken sampler, which the
    default synthetic run guards."""
    return [f"{m}: P@1 0 after {int(r['step'])} steps ({r['train_s']:.1f} s of training): too short a race to read on "
            f"this data; raise time_budget_s (now {time_budget_s:g} s; the real-data profiles train 30-60 s)"
            for m, r in final.iterrows() if r["P@1"] <= 0]


def _hit_window(g: pd.DataFrame, target: float) -> tuple[float, float]:
    """``(last second evaluated below target, first second at or above it)`` of ``g``'s P@1 (rows sorted by step;
    the first is 0 when the first evaluation already hits): the hit lies in that window, as wide as the
    evaluation spacing. ``(nan, nan)``: never reached."""
    hit = g["P@1"].to_numpy() >= target
    if not hit.any():
        return float("nan"), float("nan")
    i = int(hit.argmax())
    return (float(g["train_s"].iloc[i - 1]) if i else 0.0), float(g["train_s"].iloc[i])


def race_verdict(race: pd.DataFrame, num_labels: int, eval_points: int | None = None) -> list[str]:
    """Lines on the race rows (method, step, train_s, P@1): per method, when it first reached the full softmax's
    final P@1 against when the full softmax did (the issue's target: LSH sooner, at >= 10^6 labels; said whether
    this run is in that regime), each with the window between its last evaluation below the target and its first
    at it: where the two windows overlap, the evaluations cannot tell which got there first. For each method
    raced with and without the logQ correction (``m`` and ``m:nologq``), or with plain and centred hashing (``m`` and
    ``m:center``), both final P@1s (for the latter, with ``over_cap_share`` in the rows, both final crowdings).
    The time-to-target lines need a ``full`` method; the pair lines do not. The full softmax counts as still
    rising when its last evaluation gained more than two standard errors of P@1 on ``eval_points`` test points
    (binomial; without ``eval_points``, any gain)."""
    runs = {m: g.sort_values("step") for m, g in race.groupby("method")}
    return ((_time_to_full_lines(runs, num_labels, eval_points) if "full" in runs else [])
            + _pair_lines(runs, race, eval_points))


def _time_to_full_lines(runs: dict, num_labels: int, eval_points: int | None = None) -> list[str]:
    p1 = runs["full"]["P@1"]
    target = float(p1.iloc[-1])
    f0, f1 = _hit_window(runs["full"], target)
    # a full softmax still gaining at its last evaluation was stopped by the time budget: its final P@1 is where
    # the budget cut it, not what it converges to, and reaching that sooner is a weaker claim
    rise = target - float(p1.iloc[-2]) if len(p1) > 1 else float("nan")
    noise = 2 * _p1_se(target, eval_points) if eval_points else 0.0  # 2 SE, in P@1 points
    rising = (f"; still rising at its end (+{rise:.2f} over its last evaluation interval"
              + (f", above the {noise:.2f} of two standard errors on {eval_points} test points" if eval_points else "")
              + "), so this target is where the time budget stopped it, not a converged full softmax"
              if rise > noise else "")
    lines = [f"full softmax: final P@1 {target:.2f}, first reached at {f1:.1f} s of training (last evaluated below "
             f"it at {f0:.1f} s){rising}; "
             + ("the study's target (LSH reaches it sooner) is about >= 10^6 labels, this run has "
                f"{num_labels:,}" + ("" if num_labels >= 10**6 else ", so it cannot test it"))]
    for m, g in runs.items():
        if m == "full":
            continue
        t0, t1 = _hit_window(g, target)
        if t1 != t1:
            final = float(g["P@1"].iloc[-1])
            lines.append(f"{m}: never reached it in {g['train_s'].iloc[-1]:.1f} s (final P@1 {final:.2f})"
                         + _resolution(final, target, eval_points))
            continue
        order = ("not resolved: its window overlaps full's, so the evaluations cannot tell which got there first"
                 if t0 < f1 and f0 < t1 else "sooner than full" if t1 <= f0 else "later than full")
        lines.append(f"{m}: reached it at {t1:.1f} s (last below at {t0:.1f} s), {f1 / t1:.2f}x as soon as full; "
                     + order)
    return lines


def _p1_se(p1: float, eval_points: int) -> float:
    """The binomial standard error of a P@1 (percent) measured on ``eval_points`` test points, in P@1 points."""
    p = min(max(p1 / 100, 0.0), 1.0)
    return 100 * math.sqrt(p * (1 - p) / eval_points)


def _resolution(a: float, b: float, eval_points: int | None) -> str:
    """A clause for two final P@1s (percent) against two standard errors of their difference on ``eval_points``
    test points (binomial, each run's own): within them, one seed and a few hundred points cannot order the two;
    beyond them, they can. Empty without ``eval_points``."""
    if not eval_points:
        return ""
    se = math.hypot(_p1_se(a, eval_points), _p1_se(b, eval_points))  # of the difference
    within = abs(a - b) < 2 * se or a == b  # equal P@1s of 0 or 100 have no spread: still not ordered
    return (f" ({'within' if within else 'beyond'} two standard errors of the difference, {2 * se:.2f} on "
            f"{eval_points} test points: {'not resolved' if within else 'resolved'})")


def _pair_lines(runs: dict, race: pd.DataFrame, eval_points: int | None = None) -> list[str]:
    lines = []
    for m in runs:
        if f"{m}:nologq" in runs:
            on, off = runs[m]["P@1"].iloc[-1], runs[f"{m}:nologq"]["P@1"].iloc[-1]
            lines.append(f"logQ correction, {m}: final P@1 {on:.2f} with it, {off:.2f} without"
                         + _resolution(on, off, eval_points))
        if f"{m}:center" in runs:
            plain, centred = runs[m].iloc[-1], runs[f"{m}:center"].iloc[-1]
            crowd = (f"; labels in over-cap buckets {centred['over_cap_share']:.0%} centred, "
                     f"{plain['over_cap_share']:.0%} plain" if "over_cap_share" in race else "")
            lines.append(f"centred hashing, {m}: final P@1 {centred['P@1']:.2f} centred, {plain['P@1']:.2f} plain"
                         + _resolution(centred["P@1"], plain["P@1"], eval_points) + crowd)
    return lines
