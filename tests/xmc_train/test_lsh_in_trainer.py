"""The ``lsh`` sampler inside the XMC trainer, built through the study's options (tiny BERT, toy text data).

Proves: it trains the dual encoder and the classifier for a few steps with finite losses, reads its vectors from
the model the trainer binds (DE label embeddings, or classifier rows for a classifier-only model), and never
returns a positive of the query as a valid negative; an interrupted run resumes (the trainer binds the model, so
the sampler needs no epoch-start refresh); options for the wrong sampler raise. Does not prove that
LSH negatives are harder than uniform ones or any accuracy (the lsh_sampling study measures that).
"""
from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import with_cuda
from workbench.samplers import SamplerConfig, build_sampler
from workbench.xmc_train.encoders import get_encoder, tokenize
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.models import XMCModel
from workbench.xmc_train.study import NegativeMiningConfig
from workbench.xmc_train.toy import toy_text_dataset
from workbench.xmc_train.trainer import TrainConfig, Trainer

DATA = toy_text_dataset(n_train=96, n_test=20, num_labels=40)


class Recorder:
    """Wraps a sampler and keeps every batch it returns."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __getattr__(self, k):
        return getattr(self.inner, k)

    def sample(self, q, g):
        b = self.inner.sample(q, g)
        self.seen.append(b)
        return b


@with_cuda
@pytest.mark.parametrize("heads,scheme", [("de", "embedding"), ("clf", "label")])
def test_lsh_trains_in_trainer(tmp_path, heads, scheme, device):
    cfg = NegativeMiningConfig(samplers=["lsh"], num_negatives=6, lsh_bits=3, lsh_tables=4, lsh_scheme=scheme,
                               lsh_rehash_every=2, logq=True, seed=1)
    cfg.validate()
    enc = get_encoder("tiny", 0)
    model = XMCModel(enc, tokenize(enc.tokenizer, DATA.train_texts, 12, cache_dir=tmp_path),
                     tokenize(enc.tokenizer, DATA.label_texts, 12, cache_dir=tmp_path), heads=heads)
    model.init_classifier()
    sampler = Recorder(build_sampler("lsh", DATA.Y_train, cfg.sampler_config(), **cfg.sampler_options("lsh")))
    tcfg = TrainConfig(epochs=1, max_steps=5, batch_size=16, lr=1e-3, log_every=1, device=device)
    rows = Trainer(model, sampler, build_loss("softmax", temperature=0.05, logq=True), tcfg, progress=False).run()
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 5 and all(math.isfinite(x) for x in losses)
    assert sampler.inner.view is model and [c["what"] for c in sampler.inner.costs].count("rehash") >= 2
    Y = DATA.Y_train.tocsr()
    for b in sampler.seen:
        labels = b.pool[b.candidates]                     # (B, K) label ids
        neg = b.valid & ~b.targets
        assert neg.any(1).all(), "every query got negatives"
        for i, q in enumerate(b.queries.tolist()):
            positives = set(Y.indices[Y.indptr[q]:Y.indptr[q + 1]].tolist())
            assert not positives & set(labels[i][neg[i]].tolist())
            assert set(labels[i][b.targets[i]].tolist()) <= positives and b.targets[i].any()
        assert torch.isfinite(b.log_q[neg]).all() and (b.log_q[neg] <= 0).all()


def test_lsh_options_only_for_lsh():
    cfg = NegativeMiningConfig()
    assert cfg.sampler_options("in_batch") == {}
    with pytest.raises(TypeError, match="options"):
        build_sampler("uniform", DATA.Y_train, SamplerConfig(), **NegativeMiningConfig().sampler_options("lsh"))
    with pytest.raises(ValueError, match="scheme"):
        NegativeMiningConfig(lsh_scheme="nope").validate()


class Boom(Exception):
    pass


def test_lsh_resumes_from_checkpoint(tmp_path):
    """A run interrupted mid-epoch resumes (no epoch-start refresh runs then: the sampler reads the model the
    trainer bound) and finishes with finite losses. Not bit-identical to an uninterrupted run: the tables are
    rebuilt from the restored model at the resume step."""
    cfg = NegativeMiningConfig(lsh_bits=3, lsh_tables=4, lsh_rehash_every=3)
    enc = get_encoder("tiny", 0)
    tables = [tokenize(enc.tokenizer, t, 12, cache_dir=tmp_path) for t in (DATA.train_texts, DATA.label_texts)]
    tcfg = TrainConfig(epochs=1, batch_size=16, lr=1e-3, log_every=1, checkpoint_steps=2, device="cpu")
    loss = build_loss("softmax", temperature=0.05)

    def trainer(fail_at=0):
        model = XMCModel(enc, *tables)
        s = Recorder(build_sampler("lsh", DATA.Y_train, cfg.sampler_config(), **cfg.sampler_options("lsh")))
        if fail_at:
            inner_sample = s.sample
            s.sample = lambda q, g: (_ for _ in ()).throw(Boom()) if len(s.seen) == fail_at else inner_sample(q, g)
        return Trainer(model, s, loss, tcfg, checkpoint=tmp_path / "ck.pt", progress=False)

    with pytest.raises(Boom):
        trainer(fail_at=3).run()
    rows = trainer().run()
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
