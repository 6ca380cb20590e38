"""Microbenchmark plumbing, the study config, the parameter files and the end-to-end table on tiny inputs.

Not proven: that the numbers mean anything on this shared 2-core machine (the GPU run measures them).
"""
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from workbench.config import ConfigError, from_dict
from workbench.gpu_access.bench import gather_sweep, h2d_bandwidth, make_table
from workbench.gpu_access.experiments import end_to_end, summarize
from workbench.gpu_access.study import GPUAccessConfig

REPO = Path(__file__).resolve().parents[2]


def test_make_table_row_sizes():
    t = make_table(1 << 16, 132)
    assert t[0].numel() * t.element_size() == 132 and t.dtype == torch.float32
    u = make_table(1 << 16, 129)
    assert u.dtype == torch.uint8 and u.shape[1] == 129 and int(u.min()) == 1


def test_sweep_rows_on_cpu():
    assert h2d_bandwidth(1 << 20, torch.device("cpu")) is None
    rows = gather_sweep(["cpu", "zero_copy", "auto"], [128, 132], [1 << 20], [256], ["random", "sorted"],
                        torch.device("cpu"), repeats=2, warmup=1, progress=False)
    df = pd.DataFrame(rows)
    ok = df[df.status == "ok"]
    assert len(ok) == 2 * 2 * 2 and (ok.gbps > 0).all()  # cpu + auto, 2 row sizes, 2 orders
    assert set(df[df.store == "zero_copy"].status) == {"needs CUDA"}
    assert set(ok[ok.row_bytes == 132].aligned) == {False}


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="known"):
        from_dict(GPUAccessConfig, {"stores": ["cpu", "nvme"]})
    with pytest.raises(ConfigError, match="fanouts"):
        from_dict(GPUAccessConfig, {"fanouts": [0]})
    with pytest.raises(ConfigError, match="unknown"):
        from_dict(GPUAccessConfig, {"batchsize": 3})


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_profiles_are_valid_configs(profile):
    values = yaml.safe_load((REPO / "notebooks" / "params" / "gpu_data_access" / f"{profile}.yaml").read_text()) or {}
    from_dict(GPUAccessConfig, values)


def test_end_to_end_table_on_tiny_graph():
    cfg = from_dict(GPUAccessConfig, {"graphs": ["rmat:0.0005"], "stores": ["cpu", "gpu", "auto"], "epochs": 2,
                                      "max_train_nodes": 256, "max_eval_nodes": 128, "torch_threads": 0})
    epochs, status = end_to_end(cfg, torch.device("cpu"), progress=False)
    assert set(status.status) == {"ran", "needs CUDA"}
    assert len(epochs) == 2 * 2 and (epochs.epoch_s > 0).all()
    summary = summarize(epochs)
    assert set(summary.store) == {"cpu", "auto"}
    assert summary.loc[summary.store == "cpu", "speedup_vs_cpu"].item() == pytest.approx(1.0)
