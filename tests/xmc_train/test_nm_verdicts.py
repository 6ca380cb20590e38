"""The negative-mining study's printed verdicts and the throughput table's sequences per step, on hand-made
tables (the trainer's seqs_per_step itself: test_row_columns). Does not prove the prose around them reads right."""
import pandas as pd

from workbench.xmc_train.tables import throughput_table
from workbench.xmc_train.verdicts import throughput_verdict, unidec_verdict


def test_sequences_per_step_and_like_for_like_verdict():
    rows = pd.DataFrame({"sampler": ["full", "full", "in_batch"], "seqs_per_s": [1000.0, 1000.0, 400.0],
                         "seq_len": [12, 12, 12], "seqs_per_step": [400.0, 600.0, 200.0]})  # full: median 500
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


def test_trainer_logs_sequences_per_step():
    """full with the dual encoder encodes the batch's 40 queries and all 30 labels at every step."""
    from tests.xmc_train.test_trainer import setup
    from workbench.xmc_train.losses import build_loss
    from workbench.xmc_train.trainer import TrainConfig, Trainer
    m, s, _ = setup("full")
    cfg = TrainConfig(epochs=1, batch_size=40, log_every=1, device="cpu")  # 120 points: 3 full steps
    rows = Trainer(m, s, build_loss("softmax"), cfg, progress=False).run()
    assert [r["seqs_per_step"] for r in rows if "lr" in r] == [70.0, 70.0, 70.0]
