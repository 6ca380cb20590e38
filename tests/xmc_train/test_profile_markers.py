"""The operator profile leaves no Kineto start/stop lines on stderr (they stood in the gpu_diag report), and keeps
whatever else was written to fd 2 meanwhile."""
from __future__ import annotations

import os

from workbench.xmc_train.profile import _without_kineto_markers, step_profile
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.xmc_train.toy import toy_text_dataset


def test_markers_dropped_other_fd2_output_kept(capfd):
    with _without_kineto_markers():
        os.write(2, b"USDT:2026-11-24 05:29:45 1507:1507 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"a real warning\n")
    err = capfd.readouterr().err
    assert "a real warning" in err and "USDT" not in err


def test_step_profile_writes_no_markers(capfd):
    cfg = NegativeMiningConfig(samplers=["in_batch"], epochs=1, batch_size=16, max_length=12, device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=64, n_test=16, num_labels=12))
    rows = step_profile(cfg, prep, "in_batch", steps=2, warmup=1, top=3)
    assert len(rows) == 3
    assert "USDT" not in capfd.readouterr().err
