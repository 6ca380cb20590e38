"""The training loop on the toy text problem with a random-init 1-layer BERT (seconds on a CPU).

Proves: every baseline sampler trains the dual encoder and the classifier; an interrupted run resumed from its
checkpoint reproduces the uninterrupted run's losses exactly (CPU); rows carry the promised columns; the
stale label cache path runs. Does not prove GPU determinism (atomics) or accuracy at scale.
"""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tests.conftest import with_cuda
from workbench.samplers import SampledBatch, SamplerConfig, build_sampler
from workbench.xmc_train.encoders import get_encoder, tokenize
from workbench.xmc_train.evaluate import METRICS, evaluate, fusion_sweep
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.models import XMCModel
from workbench.xmc_train.toy import toy_text_dataset
from workbench.xmc_train.train_config import TrainConfig
from workbench.xmc_train.trainer import Trainer, positive_columns

DATA = toy_text_dataset(n_train=120, n_test=40, num_labels=30)


def setup(sampler="in_batch", heads="de", freeze=False, seed=0, **scfg):
    enc = get_encoder("tiny", seed)
    tok = enc.tokenizer
    m = XMCModel(enc, tokenize(tok, DATA.train_texts, 12), tokenize(tok, DATA.label_texts, 12), heads=heads,
                 freeze_encoder=freeze)
    m.init_classifier()
    s = build_sampler(sampler, DATA.Y_train, SamplerConfig(num_negatives=4, shortlist_size=8, **scfg))
    return m, s, tokenize(tok, DATA.test_texts, 12)


class Boom(Exception):
    pass


class Interrupt:
    """Wraps a sampler and raises at the n-th sample() call (a crash mid-run)."""

    def __init__(self, inner, at):
        self.inner, self.at, self.calls = inner, at, 0

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def sample(self, q, g):
        self.calls += 1
        if self.calls == self.at:
            raise Boom()
        return self.inner.sample(q, g)


@pytest.mark.parametrize("every", [4, 3], ids=["epoch-boundary", "mid-epoch"])  # 4 steps per epoch
@pytest.mark.parametrize("sampler", ["ance", "in_batch", "ngame"])
def test_resume_reproduces_losses(tmp_path, sampler, every):
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-3, log_every=1, checkpoint_steps=every, seed=3, device="cpu")
    kw = {"cluster_start": 1, "cluster_double_every": 1, "cluster_size_max": 8}
    m, s, _ = setup(sampler, **kw)
    ref = Trainer(m, s, build_loss("softmax"), cfg, progress=False).run()
    ckpt = tmp_path / "checkpoints" / "ck.pt"  # a run directory's layout
    ckpt.parent.mkdir()
    m, s, _ = setup(sampler, **kw)
    with pytest.raises(Boom):
        Trainer(m, Interrupt(s, 7), build_loss("softmax"), cfg, checkpoint=ckpt, progress=False).run()
    assert ckpt.exists()
    assert not list(ckpt.parent.glob(".*tmp"))  # no half-written temporary left behind
    m, s, _ = setup(sampler, seed=99, **kw)  # different init: everything must come from the checkpoint
    rows = Trainer(m, s, build_loss("softmax"), cfg, checkpoint=ckpt, progress=False).run()
    assert [r["step"] for r in rows] == [r["step"] for r in ref]
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref]
    # the run record says this run went on from a checkpoint (its wall_s spans two attempts)
    from workbench.resume import resumed_units
    assert resumed_units(tmp_path) == [f"ck: training continued from its checkpoint at step {every * (7 // every)}"]


@with_cuda
@pytest.mark.parametrize("sampler", ["ance", "unidec"])
def test_resume_on_device_keeps_sampler_state_on_cpu(tmp_path, device, sampler):
    # the samplers index their state (shortlists, clusters) with CPU query ids: a checkpoint loaded straight
    # onto the GPU (map_location=cuda) put that state on the GPU, and CPU ids mixed with CUDA state raise. On
    # CPU this only checks the resume; the cuda:0 case is the one that would catch it (not run here: no GPU).
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-3, log_every=1, checkpoint_steps=4, seed=3, device=device)
    kw = {"cluster_start": 1, "cluster_size_max": 8, "pool_cap": 64}
    m, s, _ = setup(sampler, **kw)
    ref = Trainer(m, s, build_loss("softmax"), cfg, progress=False).run()
    ckpt = tmp_path / "ck.pt"
    m, s, _ = setup(sampler, **kw)
    with pytest.raises(Boom):
        Trainer(m, Interrupt(s, 7), build_loss("softmax"), cfg, checkpoint=ckpt, progress=False).run()
    m, s, _ = setup(sampler, seed=99, **kw)
    tr = Trainer(m, s, build_loss("softmax"), cfg, checkpoint=ckpt, progress=False)
    assert tr._load()
    state = [v for v in s.state_dict().values() if isinstance(v, torch.Tensor)]
    state += list(getattr(s, "clusters", None) or [])
    assert state and all(t.device.type == "cpu" for t in state)
    m, s, _ = setup(sampler, seed=99, **kw)
    rows = Trainer(m, s, build_loss("softmax"), cfg, checkpoint=ckpt, progress=False).run()
    assert [r["step"] for r in rows] == [r["step"] for r in ref]
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in ref], rel=1e-3 if "cuda" in device else 0)


@pytest.mark.parametrize("sampler", ["full", "uniform", "log_uniform", "in_batch", "ance"])
@pytest.mark.parametrize("heads,freeze", [("de", False), ("clf", True)])
def test_every_sampler_trains(sampler, heads, freeze):
    m, s, test = setup(sampler, heads=heads, freeze=freeze, refresh_every=100)  # ance: a refresh raises the loss
    cfg = TrainConfig(epochs=3, batch_size=40, lr=1e-3, clf_lr=0.05, log_every=1, device="cpu")
    rows = Trainer(m, s, build_loss("softmax", temperature=0.1), cfg, progress=False,
                   evaluate=lambda: evaluate(m, DATA, test), tags={"sampler": sampler}).run()
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "P@1" in r]
    assert len(train) == 9 and len(evals) == 2 and evals[-1]["step"] == 9
    assert set(METRICS) <= set(evals[-1]) and all(0 <= evals[-1][k] <= 100 for k in METRICS)
    assert all(math.isfinite(r["loss"]) for r in train)
    first, last = (sum(r["loss"] for r in rows) / 3 for rows in (train[:3], train[-3:]))
    assert last < first  # it learns something on this easy problem
    for k in ("wall_s", "sample_s", "encode_s", "loss_s", "backward_s", "peak_mem_mib", "epoch", "sampler"):
        assert k in train[0]
    assert train[-1]["wall_s"] > train[0]["wall_s"] > 0


@pytest.mark.parametrize("heads", ["de", "de+clf"])
def test_a_batch_whose_queries_have_no_positive_trains_on_an_empty_in_batch_pool(heads):
    """A training query without labels, alone in its batch (batch_size 1): the in_batch pool is empty. Nothing
    drops such queries upstream, and every loss is a mean over positives (0 here); encoding the empty pool used to
    crash in BERT's reshape. Does not prove: anything about a batch that has positives."""
    Y = DATA.Y_train[:3].tolil()
    Y[1, :] = 0
    enc = get_encoder("tiny", 0)
    m = XMCModel(enc, tokenize(enc.tokenizer, DATA.train_texts[:3], 12), tokenize(enc.tokenizer, DATA.label_texts, 12),
                 heads=heads)
    m.init_classifier()
    s = build_sampler("in_batch", Y.tocsr(), SamplerConfig())
    assert len(s.sample(torch.tensor([1]), torch.Generator().manual_seed(0)).pool) == 0
    rows = Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=1, log_every=1, device="cpu"),
                   progress=False).run()
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)


@pytest.mark.parametrize("sampler", ["in_batch", "unidec"])
def test_two_heads_and_fusion(sampler):
    m, s, test = setup(sampler, heads="de+clf", cluster_start=1, cluster_size_max=8, pool_cap=64)
    rows = Trainer(m, s, build_loss("softmax", temperature=0.1), TrainConfig(epochs=2, batch_size=40, device="cpu"),
                   progress=False).run()
    assert rows and math.isfinite(rows[-1]["loss"])
    for head in ("de", "clf", "fused"):
        assert 0 <= evaluate(m, DATA, test, head=head)["P@1"] <= 100
    # fused = alpha * DE + (1 - alpha) * CLF: the ends are the heads themselves (catches alpha weighting the
    # wrong head, or a fusion that is not a convex combination)
    parts = m.score_matrix_parts()
    assert not torch.allclose(parts["de"], parts["clf"]), "the heads must differ for the check to mean anything"
    de, clf = evaluate(m, DATA, test, head="de"), evaluate(m, DATA, test, head="clf")
    assert de != pytest.approx(clf), "swapped ends would go unnoticed if the heads scored alike"
    assert evaluate(m, DATA, test, head="fused", alpha=1.0) == pytest.approx(de)
    assert evaluate(m, DATA, test, head="fused", alpha=0.0) == pytest.approx(clf)
    # the sweep (one encoding for all weights) scores each alpha as evaluate does
    sweep = {r.pop("alpha"): r for r in fusion_sweep(m, DATA, test, [0.0, 0.3, 1.0])}
    for alpha, want in ((0.0, clf), (1.0, de), (0.3, evaluate(m, DATA, test, head="fused", alpha=0.3))):
        assert {k: sweep[alpha][k] for k in METRICS} == pytest.approx({k: want[k] for k in METRICS})


def test_stale_label_cache_trains_and_skips_negatives_encoding():
    """label_cache_steps=2 over 3 steps: every label embedded at steps 0 and 2 only (catches a cache never
    refreshed, or refreshed every step), fewer tokens encoded per step than without the cache."""
    m, s, _ = setup("full")
    cfg = TrainConfig(epochs=1, batch_size=40, label_cache_steps=2, log_every=1, device="cpu")
    trainer, rebuilt, embed_all = Trainer(m, s, build_loss("softmax"), cfg, progress=False), [], m.embed_all
    m.embed_all = lambda *a, **k: rebuilt.append(trainer.step) or embed_all(*a, **k)
    rows = trainer.run()
    assert rebuilt == [0, 2]
    fresh = Trainer(*setup("full")[:2], build_loss("softmax"), TrainConfig(epochs=1, batch_size=40, log_every=1,
                                                                          device="cpu"), progress=False).run()
    assert rows[0]["tokens_per_step"] < fresh[0]["tokens_per_step"]  # only the positives were re-encoded
    assert rows[0]["refresh_s"] > 0
    assert {r["label_staleness_steps"] for r in rows} == {2} and {r["label_staleness_steps"] for r in fresh} == {0}


def _on_a_fake_clock(monkeypatch, per_sample: float = 0.125):
    """An in_batch model and sampler on a faked trainer clock that moves only inside ``sampler.sample``,
    ``per_sample`` seconds a call (0.125 s: exact in binary), so step counts do not depend on the machine."""
    import types

    from workbench.xmc_train import trainer as trainer_mod
    now = [0.0]
    monkeypatch.setattr(trainer_mod, "time", types.SimpleNamespace(perf_counter=lambda: now[0], now=now))
    m, s, _ = setup("in_batch")
    inner = s.sample

    def slow_sample(q, g):
        now[0] += per_sample
        return inner(q, g)

    s.sample = slow_sample
    return m, s


def test_time_budget_runs_the_whole_schedule(monkeypatch):
    """A run its time budget ends (10^5 planned epochs = 300000 steps, budget 1 s) still warms up and decays: the
    schedule position is max(step, planned * spent / budget). The trainer's clock is faked: it moves only inside
    sampler.sample, 0.125 s per step (exact in binary), so the run is exactly 8 steps whatever the machine.
    Catches a schedule run on steps alone under a budget (lr would stay ~1e-7, inside the 30000-step warm-up),
    a budget that does not stop the run, or one checked with the wrong comparison (7 or 9 steps)."""
    m, s = _on_a_fake_clock(monkeypatch)
    cfg = TrainConfig(epochs=100_000, batch_size=40, lr=1e-3, log_every=1, time_budget_s=1.0, device="cpu")
    rows = Trainer(m, s, build_loss("softmax"), cfg, progress=False).run()
    train = [r for r in rows if "lr" in r]
    assert [r["step"] for r in train] == list(range(1, 9))
    assert [r["wall_s"] for r in train] == [0.125 * k for k in range(1, 9)]
    total, warm = 300_000, 30_000  # 3 steps per epoch (120 points / 40); warm-up 10 %
    # step j's scheduler update sees (j - 1) steps' seconds: position max(j, total * (j - 1) * 0.125 / 1.0); a
    # row shows the rate its step used, set by step k - 1's update (position 0 before the first)
    pos = [max(k - 1, total * max(k - 2, 0) / 8) for k in range(1, 9)]
    factor = [min((x + 1) / warm, (total - x) / (total - warm)) for x in pos]
    assert [r["lr"] for r in train] == pytest.approx([1e-3 * f for f in factor], rel=1e-9)
    assert train[2]["lr"] > 0.9e-3 and train[-1]["lr"] < 0.3e-3  # past the warm-up, then decayed


def test_last_step_is_evaluated_once():
    """eval_every hits the last step and the last log row is flushed after it: one evaluation, not two."""
    m, s, test = setup("in_batch")
    cfg = TrainConfig(epochs=1, batch_size=40, eval_every=3, log_every=2, device="cpu")  # 120 points: 3 steps
    rows = Trainer(m, s, build_loss("softmax"), cfg, progress=False, evaluate=lambda: evaluate(m, DATA, test)).run()
    assert [r["step"] for r in rows if "P@1" in r] == [0, 3]
    assert [r["step"] for r in rows if "loss" in r] == [2, 3]


def test_seq_len_is_the_padded_length_of_the_encoded_batches():
    """One step of in_batch: the queries' batch and the pool's batch are each cut to their longest text, so the
    row's seq_len is their padded token count over their sequence count, computed here from the tables."""
    m, s, _ = setup("in_batch")
    seen = []
    inner = s.sample
    s.sample = lambda q, g: seen.append(inner(q, g)) or seen[-1]
    rows = Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=40, max_steps=1, log_every=1,
                                                           device="cpu"), progress=False).run()
    b = seen[0]
    q_len, l_len = m.queries.lengths[b.queries], m.labels.lengths[b.pool]
    expect = (len(q_len) * q_len.max() + len(l_len) * l_len.max()) / (len(q_len) + len(l_len))
    assert rows[0]["seq_len"] == pytest.approx(float(expect))
    assert rows[0]["seq_len"] > rows[0]["tokens_per_step"] / (len(q_len) + len(l_len))  # padding counted
    assert rows[0]["seq_len"] <= 12


def test_checkpoint_with_other_config_refuses(tmp_path):
    m, s, _ = setup()
    Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=60, device="cpu"), checkpoint=tmp_path / "c",
            progress=False).run()
    with pytest.raises(ValueError, match="different TrainConfig"):
        Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=2, batch_size=60, device="cpu"),
                checkpoint=tmp_path / "c", progress=False).run()


@with_cuda
def test_runs_on_device(device):
    m, s, test = setup("uniform")
    rows = Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=60, device=device), progress=False,
                   evaluate=lambda: evaluate(m, DATA, test.to(device))).run()
    assert "P@1" in rows[-1]
    if device.startswith("cuda"):
        assert rows[-2]["peak_mem_mib"] > 0


def test_ngame_m1_triplet_and_classifier_stage():
    m, s, test = setup("ngame", cluster_start=1, cluster_double_every=1, cluster_size_max=8)
    rows = Trainer(m, s, build_loss("triplet"), TrainConfig(epochs=3, batch_size=32, device="cpu", log_every=1),
                   progress=False).run()
    assert [c["epoch"] for c in s.costs] == [1, 2] and math.isfinite(rows[-1]["loss"])
    m4 = XMCModel(m.encoder, m.queries, m.labels, heads="de+clf", freeze_encoder=True)
    m4.init_classifier()
    before = m4.classifier.detach().clone()
    enc_before = [p.detach().clone() for p in m4.encoder.parameters()]
    loss = build_loss("triplet", margin=0.2, hardest=5, weight_temperature=0.0, positives=3)
    Trainer(m4, s, loss, TrainConfig(epochs=1, batch_size=32, clf_lr=0.05, device="cpu"), progress=False,
            train_heads=("clf",)).run()
    assert not torch.equal(before, m4.classifier.detach())  # the classifier moved
    assert all(torch.equal(a, b) for a, b in zip(enc_before, m4.encoder.parameters()))  # the encoder did not
    for head in ("de", "clf", "fused"):
        assert 0 <= evaluate(m4, DATA, test, head=head)["P@1"] <= 100


def test_positive_columns_mark_the_pool_labels_some_query_is_positive_for():
    """The labels a stale label cache must encode fresh: ``targets.any(0)`` for whole-pool batches, the scattered
    targets of candidate batches; checked against those definitions, an empty batch included."""
    g = torch.Generator().manual_seed(0)
    dense = torch.rand((7, 50), generator=g) < 0.05
    assert dense.any(0).sum() > 0 and not dense.any(0).all()
    q = torch.arange(7)
    assert torch.equal(positive_columns(SampledBatch(q, torch.arange(50), None, dense)), dense.any(0))
    empty = SampledBatch(q[:0], torch.arange(50), None, dense[:0])
    assert torch.equal(positive_columns(empty), torch.zeros(50, dtype=torch.bool))
    cand, tgt = torch.randint(50, (7, 4), generator=g), torch.rand((7, 4), generator=g) < 0.3
    want = torch.zeros(50, dtype=torch.bool)
    for b, j in tgt.nonzero().tolist():
        want[cand[b, j]] = True
    assert torch.equal(positive_columns(SampledBatch(q, torch.arange(50), cand, tgt)), want)


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_gradient_norm_is_clipped_before_each_step(clip):
    """With clip_norm c every optimizer step sees a total gradient norm <= c; with 0 (off) the same run's norms
    are far above 1e-3, so the bound is the clipping's doing. Does not prove the clipped direction is unchanged."""
    m, s, _ = setup("in_batch")
    tr = Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=40, clip_norm=clip, device="cpu"),
                 progress=False)
    norms = []
    tr.opt.register_step_pre_hook(lambda opt, *_: norms.append(float(torch.linalg.vector_norm(torch.stack(
        [p.grad.norm() for g in opt.param_groups for p in g["params"] if p.grad is not None])))))
    tr.run()
    assert len(norms) == 3
    if clip:
        assert max(norms) <= clip * (1 + 1e-4)
    else:
        assert min(norms) > 10 * 1e-3


def test_checkpoints_every_n_minutes_by_the_clock(monkeypatch, tmp_path):
    """checkpoint_minutes on a faked clock that moves 0.125 s per sample() call: with 0.5 s (1/120 min) between
    checkpoints, 9 steps save after steps 4 and 8, then once at the end. Catches a period read in seconds or
    hours, or a clock that is not reset after a save."""
    m, s = _on_a_fake_clock(monkeypatch)
    cfg = TrainConfig(epochs=3, batch_size=40, checkpoint_minutes=0.5 / 60, log_every=100, device="cpu")
    tr = Trainer(m, s, build_loss("softmax"), cfg, checkpoint=tmp_path / "c.pt", progress=False)
    saved = []
    save = tr._save
    monkeypatch.setattr(tr, "_save", lambda: saved.append(tr.step) or save())
    tr.run()
    assert saved == [4, 8, 9]


def test_training_shows_a_progress_bar_named_by_its_sampler(capsys):
    m, s, _ = setup("in_batch")
    Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=40, device="cpu"),
            tags={"sampler": "in_batch"}).run()
    err = capsys.readouterr().err
    assert "in_batch" in err and "3/3" in err


def test_two_heads_loss_is_the_mean_of_the_heads_losses():
    """UniDEC's L = 1/2 L_DE + 1/2 L_CLF: the trainer averages the loss over the trained heads, each head's scores
    gathered to the batch's candidates first. A loss that sums its scores makes the hand value exact."""
    import types
    m, s, _ = setup("in_batch", heads="de+clf")
    tr = Trainer(m, s, lambda sc, t, v, q: sc.sum(), TrainConfig(epochs=1, batch_size=40, device="cpu"),
                 progress=False)
    de, clf = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[10.0, 20.0, 30.0]])
    batch = types.SimpleNamespace(targets=None, valid=None, log_q=None, candidates=torch.tensor([[2, 0]]))
    assert float(tr._loss({"de": de, "clf": clf}, batch)) == pytest.approx(((3 + 1) + (30 + 10)) / 2)
    assert float(tr._loss({"de": de}, batch)) == pytest.approx(4.0)


def test_a_finished_trainer_frees_its_model_without_the_garbage_collector():
    """Reference counting alone frees the model, optimizer state and caches once the trainer is dropped (the
    scheduler's lambda must not hold the trainer in a cycle): on CUDA a cycle kept earlier runs' tensors allocated
    until a gc pass, inflating the memory sweep's peaks and the capped largest-batch search."""
    import gc
    import weakref
    setup("full")  # first use imports lazily (transformers keeps a traceback cycle then): not the trainer's doing
    gc.collect()
    gc.disable()
    try:
        m, s, _ = setup("full")
        trainer = Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=40, device="cpu"),
                          progress=False)
        trainer.run()
        model, opt = weakref.ref(m), weakref.ref(trainer.opt)
        del m, s, trainer
        assert model() is None and opt() is None
    finally:
        gc.enable()


def test_bare_probe_is_off_the_clock_and_at_the_window_length(monkeypatch):
    """With bare_probe_every 2 and log_every 2, steps 4 and 8 time a bare encoder step (faked: 10 s on the
    trainer's clock) at batch_size and the window's padded length; wall_s still moves 0.125 s a step only."""
    from workbench.xmc_train import trainer as trainer_mod
    m, s = _on_a_fake_clock(monkeypatch)
    calls = []

    def fake_probe(encoder, batch, length, **kw):
        calls.append((encoder, batch, length))
        trainer_mod.time.now[0] += 10.0
        return {"seqs_per_s": 123.0}
    monkeypatch.setattr(trainer_mod, "encoder_throughput", fake_probe)
    cfg = TrainConfig(epochs=3, batch_size=40, log_every=2, bare_probe_every=2, device="cpu")  # 9 steps
    rows = [r for r in Trainer(m, s, build_loss("softmax"), cfg, progress=False).run() if "loss" in r]
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 9]
    probed = [r["step"] for r in rows if r["bare_seqs_per_s"] == 123.0]
    assert probed == [4, 8] and all(math.isnan(r["bare_seqs_per_s"]) for r in rows if r["step"] not in probed)
    assert [c[1:] for c in calls] == [(40, round(r["seq_len"])) for r in rows if r["step"] in probed]
    assert calls[0][0] is m.encoder
    assert [r["wall_s"] for r in rows] == [0.125 * k for k in (2, 4, 6, 8, 9)]


def test_bare_probe_leaves_the_training_unchanged():
    """The same run with and without in-loop probes (a real bare step every window) gives the same losses:
    the probe's gradients are cleared and dropout is re-seeded every step."""
    cfg = TrainConfig(epochs=2, batch_size=40, lr=1e-3, log_every=1, seed=3, device="cpu")
    losses = []
    for every in (0, 1):
        m, s, _ = setup("in_batch", seed=1)
        rows = Trainer(m, s, build_loss("softmax"), dataclasses.replace(cfg, bare_probe_every=every),
                       progress=False).run()
        losses.append([r["loss"] for r in rows if "loss" in r])
        probes = [r["bare_seqs_per_s"] for r in rows if "loss" in r]
        assert all(p > 0 for p in probes) if every else all(math.isnan(p) for p in probes)
    assert losses[0] == losses[1] and len(losses[0]) == 6
