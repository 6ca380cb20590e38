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
        row = {"loss": 1.0, "steps": 2, "sample_s": 0.1, "encode_s": 0.2, "loss_s": 0.1, "backward_s": 0.2,
               "peak_mem_mib": float(batch_size), "tokens_per_step": 10 * batch_size}
        return [row], None, None
    monkeypatch.setattr(stages, "train_sampler", fake_train)
    cfg = study.NegativeMiningConfig(memory_batch_sizes=[128, 32, 64])
    rows = stages.memory_sweep(cfg, None, ["a", "b"])
    assert [(r["sampler"], r["batch_size"], r["oom"]) for r in rows] == [
        ("a", 32, False), ("a", 64, False), ("a", 128, False), ("b", 32, False), ("b", 64, True)]
    assert rows[0]["step_s"] == pytest.approx(0.3) and "memory sweep" in capsys.readouterr().err
