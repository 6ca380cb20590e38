"""The notebook's parameters cell and the study's config class agree (names and defaults), and the gpu profile
builds a valid config. Does not run the notebook (nbval does)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.conftest import with_cuda
from workbench.config import ConfigError, from_dict
from workbench.notebooks import effective_parameters, load_profile, notebook_path, parameters
from workbench.xmc_train.stages import FUSION_ALPHAS
from workbench.xmc_train.study import NegativeMiningConfig

STUDY = "negative_mining"


def test_parameters_match_config_defaults():
    spec = parameters(notebook_path(STUDY))
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(NegativeMiningConfig)}
    assert set(spec) == set(defaults)
    values = effective_parameters(spec, {}, where="defaults")
    assert values == defaults


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_profiles_build(profile):
    spec = parameters(notebook_path(STUDY))
    values = effective_parameters(spec, load_profile(STUDY, profile), where=profile)
    from_dict(NegativeMiningConfig, values)


def test_bad_values_raise():
    with pytest.raises(ValueError, match="known"):
        from_dict(NegativeMiningConfig, {"samplers": ["nope"]})
    with pytest.raises(ValueError, match="sampler:loss"):
        from_dict(NegativeMiningConfig, {"loss_overrides": ["ngame"]})
    with pytest.raises(ConfigError):
        from_dict(NegativeMiningConfig, {"batch_sizes": 3})
    with pytest.raises(ValueError, match="fuse_alpha"):
        from_dict(NegativeMiningConfig, {"fuse_alpha": 1.5})
    with pytest.raises(ValueError, match="not among samplers"):
        from_dict(NegativeMiningConfig, {"samplers": ["in_batch"], "bce_stage_after": ["ance"]})
    for bad, match in [({"encoder": "bert"}, "encoder must be one of"), ({"dataset": "debian-tags"}, "variants"),
                       ({"dataset": "/no/such/dir"}, "nor a local directory;"), ({"margin": float("nan")}, "margin"),
                       ({"dataset": "no/such/dir"}, r"nor a local directory \(relative to /"),
                       ({"time_budget_s": float("nan")}, "time_budget_s"), ({"label_cache_steps": -1}, "label_cache")]:
        with pytest.raises(ValueError, match=match):
            from_dict(NegativeMiningConfig, bad)


def test_sampler_overrides_apply_to_their_sampler_only():
    cfg = from_dict(NegativeMiningConfig, {"cluster_start": 10, "sampler_overrides": [
        "unidec:cluster_start=5", "unidec:hard_per_query=3", "ance:shortlist_size=7"]})
    assert cfg.sampler_config("unidec").cluster_start == 5 and cfg.sampler_config("unidec").hard_per_query == 3
    assert cfg.sampler_config("ngame").cluster_start == 10 and cfg.sampler_config("ngame").hard_per_query == 2
    assert cfg.sampler_config("ance").shortlist_size == 7 and cfg.sampler_config().shortlist_size == 50


@pytest.mark.parametrize("item, match", [
    ("unidec", "sampler:field=value"), ("unidec:cluster_start", "sampler:field=value"),
    ("nope:cluster_start=5", "known"), ("unidec:cluster_begin=5", "not a SamplerConfig field"),
    ("unidec:cluster_start=five", "takes an int"), ("ance:remove_hits=yes", "takes a bool"),
    ("unidec:cluster_start=-1", "cluster_start"),
    # fields the sampler never reads: the run would be the same
    ("unidec:remove_hits=false", r"unidec never reads remove_hits"), ("ngame:num_negatives=16", "never reads"),
    ("full:shortlist_size=7", "never reads"),
])
def test_bad_sampler_overrides_raise(item, match):
    with pytest.raises(ValueError, match=match):
        from_dict(NegativeMiningConfig, {"sampler_overrides": [item]})


def test_compare_samplers_on_toy(tmp_path):
    from workbench.xmc_train.compare import compare_samplers
    from workbench.xmc_train.study import prepare
    from workbench.xmc_train.toy import toy_text_dataset
    cfg = NegativeMiningConfig(samplers=["in_batch", "ngame"], epochs=2, batch_size=32, eval_every=4, max_length=12,
                               cluster_start=1, cluster_size_max=8, bce_stage_after=["in_batch"], device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=100, n_test=30, num_labels=25))
    res = compare_samplers(cfg, prep, progress=False, checkpoint_dir=tmp_path / "ck")
    samplers = {r["sampler"] for r in res.rows}
    assert samplers == {"in_batch", "in_batch +BCE clf", "ngame", "ngame M-IV"}
    headline = [(h["sampler"], h["head"], h["alpha"]) for h in res.heads if h["headline"]]
    assert headline == [(s, h, a) for s in ("in_batch +BCE clf", "ngame M-IV")
                        for h, a in (("clf", 0.0), ("fused", cfg.fuse_alpha), ("de", 1.0))]
    sweep = [h["alpha"] for h in res.heads if h["sampler"] == "ngame M-IV"]
    assert sweep == sorted(FUSION_ALPHAS), "the sweep: every alpha once, ascending (fuse_alpha 0.5 is among them)"
    # the reported fusion is the trainer's own final evaluation (same alpha, same metrics)
    m4 = next(h for h in res.heads if h["sampler"] == "ngame M-IV" and h["head"] == "fused" and h["headline"])
    assert m4["P@1"] == pytest.approx([r for r in res.rows if r["sampler"] == "ngame M-IV" and "P@1" in r][-1]["P@1"])
    bce = [r for r in res.rows if r["sampler"] == "in_batch +BCE clf"]
    in_batch = [r for r in res.rows if r["sampler"] == "in_batch"]
    assert bce[0]["wall_s"] >= in_batch[-1]["wall_s"], "the stage's curve continues the encoder's"
    assert {r["loss_fn"] for r in bce} == {"bce"}
    # the stage's DE head is the trained in_batch encoder, unchanged by the stage (frozen)
    de = next(h for h in res.heads if h["sampler"] == "in_batch +BCE clf" and h["head"] == "de")
    assert de["P@1"] == pytest.approx([r for r in in_batch if "P@1" in r][-1]["P@1"])
    assert [s["cluster_size"] for s in res.schedule] == [1, 2]
    assert not (tmp_path / "ck").exists(), "checkpoints are removed once the comparison is complete"


def test_epochs_trained_counts_epochs_reached():
    from workbench.xmc_train.stages import epochs_trained
    rows = [{"step": 0, "P@1": 1.0}, {"step": 4, "loss": 1.0}, {"step": 5, "loss": 1.0}, {"step": 5, "P@1": 2.0}]
    assert epochs_trained(rows, n_queries=100, batch_size=32) == 2  # 4 steps an epoch; step 5 is in epoch 2
    assert epochs_trained(rows[:2], n_queries=100, batch_size=32) == 1
    assert epochs_trained(rows[:1], n_queries=100, batch_size=32) == 0


@with_cuda
def test_build_model_initialises_classifier_on_device(device):
    # the label encoding of init_classifier must run on the study's device, not on the CPU of a GPU run
    from workbench.xmc_train.stages import build_model
    from workbench.xmc_train.study import prepare
    from workbench.xmc_train.toy import toy_text_dataset
    cfg = NegativeMiningConfig(heads="de+clf", max_length=12, device=device, classifier_form="free")
    prep = prepare(cfg, toy_text_dataset(n_train=20, n_test=5, num_labels=10))
    model = build_model(cfg, prep)
    assert model.device.type == torch.device(device).type
    assert model.classifier.device.type == torch.device(device).type
    assert model.classifier.abs().sum() > 0  # free rows: initialised from the label embeddings


def test_classifier_created_on_the_encoders_device():
    """Without a GPU: an encoder on the `meta` device stands in for one on `cuda`; the classifier must follow it
    (it was created on the CPU). Does not prove: anything about real CUDA allocation."""
    from workbench.xmc.encoder import tiny_encoder
    from workbench.xmc_train.models import XMCModel
    from workbench.xmc_train.study import prepare
    from workbench.xmc_train.toy import toy_text_dataset
    prep = prepare(NegativeMiningConfig(max_length=12), toy_text_dataset(n_train=20, n_test=5, num_labels=10))
    model = XMCModel(tiny_encoder(0).to("meta"), prep.train, prep.labels, heads="de+clf")
    assert model.classifier.device.type == "meta"


def test_compare_samplers_reads_finished_samplers_back(tmp_path, monkeypatch):
    """A resumed run (workbench.resume) gets each sampler's rows, head rows and stages back without training."""
    from workbench.resume import UnitStore
    from workbench.xmc_train import compare
    from workbench.xmc_train.study import prepare
    from workbench.xmc_train.toy import toy_text_dataset
    cfg = NegativeMiningConfig(samplers=["in_batch"], epochs=1, batch_size=32, eval_every=4, max_length=12,
                               bce_stage_after=["in_batch"], bce_stage_epochs=1, device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=64, n_test=16, num_labels=12))
    first = compare.compare_samplers(cfg, prep, progress=False, memo=UnitStore(tmp_path, announce=None))

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the sampler's unit was finished")
    monkeypatch.setattr(compare, "train_sampler", no_training)
    seen = []
    again = compare.compare_samplers(cfg, prep, progress=False, memo=UnitStore(tmp_path, announce=None),
                                     on_rows=seen.append)
    import pandas as pd  # rows hold NaN (no CUDA memory on a CPU): compare as frames
    for a, b in ((again.rows, first.rows), (again.heads, first.heads), (again.schedule, first.schedule)):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    assert [r["sampler"] for b in seen for r in b[:1]] == ["in_batch", "in_batch +BCE clf"]


@pytest.mark.parametrize("bad,message", [
    ({"lr": 0.0}, "lr must be a finite number > 0"), ({"n_train": -5}, r"n_train must be >= 0 \(0: all\)"),
    ({"max_length": 0}, "max_length must be >= 2"), ({"memory_batch_sizes": [0, 32]}, "memory_batch_sizes"),
    ({"ngame_m4_epochs": -1}, "no M-IV stage"), ({"time_budget_s": -1.0}, "time_budget_s must be >= 0"),
    ({"temperature": 0.0}, "temperature"),
    ({"eval_every": -1}, r"eval_every must be >= 0 \(0: at the start and the end only\)"),
])
def test_config_rejects_out_of_range_values(bad, message):
    with pytest.raises(ValueError, match=message):
        from_dict(NegativeMiningConfig, bad)
    from_dict(NegativeMiningConfig, {"memory_batch_sizes": [], "eval_every": 0, "n_train": 0})  # allowed values


def test_unidec_pool_cap_below_a_batch_size_is_refused_before_any_training():
    """UniDEC's pool must hold one positive per query of a batch: a smaller pool_cap used to fail at its first
    batch, after every sampler before it had trained. The memory sweep's batch sizes count too."""
    msg = r"unidec: pool_cap \(100\) must be at least the largest batch \(128"
    with pytest.raises(ValueError, match=msg):
        from_dict(NegativeMiningConfig, {"pool_cap": 100, "batch_size": 64, "memory_batch_sizes": [32, 128]})
    with pytest.raises(ValueError, match=msg):
        from_dict(NegativeMiningConfig, {"sampler_overrides": ["unidec:pool_cap=100"]})
    from_dict(NegativeMiningConfig, {"pool_cap": 100, "batch_size": 64, "memory_batch_sizes": [32, 64]})
    from_dict(NegativeMiningConfig, {"pool_cap": 100, "samplers": ["ngame", "in_batch"]})  # no unidec: no bound
    from_dict(NegativeMiningConfig, {"pool_cap": 64, "n_train": 50})  # batches of 50 at most
    # a variant runs no memory sweep: only its batch_size counts
    from_dict(NegativeMiningConfig, {"variants": ["unidec:pool_cap:128"], "memory_batch_sizes": [32, 1024]})
