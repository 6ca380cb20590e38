"""The negative-mining study's model, trainer, stages and peers on cases solved by hand: the label cache (fresh
columns encoded, the rest read from it), which label vectors samplers see from a two-head model, per-step dropout
seeds across run seeds, the classifier stages' epochs, head and clock, and Parabel's prediction count. A review
that changed one line at a time in these modules found each change passed the rest of the suite.

Does not prove: that the study's runs learn (the trainer and study tests, and the GPU runs, read that)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from workbench.samplers import SamplerConfig, build_sampler
from workbench.xmc_train import compare, peers, stages
from workbench.xmc_train.encoders import get_encoder, tokenize
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.models import XMCModel
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.xmc_train.toy import toy_text_dataset
from workbench.xmc_train.train_config import TrainConfig
from workbench.xmc_train.trainer import Trainer

DATA = toy_text_dataset(n_train=40, n_test=10, num_labels=12)


def _model(heads="de", form="free"):
    enc = get_encoder("tiny", 0)
    m = XMCModel(enc, tokenize(enc.tokenizer, DATA.train_texts, 10), tokenize(enc.tokenizer, DATA.label_texts, 10),
                 heads=heads, classifier_form=form)
    m.init_classifier()
    return m


def test_label_vectors_encode_the_fresh_columns_and_read_the_rest_from_the_cache():
    """Pool [3, 0, 7], only column 1 (label 0) fresh, a cache of 7s: columns 0 and 2 are 7s, column 1 is label 0's
    embedding, encoded with gradients."""
    m = _model()
    cache = torch.full((len(DATA.label_texts), m.encoder.dim), 7.0)
    out = m.label_vectors(torch.tensor([3, 0, 7]), cache, torch.tensor([False, True, False]))
    assert torch.equal(out[0], cache[3]) and torch.equal(out[2], cache[7])
    want = m.encode(m.labels, torch.tensor([0]))[0]
    assert torch.allclose(out[1], want, atol=1e-6) and not torch.allclose(want, cache[0])
    assert out.requires_grad  # the fresh row carries the encoder's gradient


def test_samplers_see_de_label_embeddings_for_a_two_head_model():
    """A de+clf model whose classifier rows moved away from the label embeddings: label_embeddings (what ANCE /
    NGAME read) are still the DE's; only a classifier-only model gives its classifier vectors."""
    m = _model("de+clf")
    with torch.no_grad():
        m.classifier.copy_(torch.randn(m.classifier.shape, generator=torch.Generator().manual_seed(0)))
    ids = torch.tensor([2, 5])
    assert torch.allclose(m.label_embeddings(ids), m.embed_all(m.labels)[ids], atol=1e-6)
    assert not torch.allclose(m.label_embeddings(ids), m.classifier_vectors(ids), atol=1e-2)
    c = _model("clf")
    with torch.no_grad():
        c.classifier.copy_(torch.randn(c.classifier.shape, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(c.label_embeddings(ids), c.classifier_vectors(ids), atol=1e-6)


def test_dropout_seeds_of_two_run_seeds_never_coincide(monkeypatch):
    """Runs with seed 0 and seed 1, 3 steps each: the per-step dropout seeds are 3 distinct values per run and no
    seed is shared between runs (seed 1 step 0 is not seed 0 step 1)."""
    seen = []
    orig = torch.manual_seed

    def spy(s):
        seen.append(int(s))
        return orig(s)

    def run(seed):
        seen.clear()
        m = _model()
        s = build_sampler("in_batch", DATA.Y_train, SamplerConfig())
        monkeypatch.setattr(torch, "manual_seed", spy)
        Trainer(m, s, build_loss("softmax"), TrainConfig(epochs=1, batch_size=16, seed=seed, device="cpu"),
                progress=False).run()
        monkeypatch.setattr(torch, "manual_seed", orig)
        return list(seen)
    a, b = run(0), run(1)
    assert len(a) == len(set(a)) == 3 and len(b) == len(set(b)) == 3
    assert not set(a) & set(b)


def _stage_setup(**over):
    cfg = NegativeMiningConfig(samplers=["uniform"], bce_stage_after=["uniform"], batch_size=16, max_length=12,
                               eval_every=0, device="cpu", **over)
    prep = prepare(cfg, toy_text_dataset(n_train=48, n_test=10, num_labels=30, seed=2))
    return cfg, prep


def test_full_bce_stage_trains_bce_stage_epochs(monkeypatch):
    """bce_stage_epochs 3 with ngame_m4_epochs 1: the BCE stage is asked for 3 epochs, the bce loss, its tag, and no
    optimiser override (M-IV's lr / row-sparse Adam are M-IV's)."""
    seen = {}

    def record(cfg, prep, trained, sampler, loss, loss_params, epochs, tag, wall_offset, progress, **over):
        seen.update(loss=loss, epochs=epochs, tag=tag, over=over, sampler=sampler)
        return [], trained
    monkeypatch.setattr(stages, "classifier_stage", record)
    cfg, prep = _stage_setup(bce_stage_epochs=3, ngame_m4_epochs=1)
    stages.full_bce_stage(cfg, prep, stages.build_model(cfg, prep), "uniform", progress=False)
    assert (seen["loss"], seen["epochs"], seen["tag"], seen["over"]) == ("bce", 3, "uniform +BCE clf", {})
    assert seen["sampler"].name == "full"


def test_classifier_stage_trains_the_classifier_head_only(monkeypatch):
    """A classifier stage scores one head per step in its loss (the classifier's): 48 queries in batches of 16,
    one epoch = 3 steps, 3 loss calls, and the rows' loss is that head's (training both heads there averaged the
    frozen DE's loss in and halved the classifier's gradient)."""
    calls = []

    def counting(name, **params):
        inner = build_loss(name, **params)
        return lambda *a: calls.append(1) or inner(*a)
    monkeypatch.setattr(stages, "build_loss", counting)
    cfg, prep = _stage_setup(bce_stage_epochs=1)
    rows, _ = stages.full_bce_stage(cfg, prep, stages.build_model(cfg, prep), "uniform", progress=False)
    assert max(r["step"] for r in rows) == 3 and len(calls) == 3


def test_m4_clock_continues_from_m1s_last_row(monkeypatch):
    """M1 rows at 0, 2.5 and 7.5 s: the M-IV stage starts at the last, 7.5 s (not the first row's 0)."""
    cfg = NegativeMiningConfig(samplers=["ngame"], epochs=10, batch_size=16, ngame_m4_epochs=1)
    rows = [{"step": 0, "wall_s": 0.0}, {"step": 4, "wall_s": 2.5}, {"step": 12, "wall_s": 7.5}]
    asked = {}
    monkeypatch.setattr(compare, "train_sampler", lambda *a, **k: (rows, "model", "sampler"))
    monkeypatch.setattr(compare, "head_rows", lambda *a, **k: [])
    monkeypatch.setattr(compare, "schedule_rows", lambda sampler, epochs: [])

    def m4(cfg, prep, model, wall_offset, progress):
        asked["offset"] = wall_offset
        return [], "m4"
    monkeypatch.setattr(compare, "ngame_classifier_stage", m4)
    compare._one_sampler(cfg, SimpleNamespace(train=list(range(64))), "ngame", None, False)
    assert asked["offset"] == 7.5


def test_parabel_predicts_past_100_by_the_most_filter_pairs_of_a_row(monkeypatch):
    """Test row 0 has 2 filter pairs, row 1 one: Parabel is asked for 100 + 2 predictions, so 100 remain once they
    are dropped."""
    data = dataclasses.replace(toy_text_dataset(n_train=60, n_test=10, num_labels=20),
                               filter_test=np.array([[0, 1], [0, 2], [1, 3]], dtype=np.int64))
    asked = {}

    def fake(d, n_trees, k, threads):
        asked["k"] = k
        return torch.arange(k).repeat(d.Y_test.shape[0], 1) % 20, 1.0, 0.5
    monkeypatch.setattr(peers, "parabel_topk", fake)
    peers.peer_rows(data, n_trees=1)
    assert asked["k"] == 102
