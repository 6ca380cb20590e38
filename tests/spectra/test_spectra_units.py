"""The batch-size-spectra notebook's timed units (HVP cost table, peer comparison) as resumable memo units.

Does not prove: anything about the timings themselves (they are benchmarks, not asserted)."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from workbench.resume import UnitStore
from workbench.spectra import experiments as ex
from workbench.spectra.data import load_images
from workbench.spectra.hvp import curvature_operator


@pytest.fixture(scope="module")
def tiny():
    data = load_images("digits", n_train=128)
    net = ex.make_model("mlp", data, False, 4, 0, "cpu")
    cfg = SimpleNamespace(model="mlp", bench_batch_sizes=[16, 32], bench_repeats=1, seed=3, peer_batch_size=32,
                          reference_steps=400, peer_tol=1e-4, peer_seeds=1, peer_repeats=1)
    return cfg, net, data


def test_hvp_costs_cover_every_batch_size_and_are_read_back(tiny, tmp_path, monkeypatch):
    """Rows for every bench batch size, tagged with model and device; a second attempt on the same memo reads
    them back without measuring. Does not prove: anything about the costs (timings, not asserted)."""
    cfg, net, data = tiny
    rows = ex.hvp_costs(cfg, net, data, torch.device("cpu"), memo=UnitStore(tmp_path, announce=None))
    assert sorted({r["batch_size"] for r in rows}) == [16, 32]
    assert {r["model"] for r in rows} == {"mlp"} and {r["device"] for r in rows} == {"cpu"}
    monkeypatch.setattr(ex, "hvp_cost", lambda *a, **k: pytest.fail("measured again although the unit finished"))
    again = ex.hvp_costs(cfg, net, data, torch.device("cpu"), memo=UnitStore(tmp_path, announce=None))
    pd.testing.assert_frame_equal(pd.DataFrame(again), pd.DataFrame(rows))  # NaN memory ratios on CPU


def test_peer_comparison_reference_is_the_exact_top_eigenvalue_and_is_read_back(tiny, tmp_path, monkeypatch):
    """The unit's reference Ritz value is the explicit Hessian's top eigenvalue on the unit's batch (rel 1e-4),
    our adaptive Lanczos rows are within peer_tol, and a second attempt reads the unit back. Does not prove: the
    peers' own accuracy (test_spectra_tools.py) or any timing."""
    cfg, net, data = tiny
    rows, ref, b = ex.peer_comparison(cfg, net, data, torch.device("cpu"), "double_backward",
                                      memo=UnitStore(tmp_path, announce=None))
    assert b == 32 and rows
    # the same batch, drawn as the unit draws it, diagonalised exactly
    g = torch.Generator().manual_seed(cfg.seed + 1)
    idx = torch.randperm(len(data.x_train), generator=g)[:b]
    op = curvature_operator(net, torch.nn.functional.cross_entropy, [(data.x_train[idx], data.y_train[idx])],
                            bn="eval")
    eye = torch.eye(op.dim, dtype=torch.float64)
    exact = torch.linalg.eigvalsh(torch.stack([op(eye[i]) for i in range(op.dim)]).double())[-1].item()
    assert ref.ritz[-1] == pytest.approx(exact, rel=1e-4)
    adaptive = [r for r in rows if r["tool"] == "workbench" and r["method"].startswith("lanczos tol")]
    assert adaptive and all(r["rel_error"] <= 1e-4 for r in adaptive)
    monkeypatch.setattr(ex, "compare", lambda *a, **k: pytest.fail("compared again although the unit finished"))
    rows2, ref2, b2 = ex.peer_comparison(cfg, net, data, torch.device("cpu"), "double_backward",
                                         memo=UnitStore(tmp_path, announce=None))
    pd.testing.assert_frame_equal(pd.DataFrame(rows2), pd.DataFrame(rows))
    assert b2 == b and ref2.ritz[-1] == ref.ritz[-1]


def test_spectra_rows_pool_probes_and_draw_each_size_from_its_own_generator(tiny, monkeypatch):
    """With 2 probes of 6 steps on each size's first batch: its lambda_max is the larger probe's top Ritz value
    (the Ritz rows hold both probes) and its matvecs count both probes (12); later batches are single adaptive
    runs (at most 6 matvecs, no Ritz rows). The sizes' batches are drawn from generators of their own: B = 16's
    first batch is not the start of B = 32's (one shared seed would nest them)."""
    cfg, net, data = tiny
    drawn = {}
    real = ex.sample_batch

    def spy(x, y, size, generator):
        xb, yb = real(x, y, size, generator)
        drawn.setdefault(size, xb)
        return xb, yb

    monkeypatch.setattr(ex, "sample_batch", spy)
    lam, ritz = ex.spectra(net, data, batch_sizes=[16, 32], curvatures=("hessian",), steps=6, probes=2,
                           batches_per_size=3, full_chunk=64, seed=0, tag={"epoch": 0}, lambda_tol=1e-3)
    lam, ritz = pd.DataFrame(lam), pd.DataFrame(ritz)
    first = lam[lam.batch_index == 0].set_index("batch_size")
    tops = ritz.groupby(["batch_size", "probe"]).ritz.max().groupby("batch_size").max()
    assert (first.lambda_max == tops.reindex(first.index)).all() and (first.matvecs == 12).all()
    assert set(ritz.probe) == {0, 1} and set(ritz.batch_index) == {0}
    later = lam[lam.batch_index > 0]
    assert len(later) == 4 and (later.matvecs <= 6).all()
    assert not torch.equal(drawn[16], drawn[32][:16])


def test_learner_comparison_tunes_on_held_out_data_and_trains_at_the_best_lr(tiny, monkeypatch):
    """Training stubbed: each lr's validation accuracy is known (0.1 best of 0.01, 0.1, 1.0). Tuning trains on
    four fifths of the training set and scores on the held-out fifth; the reported run uses the best lr, scored on
    the test set; every row carries the init's training loss (evaluate's first value) as start_loss."""
    _, _, data = tiny
    cfg = SimpleNamespace(model="mlp", width=4, seed=0, learner_epochs=1, learner_batch_size=8, momentum=0.9,
                          tune_lrs=[0.01, 0.1, 1.0], learner_period=5, lanczos_steps=4, learner_kappa_max=100.0,
                          learner_scale=1.0)
    calls = []

    def fake_train(model, x, y, x_eval, y_eval, *, lr, schedule="constant", **kw):
        calls.append({"n_train": len(x), "eval": "test" if x_eval is data.x_test else len(x_eval), "lr": lr,
                      "schedule": "learner" if "on_step" in kw else schedule})
        return [{"epoch": 1, "eval_acc": {0.01: 0.3, 0.1: 0.8, 1.0: 0.5}.get(lr, 0.0), "lr": lr}]

    monkeypatch.setattr(ex, "train_epochs", fake_train)
    monkeypatch.setattr(ex, "evaluate", lambda model, x, y: (2.5, 0.1))
    rows, _ = ex.learner_vs_schedules(cfg, data, torch.device("cpu"))
    n_val = len(data.x_train) // 5
    tuning = [c for c in calls if c["eval"] != "test"]
    assert len(tuning) == 6 and all(c["eval"] == n_val and c["n_train"] == len(data.x_train) - n_val for c in tuning)
    final = [c for c in calls if c["eval"] == "test" and c["schedule"] in ("constant", "cosine")]
    assert [c["lr"] for c in final] == [0.1, 0.1]
    tuned = [r for r in rows if r["method"] != "SLQ learner"]
    assert {r["tuned_lr"] for r in tuned} == {0.1} and {r["start_loss"] for r in rows} == {2.5}


def _tiny_mlp():
    """A 4-wide MLP on 128 digits."""
    data = load_images("digits", n_train=128)
    return ex.make_model("mlp", data, False, 4, 0, "cpu"), data


def test_a_batch_size_equal_to_the_training_set_is_the_full_operator_only():
    """n = 128: B = 128 is not a batch (it is the full operator), so the rows are B=16 'batch' and B=128 'full',
    one each (one curvature, one batch per size)."""
    net, data = _tiny_mlp()
    lam, _ = ex.spectra(net, data, batch_sizes=[16, 128], curvatures=("hessian",), steps=3, probes=1,
                        batches_per_size=1, full_chunk=64, seed=0, tag={"epoch": 0})
    assert sorted((r["batch_size"], r["scope"]) for r in lam) == [(16, "batch"), (128, "full")]


def test_the_full_operator_is_built_over_every_training_example(monkeypatch):
    """full_chunk 48 splits n = 128 into 3 chunks (42 + 43 + 43); the full operator must see all 128 examples,
    the batch operator its 16."""
    net, data = _tiny_mlp()
    seen, real = [], ex.curvature_operator

    def spy(model, loss, chunks, **kw):
        chunks = list(chunks)
        seen.append(sum(len(x) for x, _ in chunks))
        return real(model, loss, chunks, **kw)
    monkeypatch.setattr(ex, "curvature_operator", spy)
    ex.spectra(net, data, batch_sizes=[16], curvatures=("hessian",), steps=3, probes=1, batches_per_size=1,
               full_chunk=48, seed=0, tag={"epoch": 0})
    assert seen == [16, 128]


def test_each_bisection_trial_starts_from_the_same_init(monkeypatch):
    """is_stable trains its model in place; every trial of one bisection must get a fresh copy of the init, so
    a fake is_stable that adds 1 to every weight sees the same weights on each call (>= 2 calls)."""
    _, data = _tiny_mlp()
    seen = []

    def fake_is_stable(model, x, y, **kw):
        w = next(model.parameters())
        seen.append(float(w.detach().sum()))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return kw["lr"] < 0.1
    monkeypatch.setattr(ex, "is_stable", fake_is_stable)
    cfg = SimpleNamespace(model="mlp", width=4, steps=1, momentum=0.9, lr_lo=0.01, lr_hi=1.0, bisection_iters=3)
    ex._bisect(cfg, data, "cpu", "sgd", 16, 0)
    assert len(seen) >= 2 and len(set(seen)) == 1


def test_a_batch_size_out_of_memory_is_left_out_with_a_warning(tiny, monkeypatch):
    """B = 32 raises out of memory (on purpose, on a CPU): its rows are missing, B = 16 and the full operator's are
    there, and a warning names the size; the full operator's own out of memory is not swallowed."""
    cfg, net, data = tiny
    real = ex._spectra_one

    def one(model, data_, b, scope, *a):
        if b == 32 or (scope == "full" and fail_full):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 12.00 GiB")
        return real(model, data_, b, scope, *a)
    monkeypatch.setattr(ex, "_spectra_one", one)
    kw = dict(curvatures=("hessian",), steps=3, probes=1, batches_per_size=1, full_chunk=64, seed=0, tag={"e": 0})
    fail_full = False
    with pytest.warns(RuntimeWarning, match=r"B=32 ran out of device memory and is left out"):
        lam, _ = ex.spectra(net, data, batch_sizes=[16, 32], **kw)
    assert sorted({(r["batch_size"], r["scope"]) for r in lam})[0] == (16, "batch")
    assert {r["scope"] for r in lam} == {"batch", "full"} and 32 not in {r["batch_size"] for r in lam}
    fail_full = True
    with pytest.raises(torch.OutOfMemoryError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ex.spectra(net, data, batch_sizes=[16], **kw)
