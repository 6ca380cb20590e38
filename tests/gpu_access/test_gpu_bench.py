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


@pytest.mark.parametrize("profile", ["cpu", "gpu", "gpu_large"])
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


@pytest.mark.parametrize("profile", ["gpu", "gpu_large"])
def test_gpu_profiles_measure_both_regimes_within_the_memory_cap(profile):
    """Some R-MAT graph's features fit the emulated GPU (the gpu store and auto -> gpu run) and one's do not
    (the over-memory targets become measurable); a batch's input rows, taken ~4 times (rows, zero-copy's scatter
    copy, aggregation, gradients), fit the cap. Not proven: the run time (estimated in the yaml comments)."""
    values = yaml.safe_load((REPO / "notebooks" / "params" / "gpu_data_access" / f"{profile}.yaml").read_text())
    cfg = from_dict(GPUAccessConfig, values)
    gib = [float(g[5:]) for g in cfg.graphs if g.startswith("rmat:")]
    assert min(gib) < cfg.gpu_fit_fraction * cfg.gpu_memory_gib < cfg.gpu_memory_gib < max(gib)
    rows = cfg.batch_size
    for f in cfg.fanouts:
        rows *= f + 1
    assert 4 * rows * cfg.rmat_num_features * 4 < cfg.gpu_memory_gib * 2**30


def test_end_to_end_records_out_of_memory_and_goes_on(monkeypatch):
    """A GPU running out of memory for the batches or the CSR is a status row, not a failed study; the other
    graphs and stores still run. (Simulated: the CPU cannot run out of GPU memory.)"""
    from workbench.gpu_access import experiments
    real_train, real_sampler = experiments.train_graphsage, experiments.make_sampler
    calls = []

    def train(graph, sampler, store, *args, **kwargs):
        calls.append(graph.name)
        if graph.name == "rmat:0.0002":
            raise torch.OutOfMemoryError("simulated")
        return real_train(graph, sampler, store, *args, **kwargs)

    def sampler(*args, **kwargs):
        if args[1].numel() == 2709:  # Cora's indptr: its CSR "does not fit"
            raise torch.OutOfMemoryError("simulated")
        return real_sampler(*args, **kwargs)

    monkeypatch.setattr(experiments, "train_graphsage", train)
    monkeypatch.setattr(experiments, "make_sampler", sampler)
    cfg = from_dict(GPUAccessConfig, {"graphs": ["cora", "rmat:0.0002", "rmat:0.0001"], "stores": ["cpu"],
                                      "epochs": 1, "max_train_nodes": 64, "max_eval_nodes": 64})
    epochs, status = end_to_end(cfg, torch.device("cpu"), progress=False)
    assert status.set_index("graph").status.to_dict() == {
        "cora": "graph structure does not fit in GPU memory", "rmat:0.0002": "out of GPU memory while training",
        "rmat:0.0001": "ran"}
    assert set(epochs.graph) == {"rmat:0.0001"} and calls == ["rmat:0.0002", "rmat:0.0001"]
