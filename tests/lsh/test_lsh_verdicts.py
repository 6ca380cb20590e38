"""The LSH study's printed verdicts on a hand-made adaptivity table. Does not prove the prose around them reads
right."""
import pandas as pd

from workbench.lsh.verdicts import adaptivity_verdict, race_verdict, tv_line, untrained_lines


def _last(lsh_rank, over_cap):
    return pd.DataFrame({"mean_rank": [0.05, 0.2, lsh_rank, 0.5], "top50_share": [0.9, 0.2, 0.1, 0.05],
                         "over_cap_share": [None, None, over_cap, None], "largest_bucket": [None, None, 784, None]},
                        index=pd.Index(["exact", "loguniform", "lsh-embedding", "uniform"], name="sampler"))


def test_lsh_closer_to_uniform_with_crowded_buckets():
    lines = adaptivity_verdict(_last(0.35, 0.75), cap=32)
    assert lines[0].startswith("samplers by mean rank, hardest first: exact 0.050, loguniform 0.200")
    # (0.5 - 0.35) / (0.5 - 0.05) = 33% of the way
    assert "lsh-embedding: 33% of the way" in lines[1] and "closer to uniform than the paper predicts" in lines[1]
    assert "top-50 share 0.100 above uniform's 0.050; top-50 share 0.100 not above loguniform's 0.200" in lines[1]
    assert "75% of labels" in lines[2] and "cap=32" in lines[2] and "a reason LSH falls short" in lines[2]


def test_lsh_closer_to_exact_and_uncrowded():
    lines = adaptivity_verdict(_last(0.1, 0.1), cap=32)
    assert "89% of the way" in lines[1] and "closer to exact, as the paper predicts" in lines[1]
    assert "not crowded" in lines[2]


def test_crowding_read_against_iid_vectors_hashed_alike():
    last = _last(0.35, 0.60).assign(over_cap_share_iid=[None, None, 0.58, None],
                                     largest_bucket_iid=[None, None, 630, None])
    line = adaptivity_verdict(last, cap=128)[2]
    assert "i.i.d. random vectors hashed alike: 58% (largest 630)" in line and "the load sets it" in line
    line = adaptivity_verdict(last.assign(over_cap_share=[None, None, 0.9, None]), cap=128)[2]
    assert "the trained vectors crowd beyond the load" in line
    assert "i.i.d." not in adaptivity_verdict(_last(0.35, 0.1).assign(over_cap_share_iid=0.05), cap=128)[2]


def test_without_an_exact_row_the_top50_lines_remain():
    lines = adaptivity_verdict(_last(0.35, 0.75).drop(index="exact"), cap=32)
    assert lines[1] == ("lsh-embedding: top-50 share 0.100 above uniform's 0.050; top-50 share 0.100 not above "
                        "loguniform's 0.200")
    assert "within those the sampler draws at random" in lines[2] and "likely reason" not in lines[2]


def test_race_verdict_times_to_full_softmax_final_p1_and_logq_pairs():
    race = pd.DataFrame({
        "method": ["full"] * 3 + ["lsh-embedding"] * 3 + ["lsh-embedding:nologq"] * 2 + ["uniform"] * 2,
        "step": [10, 20, 30, 10, 20, 30, 10, 20, 10, 20],
        "train_s": [4.0, 8.0, 12.0, 1.0, 2.0, 3.0, 1.0, 2.0, 1.0, 2.0],
        "P@1": [10.0, 20.0, 19.0, 5.0, 19.5, 25.0, 4.0, 6.0, 1.0, 2.0]})
    lines = race_verdict(race, num_labels=10**6)
    # full's final P@1 is 19.0, first reached at 8 s (its 20.0 at step 20); LSH first >= 19 at 2 s: 4x as soon
    assert lines[0].startswith("full softmax: final P@1 19.00, first reached at 8.0 s of training (last evaluated "
                               "below it at 4.0 s)") and "cannot" not in lines[0]
    assert ("lsh-embedding: reached it at 2.0 s (last below at 1.0 s), 4.00x as soon as full; sooner than full"
            in lines)
    assert "uniform: never reached it in 2.0 s (final P@1 2.00)" in lines
    assert "logQ correction, lsh-embedding: final P@1 25.00 with it, 6.00 without" in lines
    assert "cannot test it" in race_verdict(race, num_labels=2000)[0]
    assert "still rising" not in lines[0]   # 20.0 then 19.0: levelled off
    # full still gaining at its end (17 -> 19 over its last interval): the target is where the budget stopped it
    rising = race.assign(**{"P@1": [10.0, 17.0, 19.0, 5.0, 19.5, 25.0, 4.0, 6.0, 1.0, 2.0]})
    assert ("(last evaluated below it at 8.0 s); still rising at its end (+2.00 over its last evaluation "
            "interval), so this target is where the time budget stopped it, not a converged full softmax; "
            in race_verdict(rising, num_labels=10**6)[0])
    # on 2000 test points two standard errors of P@1 near 19% are 1.75 points: +2.00 is a rise, +0.50 is noise
    assert "still rising at its end (+2.00 over its last evaluation interval, above the 1.75 of two standard " \
           "errors on 2000 test points)" in race_verdict(rising, 10**6, eval_points=2000)[0]
    noisy = race.assign(**{"P@1": [10.0, 18.5, 19.0, 5.0, 19.5, 25.0, 4.0, 6.0, 1.0, 2.0]})
    assert "still rising" not in race_verdict(noisy, 10**6, eval_points=2000)[0]
    assert "still rising" in race_verdict(noisy, 10**6)[0]   # without the count, any gain
    assert race_verdict(race[race.method != "full"], 10**6) == [   # the pair's line alone
        "logQ correction, lsh-embedding: final P@1 25.00 with it, 6.00 without"]


def test_race_verdict_pairs_plain_and_centred_hashing():
    race = pd.DataFrame({"method": ["full", "lsh-label", "lsh-label:center"], "step": [10, 10, 10],
                         "train_s": [4.0, 2.0, 2.0], "P@1": [10.0, 12.0, 15.5]})
    assert "centred hashing, lsh-label: final P@1 15.50 centred, 12.00 plain" in race_verdict(race, 10**6)
    crowded = race.assign(over_cap_share=[float("nan"), 0.9, 0.06])
    assert ("centred hashing, lsh-label: final P@1 15.50 centred, 12.00 plain; labels in over-cap buckets 6% "
            "centred, 90% plain") in race_verdict(crowded, 10**6)


def test_tv_line_names_the_exact_drawers_value_as_the_noise_floor():
    last = pd.DataFrame({"tv": [0.77, 0.975, 0.896], "draws_per_query": [256.0] * 3},
                        index=["exact", "uniform", "lsh-embedding"])
    (line,) = tv_line(last, num_labels=36929)
    assert "256 draws per query over 36,929 labels" in line and "reads 0.770, the noise floor" in line
    assert line.endswith("the others: lsh-embedding 0.896, uniform 0.975")
    assert tv_line(last.drop(index="exact"), 36929) == [] and tv_line(last[["tv"]], 36929) == []


def test_race_verdict_says_when_the_evaluations_cannot_order_the_hits():
    # full hits its final 6.0 at its last evaluation (window 50-60 s); uniform's first >= 6 is at 60.3 s after a
    # miss at 53 s: the windows overlap, so "1.00x as soon" means nothing and the line says so
    race = pd.DataFrame({"method": ["full"] * 3 + ["uniform"] * 3, "step": [1, 2, 3] * 2,
                         "train_s": [20.0, 50.0, 60.0, 20.0, 53.0, 60.3], "P@1": [2.0, 5.0, 6.0, 3.0, 5.3, 6.1]})
    lines = race_verdict(race, num_labels=37000)
    assert lines[1].startswith("uniform: reached it at 60.3 s (last below at 53.0 s)")
    assert lines[1].endswith("not resolved: its window overlaps full's, so the evaluations cannot tell which got "
                             "there first")



def test_adaptivity_trend_reads_every_probe_step():
    """lsh-embedding comes 75% of the way to exact at step 40 and falls back to 25% by 65: the trend line shows both
    (the last step's verdict alone read "closer to uniform"). Does not prove: why it falls back."""
    from workbench.lsh.verdicts import adaptivity_trend
    ranks = {10: (0.5, 0.1, 0.6), 40: (0.5, 0.1, 0.2), 65: (0.5, 0.1, 0.4)}  # uniform, exact, lsh-embedding
    adapt = pd.DataFrame([{"step": step, "sampler": s, "mean_rank": r} for step, rs in ranks.items()
                          for s, r in zip(("uniform", "exact", "lsh-embedding"), rs)])
    assert adaptivity_trend(adapt) == ["lsh-embedding, share of the way from uniform to exact in mean rank by probe "
                                       "step: 10: -25%, 40: 75%, 65: 25%"]
    assert adaptivity_trend(adapt[adapt.step == 65]) == [] and adaptivity_trend(adapt[adapt.sampler != "exact"]) == []


def test_adaptivity_trend_with_nan_ranks_says_n_a():
    """Ranks that are NaN (uniform's at every step, or one LSH sampler's) read n/a, not a KeyError or a missing
    line."""
    from workbench.lsh.verdicts import adaptivity_trend
    adapt = pd.DataFrame([{"step": step, "sampler": s, "mean_rank": r} for step in (10, 20)
                          for s, r in (("uniform", float("nan")), ("exact", 0.1), ("lsh-embedding", 0.3),
                                       ("lsh-label", float("nan")))])
    lines = adaptivity_trend(adapt)
    assert lines == [f"{s}, share of the way from uniform to exact in mean rank by probe step: 10: n/a, 20: n/a"
                     for s in ("lsh-embedding", "lsh-label")]


def test_padding_line_says_how_much_of_an_lsh_sampler_is_uniform():
    """41% of lsh-embedding's negatives from its buckets (a CPU run): the other 59% are uniform padding, a reason
    beside crowding; a sampler whose buckets supply 95% gets no line."""
    last = _last(0.35, 0.75).assign(from_buckets=[None, None, 0.41, None], union_mean=[None, None, 26.0, None])
    lines = adaptivity_verdict(last, cap=32)
    assert lines[-1] == ("padding: lsh-embedding drew 41% of its negatives from the query's buckets (the query's "
                         "buckets held 26 labels on average); the other 59% are uniform padding, which by itself "
                         "holds it to about 41% of the way from uniform toward exact (were its bucket draws as hard "
                         "as exact's; it reached 33%): enough to keep it closer to uniform (another reason)")
    # 85% from its buckets but 33% of the way: padding would still allow 85%, so it explains part of it only
    part = adaptivity_verdict(last.assign(from_buckets=[None, None, 0.85, None]), cap=32)[-1]
    assert part.endswith("about 85% of the way from uniform toward exact (were its bucket draws as hard as exact's; "
                         "it reached 33%): part of the shortfall, not all of it")
    full = adaptivity_verdict(last.assign(from_buckets=[None, None, 0.95, None]), cap=32)
    assert not any(x.startswith("padding") for x in full)


def test_no_padding_line_for_an_lsh_sampler_that_did_not_fall_short():
    """85% from buckets and 89% of the way to exact: the padding is no reason for a shortfall there is not."""
    last = _last(0.1, 0.1).assign(from_buckets=[None, None, 0.85, None], union_mean=[None, None, 60.0, None])
    assert not any(x.startswith("padding") for x in adaptivity_verdict(last, cap=32))


def test_pair_lines_without_a_full_softmax_in_the_race():
    """A race of lsh-embedding with and without logQ only: no time-to-full lines, but the pair's line is there
    (it used to vanish with the rest, though the notebook's prose promises it)."""
    race = pd.DataFrame({"method": ["lsh-embedding"] * 2 + ["lsh-embedding:nologq"] * 2, "step": [1, 2, 1, 2],
                         "train_s": [0.1, 0.2, 0.1, 0.2], "P@1": [1.0, 3.0, 1.0, 2.0]})
    assert race_verdict(race, num_labels=200) == ["logQ correction, lsh-embedding: final P@1 3.00 with it, 2.00 "
                                                  "without"]


def test_no_share_of_the_way_over_a_nearly_flat_softmax():
    """Uniform 0.50 and exact 0.49 in mean rank (a barely trained model): a share of that 0.01 gap is noise
    (-427% and 1944% were printed), so none is read, and the line says why; the trend says n/a at such steps."""
    from workbench.lsh.verdicts import adaptivity_trend
    last = _last(0.45, 0.1).assign(mean_rank=[0.49, 0.5, 0.45, 0.5])
    lines = adaptivity_verdict(last, cap=32)
    assert not any("% of the way" in line for line in lines)
    assert any("differ by 0.010 in mean rank" in line and "nearly flat" in line for line in lines)
    adapt = pd.DataFrame({"step": [1, 1, 1, 2, 2, 2], "sampler": ["uniform", "exact", "lsh-embedding"] * 2,
                          "mean_rank": [0.5, 0.49, 0.45, 0.5, 0.1, 0.3]})
    assert adaptivity_trend(adapt) == ["lsh-embedding, share of the way from uniform to exact in mean rank by probe "
                                       "step: 1: n/a, 2: 50%"]


def test_padding_line_without_an_exact_row_counts_the_unknown_as_short():
    """No exact row: how far lsh-embedding sits toward exact is unknown, so with 41% of its negatives from its
    buckets the padding line still appears (an unknown gap counts as short, not as closer to exact)."""
    last = _last(0.35, 0.75).assign(from_buckets=[None, None, 0.41, None], union_mean=[None, None, 26.0, None])
    lines = adaptivity_verdict(last.drop(index="exact"), cap=32)
    assert lines[-1].startswith("padding: lsh-embedding drew 41% of its negatives from the query's buckets")


def test_adaptivity_trend_averages_repeated_rows_of_a_step():
    """Two probes of lsh-embedding at one step (ranks 0.2 and 0.4): their mean 0.3 reads 50% of the way from
    uniform (0.5) to exact (0.1); their max (0.4) would read 25%."""
    from workbench.lsh.verdicts import adaptivity_trend
    adapt = pd.DataFrame([{"step": step, "sampler": s, "mean_rank": r} for step in (10, 20)
                          for s, r in (("uniform", 0.5), ("exact", 0.1), ("lsh-embedding", 0.2),
                                       ("lsh-embedding", 0.4))])
    assert adaptivity_trend(adapt) == ["lsh-embedding, share of the way from uniform to exact in mean rank by probe "
                                       "step: 10: 50%, 20: 50%"]


def test_race_verdict_reads_final_rows_by_step_whatever_the_row_order():
    """The race rows shuffled: 'final' is each method's highest step (full 19.0 at step 30), not its last row."""
    race = pd.DataFrame({"method": ["full"] * 3 + ["lsh-embedding"] * 2 + ["lsh-embedding:nologq"] * 2,
                         "step": [30, 10, 20, 20, 10, 20, 10], "train_s": [12.0, 4.0, 8.0, 2.0, 1.0, 2.0, 1.0],
                         "P@1": [19.0, 10.0, 20.0, 25.0, 5.0, 6.0, 4.0]})
    lines = race_verdict(race, num_labels=10**6)
    assert lines[0].startswith("full softmax: final P@1 19.00, first reached at 8.0 s")
    assert "logQ correction, lsh-embedding: final P@1 25.00 with it, 6.00 without" in lines


def test_adaptivity_verdict_says_how_old_the_probed_tables_were():
    """Tables hashed 10 steps before the probe (eval_every a multiple of rehash_every: the oldest of the cycle)
    get a line; tables hashed at the probe (age 0) or no age column get none."""
    last = _last(0.35, 0.75)
    lines = adaptivity_verdict(last.assign(table_age=[None, None, 10.0, None]), cap=32)
    assert "tables probed: hashed 10 training steps before this probe (the weights moved since; right after a " \
           "rehash the same samplers would read fresher buckets)" in lines
    for quiet in (last.assign(table_age=[None, None, 0.0, None]), last):
        assert not any(x.startswith("tables probed") for x in adaptivity_verdict(quiet, cap=32))


def test_crowding_reads_the_buckets_each_sampler_queried():
    """75% of labels sit in over-cap buckets, but the buckets lsh-embedding's queries read kept 100% of their
    labels: crowding does not explain its result. With lsh-label's queries in crowded buckets (14% kept), the cap
    is named as a reason for lsh-label only."""
    last = _last(0.35, 0.75).assign(bucket_kept=[None, None, 1.0, None])
    line = next(x for x in adaptivity_verdict(last, cap=32) if x.startswith("crowding"))
    assert ("(largest bucket 784 labels); the buckets the queries read kept 100% of their labels (lsh-embedding); "
            "but the buckets the queries read are not, so crowding does not explain the result") in line
    two = pd.concat([last, last.loc[["lsh-embedding"]].rename(index={"lsh-embedding": "lsh-label"})
                     .assign(bucket_kept=0.14)])
    line = next(x for x in adaptivity_verdict(two, cap=32) if x.startswith("crowding"))
    assert "kept 100% of their labels (lsh-embedding), 14% of their labels (lsh-label)" in line
    assert line.endswith("within those the sampler draws at random: a reason LSH falls short (for lsh-label)")


def test_untrained_lines_name_only_the_methods_at_zero():
    final = pd.DataFrame({"step": [14, 52], "train_s": [1.52, 1.5], "P@1": [1.75, 0.0]},
                         index=pd.Index(["full", "lsh-label"], name="method"))
    lines = untrained_lines(final, 1.5)
    assert len(lines) == 1 and lines[0].startswith("lsh-label: P@1 0 after 52 steps (1.5 s")
    assert "time_budget_s (now 1.5 s" in lines[0]
    assert untrained_lines(final.iloc[:1], 1.5) == []


def test_pair_and_never_reached_lines_say_when_a_gap_is_within_the_noise():
    """400 test points: P@1 50.5 against 54.25 differ by 3.75, under the 7.06 of two standard errors of the
    difference (sqrt(.505*.495/400 + .5425*.4575/400) = 3.53 points): not resolved. 25 against 6 is resolved, and
    says so."""
    race = pd.DataFrame({"method": ["full", "lsh-embedding", "lsh-embedding:nologq", "lsh-label"],
                         "step": [10] * 4, "train_s": [1.0] * 4, "P@1": [59.0, 50.5, 54.25, 57.5]})
    lines = race_verdict(race, num_labels=200, eval_points=400)
    assert ("logQ correction, lsh-embedding: final P@1 50.50 with it, 54.25 without (within two standard errors of "
            "the difference, 7.06 on 400 test points: not resolved)") in lines
    assert any(x.startswith("lsh-label: never reached it in 1.0 s (final P@1 57.50) (within two") for x in lines)
    apart = race.assign(**{"P@1": [59.0, 25.0, 6.0, 57.5]})
    # two standard errors: 2 sqrt(.25 * .75 / 400 + .06 * .94 / 400) = 4.94 points, below the gap of 19
    assert ("logQ correction, lsh-embedding: final P@1 25.00 with it, 6.00 without (beyond two standard errors of "
            "the difference, 4.94 on 400 test points: resolved)") in race_verdict(apart, 200, 400)
    # both at 0 (a tiny run): no spread, but no order either
    zero = race.assign(**{"P@1": [59.0, 0.0, 0.0, 57.5]})
    assert ("logQ correction, lsh-embedding: final P@1 0.00 with it, 0.00 without (within two standard errors of "
            "the difference, 0.00 on 400 test points: not resolved)") in race_verdict(zero, 200, 400)


def test_race_verdict_a_hit_at_fulls_last_miss_is_sooner():
    """full: P@1 10, 20, 19 at 4, 8, 12 s: target 19 (its final), reached in the window (4, 8]. LSH: 5 then 25 at 1,
    4 s: window (1, 4]. It hit by 4 s, when full was still below, so it was sooner (the windows touch, do not
    overlap); 8 / 4 = 2.00x."""
    race = pd.DataFrame({"method": ["full"] * 3 + ["lsh-embedding"] * 2, "step": [10, 20, 30, 10, 20],
                         "train_s": [4.0, 8.0, 12.0, 1.0, 4.0], "P@1": [10.0, 20.0, 19.0, 5.0, 25.0]})
    assert ("lsh-embedding: reached it at 4.0 s (last below at 1.0 s), 2.00x as soon as full; sooner than full"
            in race_verdict(race, num_labels=10**6))


def test_the_centred_pair_says_whether_its_gap_is_within_the_noise():
    """400 test points: 15.5 centred against 12.0 plain differ by 3.5, under two standard errors of the difference,
    2 sqrt(.155 * .845 / 400 + .12 * .88 / 400) = 4.86 points: not resolved; the crowding clause follows."""
    race = pd.DataFrame({"method": ["full", "lsh-label", "lsh-label:center"], "step": [10, 10, 10],
                         "train_s": [4.0, 2.0, 2.0], "P@1": [10.0, 12.0, 15.5], "over_cap_share": [0.0, 0.9, 0.06]})
    assert ("centred hashing, lsh-label: final P@1 15.50 centred, 12.00 plain (within two standard errors of the "
            "difference, 4.86 on 400 test points: not resolved); labels in over-cap buckets 6% centred, 90% plain"
            ) in race_verdict(race, 10**6, 400)
