"""The GNN study's printed notes on its own precision, on a hand-made summary. Does not prove the prose reads
right."""
import pandas as pd

from workbench.gpu_access.verdicts import cpu_tick_line, noise_lines


def test_same_store_as_cpu_is_reported_as_noise():
    summary = pd.DataFrame({"graph": ["cora", "cora", "rmat"], "store": ["cpu", "auto", "auto"],
                            "chosen": ["cpu", "cpu", "zero_copy"], "speedup_vs_cpu": [1.0, 0.88, 1.5],
                            "cpu_time_ratio": [1.0, 0.9, 0.5], "cpu_s": [0.04, 0.05, 0.02]})
    lines = noise_lines(summary)
    assert len(lines) == 2 and lines[0].startswith("cora: auto ran the same store as cpu (cpu)")
    assert "within 14% of the cpu store's" in lines[1]  # 1 / 0.88 - 1; rmat's auto chose another store
    assert noise_lines(summary.iloc[:0]) == []
    tick = cpu_tick_line(summary)
    assert "ms clock ticks" in tick and "0.02 s" in tick  # Linux (os.sysconf)
