"""The negative-mining study's printed verdicts and the throughput table's sequences per step, on hand-made
tables. Does not prove the prose around them reads right."""
import pandas as pd

from workbench.xmc_train.tables import throughput_table
from workbench.xmc_train.verdicts import throughput_verdict, unidec_verdict


def test_sequences_per_step_and_like_for_like_verdict():
    # full: 1000 seqs/s over 2 steps of 1 s encode+loss+backward = 500 per step; in_batch: 200 per step
    rows = pd.DataFrame({"sampler": ["full", "in_batch"], "seqs_per_s": [1000.0, 400.0], "seq_len": [12, 12],
                         "encode_s": [1.5, 0.5], "loss_s": [0.25, 0.25], "backward_s": [0.25, 0.25],
                         "steps": [4, 2]})
    t = throughput_table(rows, bare_seqs_per_s=800.0, bare_length=12)
    assert t.set_index("sampler")["seqs per step"].to_dict() == {"full": 500, "in_batch": 200}
    lines = throughput_verdict(t, batch_size=100)
    assert lines[0] == "ratio above 1: 1 of 2 samplers: full 1.25 at 500 sequences per step"
    assert lines[1].endswith("like for like (<= 250 sequences per step): in_batch 0.50")
    assert "bigger encoder calls" in lines[2]


def test_unidec_verdict_says_what_the_run_cannot_test():
    common = pd.DataFrame({"target P@1": [30.0, 30.0], "x faster than full": [1.0, 2.5],
                           "peak_mem_mb": [float("nan")] * 2}, index=["full", "unidec"])
    line = unidec_verdict(common, labels=4890, n_train=1500, cuda=False)
    assert "2.50x as fast as full" in line and "4,890 labels, CPU" in line
    assert "cannot test it (a 1,500-point subsample and no GPU)" in line and "memory ratios need CUDA" in line
    assert "so the ratio tests it" in unidec_verdict(common.assign(peak_mem_mb=1.0), 37000, 0, cuda=True)
