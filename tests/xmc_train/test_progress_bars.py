"""Long loops of the study show a tqdm bar (on stderr outside a notebook); short ones stay quiet, and the memory
sweep's bar does not change its rows (an out-of-memory batch size still ends that sampler's sweep).

Does not prove: how the bars look in a notebook (tqdm.auto draws a widget there).
"""
from __future__ import annotations

import pytest
import torch

from workbench.xmc_train import stages, study
from workbench.xmc_train.encoders import get_encoder, tokenize
from workbench.xmc_train.models import XMCModel


def test_embed_all_bar_only_for_many_chunks(capsys):
    enc = get_encoder("tiny", 0)
    table = tokenize(enc.tokenizer, [f"package {i} library" for i in range(12)], 12)
    XMCModel(enc, table, table, encode_batch=4).embed_all(table)  # 3 chunks
    assert "encode:" not in capsys.readouterr().err
    XMCModel(enc, table, table, encode_batch=1).embed_all(table)  # 12 chunks
    assert "encode:" in capsys.readouterr().err


def test_memory_sweep_bar_and_oom_rows(monkeypatch, capsys):
    def fake_train(cfg, prep, name, *, batch_size, **_):
        if name == "b" and batch_size >= 64:
            raise torch.OutOfMemoryError("fake")
        row = {"loss": 1.0, "steps": 1, "sample_s": 0.05, "encode_s": 0.1, "loss_s": 0.05, "backward_s": 0.1,
               "peak_mem_mib": float(batch_size), "tokens_per_step": 10 * batch_size}
        return [row, row], None, None
    monkeypatch.setattr(stages, "train_sampler", fake_train)
    cfg = study.NegativeMiningConfig(memory_batch_sizes=[128, 32, 64])
    rows = stages.memory_sweep(cfg, None, ["a", "b"])
    assert [(r["sampler"], r["batch_size"], r["oom"]) for r in rows] == [
        ("a", 32, False), ("a", 64, False), ("a", 128, False), ("b", 32, False), ("b", 64, True)]
    assert rows[0]["step_s"] == pytest.approx(0.3) and "memory sweep" in capsys.readouterr().err


def test_memory_sweep_reads_peaks_over_steps_and_times_the_steps_after_the_first(monkeypatch):
    """Three one-step rows of 0.9 (a cold first step), 0.3 and 0.5 s with peaks 10, 30 and 20 MiB: step_s is the
    median of the steps after the first, 0.4 (the mean of all three: 0.57), the peak 30 MiB, tokens the mean; on a
    CPU (peaks NaN) the peak stays NaN. The trainer is asked for one row per step."""
    asked = []

    def fake_train(cfg, prep, name, *, batch_size, log_every, **_):
        asked.append(log_every)
        mib = [10.0, 30.0, 20.0] if name == "gpu" else [float("nan")] * 3
        return [{"loss": 1.0, "steps": 1, "sample_s": 0.0, "encode_s": t, "loss_s": 0.0, "backward_s": 0.0,
                 "peak_mem_mib": m, "tokens_per_step": k} for t, m, k in zip((0.9, 0.3, 0.5), mib, (1, 2, 6))], 0, 0
    monkeypatch.setattr(stages, "train_sampler", fake_train)
    rows = stages.memory_sweep(study.NegativeMiningConfig(memory_batch_sizes=[8], memory_steps=3), None, ["gpu", "cpu"])
    assert asked == [1, 1]
    assert (rows[0]["step_s"], rows[0]["peak_mem_mib"], rows[0]["tokens_per_step"]) == pytest.approx((0.4, 30.0, 3.0))
    assert rows[1]["peak_mem_mib"] != rows[1]["peak_mem_mib"]


def test_memory_sweep_drops_each_model_before_the_next_measurement(monkeypatch):
    """lsh's sampler holds the model it samples for: a sweep that kept the (rows, model, sampler) of the last pair
    measured the next pair's peak with the earlier model still allocated. At each release (the gc pass before a
    measurement) no earlier model is alive."""
    import gc
    import weakref

    class Model(torch.nn.Module):
        pass

    models, alive_at_release = [], []

    def fake_train(cfg, prep, name, **_):
        model = Model()
        sampler = type("Sampler", (), {"view": model})()  # a sampler bound to its model, as lsh's is
        models.append(weakref.ref(model))
        return [{"loss": 1.0, "steps": 1, "sample_s": 0.0, "encode_s": 0.1, "loss_s": 0.0, "backward_s": 0.0,
                 "peak_mem_mib": 1.0, "tokens_per_step": 1}], model, sampler

    def release():
        gc.collect()
        alive_at_release.append(sum(m() is not None for m in models))
    monkeypatch.setattr(stages, "train_sampler", fake_train)
    monkeypatch.setattr(stages, "release_cuda_memory", release)
    stages.memory_sweep(study.NegativeMiningConfig(memory_batch_sizes=[8, 16, 32]), None, ["lsh"])
    assert alive_at_release == [0, 0, 0]
