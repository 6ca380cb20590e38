"""The trainer's rows keep one meaning per column: the loss function's name is the ``loss_fn`` tag, ``loss`` is the
numeric training loss and appears only in training rows (the notebook and ``tables.comparison_table`` select the
training rows by ``loss`` not being NaN). Toy data and the tiny encoder on the CPU; does not check the values of
the metrics or losses, only which rows carry which columns."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from workbench.xmc_train.study import NegativeMiningConfig, prepare, train_sampler
from workbench.xmc_train.toy import toy_text_dataset


def test_loss_column_is_numeric_and_only_in_training_rows():
    cfg = NegativeMiningConfig(samplers=["in_batch"], epochs=1, batch_size=32, eval_every=2, max_length=12,
                               device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=96, n_test=20, num_labels=20))
    rows, _, _ = train_sampler(cfg, prep, "in_batch", progress=False)
    df = pd.DataFrame(rows)
    train, evals = df[df["steps"].notna()], df[df["P@1"].notna()]
    assert len(train) and len(evals)
    assert (df["loss_fn"] == cfg.loss_for("in_batch")).all()
    assert all(isinstance(v, float) and math.isfinite(v) for v in train["loss"])
    assert evals["loss"].isna().all(), "evaluation rows carry no loss"
    assert df[df["loss"].notna()].index.equals(train.index)


def test_trainer_refuses_tags_that_overwrite_its_columns():
    from workbench.xmc_train.study import build_model
    from workbench.samplers import build_sampler
    from workbench.xmc_train.losses import build_loss
    from workbench.xmc_train.trainer import Trainer
    cfg = NegativeMiningConfig(epochs=1, batch_size=32, max_length=12, device="cpu")
    prep = prepare(cfg, toy_text_dataset(n_train=40, n_test=10, num_labels=10))
    model = build_model(cfg, prep)
    s = build_sampler("in_batch", prep.data.Y_train, cfg.sampler_config())
    with pytest.raises(ValueError, match="loss"):
        Trainer(model, s, build_loss("softmax"), cfg.train_config(), tags={"sampler": "x", "loss": "softmax"})
