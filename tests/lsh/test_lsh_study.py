"""The study's parts on tiny problems: baseline drawers' log_q vs their empirical frequencies, adaptivity
metrics ordering (exact > uniform), a short race, the config and the notebook's parameters. Does not prove:
anything about timing or about accuracy at scale."""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from workbench.config import ConfigError, from_dict
from workbench.lsh.adaptivity import adaptivity_rows
from workbench.lsh.bench import bench_sizes, flatness, flatness_timing
from workbench.lsh.bowdata import load_bow, padded_positives
from workbench.lsh.drawers import DRAWERS
from workbench.lsh.params import LSHParams, build_index
from workbench.lsh.race import Method, parse_method, train_one
from workbench.lsh.study import LSHStudyConfig
from workbench.notebooks import parameters
from workbench.report import repo_root


@pytest.mark.parametrize("name", ["uniform", "loguniform", "loguniform-ordered", "exact"])
def test_baseline_log_q_is_expected_count(name):
    N, budget, R = 30, 8, 3000
    g = torch.Generator().manual_seed(0)
    W = torch.randn(N, 4, generator=g)
    q = torch.randn(1, 4, generator=g)
    pos = torch.tensor([[3, -1]])
    order = torch.randperm(N, generator=g) if name == "loguniform-ordered" else None
    draw = DRAWERS.get(name.removesuffix("-ordered"))(N, budget, label_order=order)
    counts = torch.zeros(N)
    # every label drawn in any draw gets its expected count (the query is fixed, so it must be the same each
    # time it is drawn); keeping only the last draw's labels would leave most labels unchecked
    expected = torch.full((N,), float("nan"))
    for _ in range(R):
        neg = draw(q, pos, W, g)
        counts.index_add_(0, neg.ids[0], torch.ones(budget))
        ids, val = neg.ids[0], neg.log_q[0].exp()
        known = ~torch.isnan(expected[ids])
        assert torch.allclose(expected[ids][known], val[known]), "a label's log_q changed between draws"
        expected[ids] = val
    emp = counts / R
    seen = ~torch.isnan(expected)
    assert torch.equal(seen, counts > 0)
    # a label's count over R draws has variance <= R * expected, so 5 standard errors of the per-draw mean
    # (+1e-3 slack for labels expected less than once in R draws)
    assert ((emp[seen] - expected[seen]).abs() <= 5 * (expected[seen] / R).sqrt() + 1e-3).all()
    if name == "exact":
        assert counts[3] == 0                      # the positive has probability 0
    if name == "uniform":  # the sampling check alone allows ~20% error in log_q at R = 3000
        assert seen.all() and torch.allclose(expected, torch.full((N,), budget / N))
    if name.startswith("loguniform"):
        # Zipf over ranks, rank r is label order[r]: expected count budget * log((r+2)/(r+1)) / log(N+1)
        rank_of = torch.arange(N) if order is None else torch.empty(N, dtype=torch.long).scatter_(
            0, order, torch.arange(N))
        zipf = budget * torch.log((rank_of + 2.0) / (rank_of + 1.0)) / np.log(N + 1)
        assert seen.all() and torch.allclose(expected, zipf.float(), rtol=1e-5)
        assert int(counts.argmax()) == (0 if order is None else int(order[0]))


def test_bow_label_order_is_by_decreasing_training_frequency():
    """Ties keep id order (stable). Not proven: anything about the test split (only Y_train counts)."""
    from workbench.lsh.bowdata import BowData
    # label frequencies over 4 training points: [1, 3, 0, 2, 3]
    Y = sp.csr_matrix(np.array([[0, 1, 0, 1, 1], [1, 1, 0, 0, 1], [0, 1, 0, 1, 1], [0, 0, 0, 0, 0]], np.float32))
    X = sp.csr_matrix(np.eye(4, 3, dtype=np.float32))
    data = BowData("hand", X, Y, X[:1], Y[:1])
    assert data.label_order().tolist() == [1, 4, 3, 0, 2]
    syn = load_bow("synthetic", num_labels=40, num_points=200, num_features=30, words_per_point=4)
    order = syn.label_order()
    freq = np.asarray((syn.Y_train > 0).sum(axis=0)).ravel()
    assert sorted(order.tolist()) == list(range(40)) and (np.diff(freq[order.numpy()]) <= 0).all()
    assert freq[order[0]] > freq[order[-1]]


def test_adaptivity_orders_exact_above_uniform_and_lsh_above_uniform():
    g = torch.Generator().manual_seed(1)
    N, d, B = 400, 16, 32
    W = torch.randn(N, d, generator=g)
    h = W[torch.randint(N, (B,), generator=g)] + 0.3 * torch.randn(B, d, generator=g)
    pos = torch.full((B, 1), -1)
    idx = build_index(LSHParams(K=5, L=6, cap=64), dim=d)
    idx.rehash(W)
    drawers = {s: DRAWERS.get(s)(N, 16, index=idx) for s in ("uniform", "exact", "lsh-embedding")}
    rows = {r["sampler"]: r for r in adaptivity_rows(h, W, pos, drawers, 4, g)}
    assert rows["exact"]["mean_logit"] > rows["uniform"]["mean_logit"]
    assert rows["lsh-embedding"]["mean_rank"] < 0.7 * rows["uniform"]["mean_rank"]
    assert rows["lsh-embedding"]["top50_share"] > 2 * rows["uniform"]["top50_share"]  # uniform: ~budget*50/N/16
    assert all(0 <= r["tv"] <= 1 and r["kl"] >= 0 for r in rows.values())
    # distances to the softmax: the exact drawer's draws are its samples (tv ~0.1), uniform's are far (~1); catches
    # distances taken against another reference than the softmax (uniform would then score best)
    assert rows["exact"]["tv"] < 0.5 * rows["uniform"]["tv"] and rows["exact"]["kl"] < 0.5 * rows["uniform"]["kl"]
    # how much of the LSH draws came from the buckets, and how full the unions were; none for the others
    assert rows["uniform"]["from_buckets"] == 0 and rows["uniform"]["union_mean"] == 0
    assert 0 < rows["lsh-embedding"]["from_buckets"] <= 1 and rows["lsh-embedding"]["union_mean"] > 0



def test_short_race_runs_and_learns():
    data = load_bow("synthetic", num_labels=200, num_points=600, num_features=200, words_per_point=8)
    assert data.X_train.shape[0] + data.X_test.shape[0] == 600
    for method in ("full", "lsh-label:nologq", "lsh-embedding"):
        rows = train_one(data, method, params=LSHParams(K=4, L=4, cap=16, rehash_every=5), budget=16,
                         batch_size=64, lr=0.02, hidden=32, time_budget_s=60, max_steps=24, eval_every=12,
                         eval_points=150, device=torch.device("cpu"))
        assert [r["step"] for r in rows] == [12, 24]
        assert rows[-1]["P@1"] > 5.0, (method, rows[-1])   # chance is ~1% on 200 labels
        assert 1 / 150 <= rows[-1]["top1_share"] <= 1.0
        assert ("over_cap_share" in rows[-1]) == method.startswith("lsh")   # crowding: LSH rows only
    assert parse_method("lsh-label:nologq") == Method("lsh-label", logq=False, center=False)
    with pytest.raises(ValueError, match=r"unknown method 'hardest' in 'hardest'; methods: \['full', "):
        parse_method("hardest")


def test_method_variants_parse_and_reject():
    assert parse_method("lsh-embedding:center:nologq") == Method("lsh-embedding", logq=False, center=True)
    assert parse_method("uniform") == Method("uniform")
    for bad, match in [("lsh-label:centre", "one of"), ("lsh-label:nologq:nologq", "at most once"),
                       ("uniform:center", "has none"), ("full:center", "has none")]:
        with pytest.raises(ValueError, match=match):
            parse_method(bad)


def test_center_variant_centres_only_its_own_index():
    """``m:center`` races with a centred index while ``m`` keeps the plain one (the same LSHParams given to both):
    the rows say which, and the tables of the centred run hash W minus its mean (checked through the callback's
    index). Does not show that centring helps: that is the race's question."""
    data = load_bow("synthetic", num_labels=120, num_points=300, num_features=100, words_per_point=6)
    seen = {}
    for method in ("lsh-embedding", "lsh-embedding:center"):
        def on_eval(step, train_s, model, index, age, method=method):
            seen[method] = (index.center, index.offset)
            assert age == 4  # rehashed at step 4 (rehash_every 4), probed after step 8
        rows = train_one(data, method, params=LSHParams(K=3, L=2, cap=8, rehash_every=4), budget=8, batch_size=32,
                         lr=0.02, hidden=16, time_budget_s=60, max_steps=8, eval_every=8, eval_points=50,
                         device=torch.device("cpu"), on_eval=on_eval)
        assert [r["center"] for r in rows] == [method.endswith(":center")] and rows[0]["table_age"] == 4
        assert 0 <= rows[0]["over_cap_share"] <= 1 and rows[0]["largest_bucket"] >= 1
    assert seen["lsh-embedding"] == (False, None)
    centred, offset = seen["lsh-embedding:center"]
    assert centred and offset is not None and offset.abs().sum() > 0


def test_top1_share_counts_the_most_predicted_label():
    """A model whose output bias makes label 3 every point's top label has top1_share 1.0."""
    from workbench.lsh.race import evaluate
    from workbench.lsh.softmax_model import BowSoftmax
    data = load_bow("synthetic", num_labels=20, num_points=100, num_features=30, words_per_point=4)
    model = BowSoftmax(data.num_features, data.num_labels, hidden=8)
    with torch.no_grad():
        model.out.weight[3, -1] = 1e4
    assert evaluate(model, data, 40, torch.device("cpu"))["top1_share"] == 1.0
    n = data.X_test.shape[0]
    counts = data.X_test.getnnz(axis=0)
    f = int(abs(counts - n / 2).argmin())  # the feature closest to half of the test points
    with torch.no_grad():  # label 7 tops the points with feature f, label 3 (bias 1) the others
        model.embed.weight.zero_()
        model.embed.weight[f, 0] = 1e3
        model.out.weight[:, 0] = 0.0
        model.out.weight[7, 0] = 1e3
        model.out.weight[3, -1] = 1.0
    share = counts[f] / n
    assert 0 < share < 1
    assert evaluate(model, data, n, torch.device("cpu"))["top1_share"] == pytest.approx(max(share, 1 - share))


def test_race_also_evaluates_by_training_seconds(monkeypatch):
    """eval_every_s adds evaluations by training clock (a fake one here: 0.5 s per step), so a method with slow
    steps still gets a curve; the step cadence and the final evaluation stay."""
    import types

    from workbench.lsh import race
    ticks = iter(0.5 * i for i in range(10_000))   # each step reads the clock twice: 0.5 s apart
    monkeypatch.setattr(race, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    data = load_bow("synthetic", num_labels=50, num_points=200, num_features=40, words_per_point=4)
    rows = train_one(data, "full", params=LSHParams(), budget=8, batch_size=32, lr=0.01, hidden=8,
                     time_budget_s=60, max_steps=10, eval_every=1000, eval_points=20,
                     device=torch.device("cpu"), eval_every_s=2.0)
    assert [r["step"] for r in rows] == [4, 8, 10]
    assert [r["train_s"] for r in rows] == [2.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="eval_every_s"):
        LSHStudyConfig(eval_every_s=-1.0).validate()


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is the CPU only without CUDA")
def test_bench_measures_each_device_once():
    """``auto`` beside ``cpu`` on a machine without CUDA passes the config (spellings differ) but is one device:
    it once ran twice, and both runs' rows, labelled cpu, joined into one curve."""
    from workbench.config import from_dict
    from workbench.lsh.experiments import run_bench
    cfg = from_dict(LSHStudyConfig, {"bench_devices": ["auto", "cpu"], "bench_sizes": [500, 1000], "bench_dim": 8,
                                     "bench_batch": 4, "budget": 8, "bench_repeats": 2})
    with pytest.warns(UserWarning, match="'cpu' is cpu here, as 'auto' is: measured once"):
        rows = run_bench(cfg)
    lsh = [r for r in rows if r["method"] == "lsh-embedding"]
    assert sorted(r["num_labels"] for r in lsh) == [500, 1000] and {r["device"] for r in rows} == {"cpu"}


def test_bench_rows_and_flatness():
    rows = bench_sizes([500, 2000], LSHParams(K=4, L=2, cap=8), dim=8, batch=4, budget=8, repeats=2, warmup=1,
                       device=torch.device("cpu"), source="gaussian")
    methods = {r["method"] for r in rows}
    assert methods == {"rehash", "redraw", "lsh-embedding", "exact", "uniform", "full-softmax"}
    assert all(r["ms_per_batch"] > 0 for r in rows)
    lsh = {r["num_labels"]: r for r in rows if r["method"] == "lsh-embedding"}
    assert "ratio_to_smallest" not in lsh[500] and flatness(rows) == lsh[2000]["ratio_to_smallest"] > 0
    hand = [{"method": "lsh-embedding", "num_labels": 10_000_000, "ms_per_query": 3.0},
            {"method": "exact", "num_labels": 10_000, "ms_per_query": 0.5},
            {"method": "lsh-embedding", "num_labels": 10_000, "ms_per_query": 2.0}]
    assert flatness(hand) == 1.5   # largest N over smallest N, per method
    assert math.isnan(flatness(hand, "exact"))   # one size: no ratio (it once read 1.00, "goal met")
    hand[0]["ratio_to_smallest"] = 1.1  # timed in turn: preferred over the two medians taken apart
    assert flatness(hand) == 1.1
    hand[0]["ratio_to_smallest"] = float("nan")  # a table row without it (pandas fills NaN)
    assert flatness(hand) == 1.5


def test_flatness_note_when_the_medians_taken_apart_disagree_with_the_in_turn_ratio():
    """A CPU run: medians 0.1248 ms at 10^4 and 0.0802 at 10^6 (0.64) against 1.12 timed in turn: both are said.
    Within 25% of each other, or without an in-turn ratio, nothing is."""
    from workbench.lsh.bench import flatness_note
    rows = [{"method": "lsh-embedding", "num_labels": 10_000, "ms_per_query": 0.1248},
            {"method": "lsh-embedding", "num_labels": 1_000_000, "ms_per_query": 0.0802, "ratio_to_smallest": 1.12}]
    assert "give 0.64" in flatness_note(rows) and "in turn, 1.12, is the reading" in flatness_note(rows)
    assert "the smallest size, timed first, ran slower" in flatness_note(rows)
    rows[1]["ratio_to_smallest"] = 0.4  # the medians above the in-turn ratio: not the first size's warm-up
    assert "the machine's load differed" in flatness_note(rows)
    rows[1]["ratio_to_smallest"] = 0.7
    assert flatness_note(rows) is None
    rows[1]["ratio_to_smallest"] = float("nan")
    assert flatness_note(rows) is None


def test_flatness_ratio_is_timed_in_turn(monkeypatch):
    """The largest N's ratio comes from one interleaved timing of both sizes' draws, not from the two medians; the
    smallest N's draw still reads its own label vectors and queries then (not the largest N's)."""
    import workbench.lsh.bench as bench
    calls, seen = [], []
    real_get = bench.DRAWERS.get

    def recording_get(name):
        make = real_get(name)

        def build(N, budget, **kw):
            draw = make(N, budget, **kw)
            return lambda q, pos, W, g: seen.append((N, W.shape[0], int(pos.max()) < N)) or draw(q, pos, W, g)
        return build

    def fake(runs, device, repeats, warmup=1):
        calls.append((len(runs), repeats))
        seen.clear()
        for run in runs:
            run()
        calls.append(list(seen))
        return [2.0, 5.0]
    monkeypatch.setattr(bench.DRAWERS, "get", recording_get)
    monkeypatch.setattr(bench, "time_interleaved", fake)
    rows = bench_sizes([2000, 500, 1000], LSHParams(K=4, L=2, cap=8), dim=8, batch=4, budget=8, repeats=2, warmup=1,
                       device=torch.device("cpu"), source="gaussian", methods=("lsh-embedding", "uniform"))
    assert len(calls) == 2 and calls[0][0] == 2 and 5 <= calls[0][1] <= 200
    assert calls[1] == [(500, 500, True), (2000, 2000, True)]  # each draw on its own N's data
    assert [r["num_labels"] for r in rows if r["method"] == "uniform"] == [500, 1000, 2000]
    assert flatness(rows) == 2.5 and flatness_timing(rows) == "the two timed in turn"
    assert flatness_timing([{**r, "ratio_to_smallest": float("nan")} for r in rows]) == "two medians taken apart"


def test_padded_positives_matches_rows():
    data = load_bow("synthetic", num_labels=50, num_points=100, num_features=40, words_per_point=4)
    rows = np.array([0, 3, 5])
    P = padded_positives(data.Y_train, rows, torch.device("cpu"))
    for i, r in enumerate(rows):
        assert set(P[i][P[i] >= 0].tolist()) == set(data.Y_train[r].indices.tolist())
    wide = sp.csr_matrix(np.r_[[np.arange(300) % 3 == 0], [np.arange(300) == 7]].astype(np.float32))
    P = padded_positives(wide, np.array([0, 1]), torch.device("cpu"))
    assert P.shape == (2, 100) and P[0].tolist() == list(range(0, 300, 3)) and P[1].tolist() == [7] + [-1] * 99


def test_config_rejects_bad_values_and_matches_notebook():
    with pytest.raises(ConfigError):
        from_dict(LSHStudyConfig, {"hash": "simhash"})
    with pytest.raises(ValueError, match="data_dir"):
        from_dict(LSHStudyConfig, {"dataset": "mulan"})
    with pytest.raises(ValueError, match="hash family"):
        from_dict(LSHStudyConfig, {"family": "minhash"})
    nb = parameters(repo_root() / "notebooks" / "lsh_sampling.ipynb")
    cfg = LSHStudyConfig()
    fields = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
    assert set(nb) == set(fields)
    assert {k: p.default for k, p in nb.items()} == fields


def test_bucket_crowding_counts_labels_beyond_the_cap():
    """Two tables over 12 labels, cap 4: table 0 puts 10 labels in one bucket (over the cap) and 2 in another;
    table 1 spreads them 3 per bucket. Largest bucket 10; share over the cap (10/12 + 0) / 2."""
    import types
    from workbench.lsh.experiments import bucket_crowding
    from workbench.lsh.tables import build_tables
    codes = torch.stack([torch.tensor([0] * 10 + [1] * 2), torch.arange(12) // 3], 1)
    tables = build_tables(codes, num_buckets=4, cap=4, generator=torch.Generator().manual_seed(0))
    got = bucket_crowding(types.SimpleNamespace(tables=tables, cap=4))
    assert got["largest_bucket"] == 10
    assert got["over_cap_share"] == pytest.approx((10 / 12 + 0) / 2)


def test_iid_crowding_matches_tables_built_from_the_same_vectors():
    """The reference counts what tables built by rehashing the very vectors it draws would hold: same generator
    seed, so the same vectors, counted in chunks smaller than N. Does not show what load makes crowding."""
    from workbench.lsh.experiments import bucket_crowding, iid_crowding
    from workbench.lsh.params import LSHParams, build_index
    idx = build_index(LSHParams(K=4, L=3, cap=6), 9)
    got = iid_crowding(idx.family, 300, idx.cap, torch.Generator().manual_seed(5), chunk=64)
    x = torch.cat([torch.randn(n, 9, generator=g) for g in [torch.Generator().manual_seed(5)]
                   for n in [64] * 4 + [44]])
    idx.rehash(x)
    assert got == {f"{k}_iid": v for k, v in bucket_crowding(idx).items()}
    assert 0 < got["over_cap_share_iid"] < 1   # 300 vectors in 16 buckets of cap 6: most are over


def test_race_reads_finished_methods_back(tmp_path, monkeypatch):
    """A resumed run (workbench.resume) gets each finished method's race and adaptivity rows back untrained."""
    from workbench.lsh import experiments
    from workbench.resume import UnitStore
    cfg = from_dict(LSHStudyConfig, {"dataset": "synthetic", "num_labels": 100, "num_points": 300,
                                     "num_features": 100, "methods": ["full", "lsh-embedding"],
                                     "adaptivity_method": "lsh-embedding", "adaptivity_samplers": ["uniform"],
                                     "max_steps": 4, "eval_every": 4, "eval_points": 50, "batch_size": 32,
                                     "device": "cpu"})
    data = experiments.load_data(cfg)
    race, adapt = experiments.run_race(cfg, data, torch.device("cpu"), UnitStore(tmp_path, announce=None))
    assert {r["method"] for r in race} == {"full", "lsh-embedding"} and adapt

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the method's unit was finished")
    monkeypatch.setattr(experiments, "train_one", no_training)
    again = experiments.run_race(cfg, data, torch.device("cpu"), UnitStore(tmp_path, announce=None))
    assert again[0] == race
    import pandas as pd  # adaptivity rows hold NaN (no buckets for uniform): compare as frames
    pd.testing.assert_frame_equal(pd.DataFrame(again[1]), pd.DataFrame(adapt))


def test_dwta_study_config_sizes_the_bench_codes_in_bits():
    """bench_K is code bits for both families (at most): DWTA with bins of 8 (3 bits a hash) takes bench_K // 3
    hashes, so the family switch alone gives a valid config (it used to exceed 24 bits)."""
    cfg = LSHStudyConfig(family="dwta", bench_K=10)
    cfg.validate()
    assert cfg.lsh(bench=True).K == 3 and cfg.lsh().K == cfg.K
    assert LSHStudyConfig(family="simhash", bench_K=10).lsh(bench=True).K == 10
    LSHStudyConfig(family="dwta", bin_size=4).validate()
    with pytest.raises(ValueError, match="family 'simhash' never reads it"):  # an option with no effect
        LSHStudyConfig(family="simhash", bin_size=4).validate()


def test_variants_keep_their_methods_colour_and_differ_in_line_style():
    from workbench.lsh.figures import method_style
    styles = {m: method_style(m) for m in ("lsh-embedding", "lsh-embedding:nologq", "lsh-embedding:center",
                                            "lsh-embedding:center:nologq")}
    assert len({s["color"] for s in styles.values()}) == 1
    assert [s["ls"] for s in styles.values()] == ["-", "--", ":", "-."]


def test_constant_time_shows_the_draw_apart_from_the_rehash_it_would_hide_under():
    """A redraw is timed as draw + rehash (2.0 + 0.004 s): the right panel draws the rehash (2 s) and the draw alone
    (0.004 s), not two coinciding lines; exact and the full softmax, uniform and lsh-embedding differ in colour."""
    import matplotlib.pyplot as plt
    import pandas as pd
    from workbench.lsh.figures import constant_time, method_colour
    rows = [{"num_labels": n, "device": "cpu", "method": m, "ms_per_batch": ms, "ms_per_query": q}
            for n in (10, 100) for m, ms, q in (("rehash", 2000.0, None), ("redraw", 2004.0, None),
                                                ("exact", 1.0, 0.1), ("full-softmax", 1.0, 0.1))]
    ax = constant_time(pd.DataFrame(rows)).axes[1]
    lines = {ln.get_label(): list(ln.get_ydata()) for ln in ax.get_lines()}
    assert lines["rehash: hash all label vectors (cpu)"] == [2.0, 2.0]
    assert lines["draw new hash functions alone (cpu)"] == pytest.approx([0.004, 0.004])
    assert method_colour("exact") != method_colour("full-softmax")
    assert method_colour("uniform") != method_colour("lsh-embedding")
    plt.close("all")


@pytest.mark.parametrize("dataset", ["synthetic", "debian"])
def test_a_data_dir_the_dataset_does_not_read_is_refused(dataset):
    """-p data_dir=... with the synthetic or Debian data (which ignore it) used to run on them and end ok."""
    with pytest.raises(ValueError, match=f"data_dir is read only with dataset 'mulan' or 'dir'; dataset {dataset!r}"):
        LSHStudyConfig(dataset=dataset, data_dir="/nope").validate()


def test_synthetic_features_must_hold_the_words_each_point_keeps():
    # fewer validated, then topk over the projected features failed in bowdata.synthetic_bow
    from workbench.lsh.bowdata import WORDS_PER_POINT
    with pytest.raises(ValueError, match=f"num_features must be >= {WORDS_PER_POINT} with dataset 'synthetic'"):
        LSHStudyConfig(num_features=WORDS_PER_POINT - 1).validate()
    LSHStudyConfig(num_features=WORDS_PER_POINT).validate()


@pytest.mark.parametrize("over, message", [
    ({"bin_size": 3}, "bin_size .*must be a power of two >= 2, got 3"),
    ({"bin_size": 1}, "bin_size .*must be a power of two >= 2, got 1"),
    ({"bin_size": 64, "K": 2}, r"bin_size \(64\) must be <= bench_dim \(32\)"),
    ({"bin_size": 256, "K": 2, "bench_dim": 256, "hidden": 254}, r"bin_size \(256\) must be <= hidden \+ 1 \(255\)"),
])
def test_dwta_bins_are_refused_up_front_unless_a_power_of_two_within_the_hashed_width(over, message):
    # each validated, then DWTA's constructor raised when run_bench or the race built the index
    with pytest.raises(ValueError, match=message):
        LSHStudyConfig(family="dwta", **over).validate()
    with pytest.raises(ValueError, match="LSHParams.bin_size"):
        LSHParams(family="dwta", bin_size=6).validate()
    LSHStudyConfig(family="dwta", bin_size=256, K=2, bench_dim=256, hidden=255).validate()  # hashes 256 wide


def test_a_data_variant_the_dataset_does_not_read_is_refused():
    with pytest.raises(ValueError, match="data_variant is read only with dataset 'debian' or 'dir'; dataset 'synth"):
        LSHStudyConfig(data_variant="titles").validate()
    LSHStudyConfig(dataset="debian", data_variant="titles").validate()


def _bow_dir(tmp_path, num_labels: int) -> str:
    """A bag-of-words dataset directory with ``num_labels`` labels, each one used (the reader tests' ``_bow``)."""
    from tests.xmc.test_xmc_reader_bounds import _bow
    tmp_path.mkdir()
    rows = "".join(f"{i % num_labels} {i % 4}:1 {(i + 1) % 4}:1\n" for i in range(8))
    return str(_bow(tmp_path, f"8 4 {num_labels}\n{rows}", f"1 4 {num_labels}\n0 0:1\n"))


def test_a_loaded_dataset_is_checked_against_p_at_5_and_the_budget_before_training(tmp_path):
    """A dir dataset's label count is known only once it is read: with fewer than 5 labels the race trained, then
    its P@5 failed; a budget above the label count ran quietly (synthetic data refuses both in validate)."""
    from workbench.lsh.experiments import load_data
    few = LSHStudyConfig(dataset="dir", data_dir=_bow_dir(tmp_path / "three", 3), budget=2)
    few.validate()
    with pytest.raises(ValueError, match=r"dataset='dir' \(.*\) has 3 labels; the race reports P@5"):
        load_data(few)
    six = LSHStudyConfig(dataset="dir", data_dir=_bow_dir(tmp_path / "six", 6))
    six.validate()
    with pytest.raises(ValueError, match=r"budget must be <= 6 \(the labels of dataset='dir'.*got 64"):
        load_data(six)
    assert load_data(dataclasses.replace(six, budget=6)).num_labels == 6


def test_race_figure_leaves_out_methods_without_the_metric():
    """over_cap_share exists for the LSH methods only: full and uniform get no empty legend entry."""
    import matplotlib.pyplot as plt

    from workbench.lsh.figures import race
    df = pd.DataFrame({"method": ["full", "uniform", "lsh-label", "lsh-label"], "train_s": [1.0, 1.0, 1.0, 2.0],
                       "P@1": [10.0, 5.0, 7.0, 8.0], "over_cap_share": [float("nan")] * 2 + [0.1, 0.2]})
    fig = race(df, "over_cap_share")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["lsh-label"]
    assert len(race(df, "P@1").axes[0].lines) == 3
    plt.close("all")


def test_a_dir_dataset_reads_its_data_variant():
    """A dir dataset in the debian layout has variants too: data_variant is read there, not refused."""
    LSHStudyConfig(dataset="dir", data_dir="/nope", data_variant="fulltext").validate()


def test_p_at_5_needs_five_labels_and_only_synthetic_data_needs_its_words_in_num_features():
    """The race ranks 5 labels (P@5): 4 are refused up front. num_features sizes only the synthetic data: a dir
    dataset brings its own features, so a small value there is no error."""
    with pytest.raises(ConfigError, match="num_labels must be >= 5, got 4"):
        LSHStudyConfig(num_labels=4).validate()
    LSHStudyConfig(num_labels=5, budget=5).validate()
    LSHStudyConfig(dataset="dir", data_dir="/nope", num_features=4).validate()


def test_simhash_hashes_vectors_narrower_than_the_unread_bin_size():
    """bin_size (default 8) is DWTA's alone: SimHash over 4-wide bench vectors and 5-wide label vectors is valid."""
    LSHStudyConfig(family="simhash", bench_dim=4, hidden=4).validate()


def test_lsh_params_check_the_bin_width_for_dwta_only():
    """SimHash never reads bin_size: a width DWTA would refuse (3, 1) is no error for it."""
    LSHParams(family="simhash", bin_size=3).validate()
    LSHParams(family="simhash", bin_size=1).validate()
    with pytest.raises(ValueError, match="must be a power of two >= 2, got 3"):
        LSHParams(family="dwta", bin_size=3).validate()


def test_a_loaded_dataset_of_exactly_five_labels_is_enough_for_p_at_5(tmp_path):
    """P@5 ranks 5 labels: a dir dataset of 5 loads (with a budget of at most its 5 labels)."""
    from workbench.lsh.experiments import load_data
    five = LSHStudyConfig(dataset="dir", data_dir=_bow_dir(tmp_path / "five", 5), budget=5)
    five.validate()
    assert load_data(five).num_labels == 5
