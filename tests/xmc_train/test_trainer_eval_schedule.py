"""When the training loop evaluates: ``eval_every`` steps apart, 0 = at the start and the end only, -1 = never,
also when an evaluation function is given. Does not prove anything about the metrics' values."""
from __future__ import annotations

import pytest

from tests.xmc_train.test_trainer import setup
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.train_config import TrainConfig
from workbench.xmc_train.trainer import Trainer


@pytest.mark.parametrize("every,expected", [(-1, []), (0, [0, 8]), (3, [0, 3, 6, 8])])
def test_evaluations_follow_eval_every(every, expected):
    m, s, _ = setup("in_batch")
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-3, eval_every=every, seed=1, device="cpu")  # 4 steps/epoch
    calls = []
    trainer = Trainer(m, s, build_loss("softmax"), cfg, progress=False,
                      evaluate=lambda: calls.append(trainer.step) or {"P@1": 0.0})
    rows = trainer.run()
    assert calls == expected
    assert [r["step"] for r in rows if "P@1" in r] == expected


def test_eval_every_below_minus_one_is_refused():
    with pytest.raises(ValueError, match="eval_every must be >= -1"):
        TrainConfig(eval_every=-2).validate()
