"""The GNN study's printed notes on its own precision, on a hand-made summary. Does not prove the prose reads
right."""
import pandas as pd
import pytest

from workbench.gpu_access.verdicts import BASELINE, baseline_lines, cpu_tick_line, noise_lines


def test_same_store_as_cpu_is_reported_as_noise():
    summary = pd.DataFrame({"graph": ["cora", "cora", "rmat"], "store": ["cpu", "auto", "auto"],
                            "chosen": ["cpu", "cpu", "zero_copy"], "speedup_vs_cpu": [1.0, 0.88, 1.5],
                            "cpu_time_ratio": [1.0, 0.9, 0.5], "cpu_s": [0.04, 0.05, 0.02]})
    lines = noise_lines(summary)
    assert len(lines) == 2 and lines[0].startswith("cora: auto ran the same store as cpu (cpu)")
    assert "within 14% of the cpu store's" in lines[1]  # 1 / 0.88 - 1; rmat's auto chose another store
    assert noise_lines(summary.iloc[:0]) == []
    tick = cpu_tick_line(summary)
    assert "ms clock ticks" in tick and "0.020 s" in tick  # Linux (os.sysconf)


def test_cpu_sampler_baseline_is_not_noise_and_gets_its_own_lines():
    summary = pd.DataFrame({"graph": ["g"] * 3, "store": ["cpu", "zero_copy", BASELINE],
                            "chosen": ["cpu", "zero_copy", "cpu"], "speedup_vs_cpu": [1.0, 1.3, 0.5],
                            "cpu_time_ratio": [1.0, 0.6, 2.0], "epoch_s": [2.0, 1.5, 4.0]})
    assert noise_lines(summary) == []   # the baseline runs the cpu store with another sampler: not noise
    assert baseline_lines(summary) == ["g: against the CPU sampling and gathering (4 s an epoch), cpu 2.00x as "
                                       "fast, zero_copy 2.67x as fast"]
    assert baseline_lines(summary[summary.store != BASELINE]) == []


def test_end_to_end_adds_the_baseline_per_graph_where_the_sampler_is_not_cpu(monkeypatch):
    """The wiring only (no GPU here): with a gpu sampler, every graph also trains the cpu store with the cpu
    sampler, its rows relabelled; with the cpu sampler there is nothing to add. Does not prove any timing."""
    from workbench.gpu_access import experiments
    from workbench.gpu_access.study import GPUAccessConfig
    calls = []

    def fake_train(cfg, device, spec, graph, name, sampler, *rest):
        calls.append((spec, name, sampler))
        return [{"graph": spec, "store": name, "epoch": 0}], {"graph": spec, "store": name, "status": "ran"}
    monkeypatch.setattr(experiments, "_train_store", fake_train)
    monkeypatch.setattr(experiments, "load_graph", lambda *a, **k: None)
    cfg = GPUAccessConfig(graphs=["cora"], stores=["cpu"], cpu_sampler_baseline=True)
    monkeypatch.setattr(experiments, "_sampler_name", lambda cfg, device: "gpu")
    epochs, status = experiments.end_to_end(cfg, experiments.torch.device("cpu"), progress=False)
    assert calls == [("cora", "cpu", "gpu"), ("cora", "cpu", "cpu")]
    assert list(epochs.store) == ["cpu", BASELINE] and list(status.store) == ["cpu", BASELINE]
    monkeypatch.setattr(experiments, "_sampler_name", lambda cfg, device: "cpu")
    calls.clear()
    experiments.end_to_end(cfg, experiments.torch.device("cpu"), progress=False)
    assert calls == [("cora", "cpu", "cpu")]


def test_cpu_seconds_are_averaged_over_epochs_not_taken_as_a_median_of_ticks():
    """Per-epoch CPU time is whole 10 ms ticks: the median of (10, 20, 20) ms and of (10, 10, 20) ms would differ
    by a full tick; their means keep the 1/3 tick between them. Does not prove psutil's ticks are 10 ms here."""
    from workbench.gpu_access.experiments import summarize
    rows = [{"graph": "g", "store": s, "chosen": s, "epoch": e, "epoch_s": 0.05, "sample_s": 0.01, "gather_s": 0.01,
             "compute_s": 0.03, "cpu_s": c, "energy_j": float("nan"), "val_acc": 0.5, "test_acc": 0.5}
            for s, cs in (("cpu", (0.5, 0.01, 0.02, 0.02)), ("zero_copy", (0.5, 0.01, 0.01, 0.02)))
            for e, c in enumerate(cs)]
    out = summarize(pd.DataFrame(rows)).set_index("store")
    assert out.loc["cpu", "cpu_s"] == pytest.approx(0.05 / 3)
    assert out.loc["zero_copy", "cpu_s"] == pytest.approx(0.04 / 3)
    assert out.loc["zero_copy", "cpu_time_ratio"] == pytest.approx(0.8)  # the medians would say 0.5
