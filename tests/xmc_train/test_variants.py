"""Variants: extra runs of one sampler with parameters changed, in the same comparison. Toy data and the tiny
encoder on the CPU. Does not prove that a variant helps or hurts (see the study's reports)."""
from __future__ import annotations

import pytest

from workbench.config import from_dict
from workbench.xmc_train.compare import compare_samplers
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.xmc_train.toy import toy_text_dataset
from workbench.xmc_train.variants import parse_variants, variant_config


@pytest.mark.parametrize("item, match", [
    ("log_uniform", "sampler:field:value"), ("uniform:logq=true", "sampler:field:value"), ("nope:logq:true", "known"),
    ("uniform:logq:maybe", "takes a bool"), ("uniform:dataset:x", "cannot vary per run"),
    ("uniform:samplers:x", "cannot vary per run"), ("uniform:num_negatives:four", "takes an int"),
    ("uniform:num_negatives:-2", "num_negatives"), ("ngame:ngame_m4_epochs:3", "cannot vary per run"),
    ("ngame:logq:true", "does nothing under the 'triplet' loss"), ("uniform:margin:0.5", "does nothing"),
    # parameters the sampler never reads (unread_by): the run would repeat the sampler's own
    ("in_batch:num_negatives:16", r"in_batch never reads \['num_negatives'\]"), ("full:lsh_bits:4", "never reads"),
    ("ngame:remove_hits:false", "never reads"), ("unidec:heads:de", "never reads"),
    ("ance:label_cache_steps:5", "never reads"),
])
def test_bad_variants_raise(item, match):
    with pytest.raises(ValueError, match=match):
        from_dict(NegativeMiningConfig, {"variants": [item]})


def test_variant_config_changes_its_fields_drops_stages_and_its_loss_override():
    cfg = NegativeMiningConfig(samplers=["ngame", "uniform"], bce_stage_after=["ngame"])
    (v,) = parse_variants(["ngame:loss:softmax;cluster_start:3"], NegativeMiningConfig)
    assert v.label == "ngame loss=softmax cluster_start=3" and v.changes == {"loss": "softmax", "cluster_start": 3}
    vc = variant_config(cfg, v)
    assert vc.loss_for("ngame") == "softmax" and cfg.loss_for("ngame") == "triplet"   # loss_overrides had ngame:triplet
    assert vc.cluster_start == 3 and vc.bce_stage_after == [] and vc.ngame_m4_epochs == 0
    assert NegativeMiningConfig(samplers=["in_batch"]).variant_runs() == []   # log_uniform not compared: ignored
    assert parse_variants(["ance:logq:True"], NegativeMiningConfig)[0].label == "ance logq=true"   # typed, so that
    with pytest.raises(ValueError, match="twice"):                                                # one run is one label
        parse_variants(["ance:logq:True", "ance:logq:true"], NegativeMiningConfig)


def test_variant_trains_beside_its_sampler_under_its_label(tmp_path):
    cfg = NegativeMiningConfig(samplers=["log_uniform"], variants=["log_uniform:logq:true"], epochs=1, batch_size=32,
                               eval_every=0, max_length=12, device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=64, n_test=16, num_labels=30))
    res = compare_samplers(cfg, prep, progress=False, checkpoint_dir=tmp_path / "ck")
    runs = {s: [r for r in res.rows if r["sampler"] == s] for s in ("log_uniform", "log_uniform logq=true")}
    assert all(any("P@1" in r for r in rows) for rows in runs.values())
    loss = {s: [r["loss"] for r in rows if "loss" in r and r["loss"] == r["loss"]] for s, rows in runs.items()}
    # same start, same batches and draws: only the logQ correction differs, so the losses do
    assert loss["log_uniform"] and loss["log_uniform"][0] != pytest.approx(loss["log_uniform logq=true"][0])
    assert not (tmp_path / "ck").exists(), "checkpoints are removed when the comparison ends"
