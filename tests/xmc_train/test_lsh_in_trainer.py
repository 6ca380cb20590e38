"""The ``lsh`` sampler inside the XMC trainer, built through the study's options (tiny BERT, toy text data).

Proves: it trains the dual encoder and the classifier for a few steps with finite losses, reads its vectors from
the model the trainer binds (DE label embeddings, or classifier rows for a classifier-only model), and never
returns a positive of the query as a valid negative; an interrupted run resumes (the trainer binds the model, so
the sampler needs no epoch-start refresh); options for the wrong sampler raise. Does not prove that
LSH negatives are harder than uniform ones or any accuracy (the lsh_sampling study measures that).
"""
from __future__ import annotations

import io
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
from workbench.xmc_train.train_config import TrainConfig
from workbench.xmc_train.trainer import Trainer

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


@pytest.mark.parametrize("heads,scheme", [("de", "embedding"), ("clf", "label")])
def test_lsh_resume_reproduces_losses(tmp_path, heads, scheme):
    """A run interrupted mid-epoch and resumed from its checkpoint (into a model of another init, so everything
    must come from the checkpoint) logs exactly the uninterrupted run's losses on CPU. The schedule makes the
    resumed steps use the restored tables and snapshot (step 5: tables of the redraw at 4), the restored reservoir
    generator (rehash at 7) and the restored hash-function generator (redraw at 8); the epoch-start refresh at
    step 6 runs too. Does not prove GPU determinism (atomics)."""
    # cap 4 < 40 labels / 8 buckets: full buckets, so the reservoir shuffle (its generator) decides the tables
    cfg = NegativeMiningConfig(lsh_bits=3, lsh_tables=4, lsh_bucket_cap=4, lsh_scheme=scheme, lsh_rehash_every=3,
                               lsh_redraw_every=4, logq=True)
    tables = [tokenize(get_encoder("tiny", 0).tokenizer, t, 12, cache_dir=tmp_path)
              for t in (DATA.train_texts, DATA.label_texts)]
    tcfg = TrainConfig(epochs=2, batch_size=16, lr=1e-3, log_every=1, checkpoint_steps=5, device="cpu")
    loss = build_loss("softmax", temperature=0.05, logq=True)

    def trainer(seed=0, fail_at=0, ckpt=tmp_path / "ck.pt"):
        model = XMCModel(get_encoder("tiny", seed), *tables, heads=heads)
        model.init_classifier()
        s = Recorder(build_sampler("lsh", DATA.Y_train, cfg.sampler_config(), **cfg.sampler_options("lsh")))
        if fail_at:
            inner_sample = s.sample
            s.sample = lambda q, g: (_ for _ in ()).throw(Boom()) if len(s.seen) == fail_at else inner_sample(q, g)
        return Trainer(model, s, loss, tcfg, checkpoint=ckpt, progress=False)

    ref = trainer(ckpt=None).run()
    with pytest.raises(Boom):
        trainer(fail_at=7).run()                                  # crashes at step 7; checkpoint at step 5
    resumed = trainer(seed=99)
    rows = resumed.run()
    assert [r["step"] for r in rows] == [r["step"] for r in ref] and len(ref) == 12
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref]
    what = [(c["what"], c["step"]) for c in resumed.sampler.inner.costs]
    assert ("rehash", 7) in what and ("redraw", 8) in what and ("rehash", 5) not in what  # restored, not rebuilt
    assert all(t.device.type == "cpu" for t in resumed.sampler.state_dict()["index"]["tables"].values()
               if isinstance(t, torch.Tensor))


@with_cuda
@pytest.mark.parametrize("family", ["simhash", "dwta"])
@pytest.mark.parametrize("center", [False, True])
def test_lsh_state_round_trip(device, family, center):
    """Sampler alone (vectors from callables on ``device``): state_dict holds only CPU tensors; a fresh sampler
    loaded from it (through torch.save, as the trainer does) draws the same batches as the original from the
    same generator, rehash and redraw included (with centring, log_q needs the restored offset). Same device both
    sides, so deterministic kernels suffice."""
    from workbench.lsh.params import LSHParams
    g = torch.Generator().manual_seed(0)
    W = torch.randn(40, 16, generator=g).to(device)
    Q = torch.randn(96, 16, generator=g).to(device)
    p = LSHParams(family=family, K=3, L=4, cap=4, bin_size=4, rehash_every=2, redraw_every=3, center=center)

    def sampler():
        return build_sampler("lsh", DATA.Y_train, SamplerConfig(num_negatives=6), lsh=p,
                             label_vectors=lambda ids: W if ids is None else W[ids.to(device)],
                             query_vectors=lambda ids: Q[ids.to(device)])

    a, gen = sampler(), torch.Generator().manual_seed(1)
    a.refresh(None, 0, 0)
    for _ in range(4):
        a.sample(torch.arange(16), gen)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    state = torch.load(io.BytesIO(buf.getvalue()), map_location="cpu", weights_only=False)
    assert all(t.device.type == "cpu" for part in ("family", "tables") for t in state["index"][part].values()
               if isinstance(t, torch.Tensor)) and state["index"]["snapshot"].device.type == "cpu"
    b = sampler()
    b.load_state_dict(state)
    g_b = torch.Generator().manual_seed(0)
    g_b.set_state(gen.get_state())
    for step in range(4):
        x, y = a.sample(torch.arange(16) + 16 * step, gen), b.sample(torch.arange(16) + 16 * step, g_b)
        assert torch.equal(x.pool, y.pool) and torch.equal(x.candidates, y.candidates)
        assert torch.equal(x.log_q, y.log_q) and torch.equal(x.valid, y.valid)
    assert b.index.tables.ids.device == W.device and [c["step"] for c in b.costs] == [c["step"] for c in a.costs]
