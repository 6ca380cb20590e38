"""``prepare`` refuses a dataset without texts with a message naming it and the layouts that have texts.

Does not prove: that every layout listed loads (tests/xmc does that), only that a text layout passes the check.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.xmc.load import load_dataset
from workbench.xmc_train.study import NegativeMiningConfig, prepare, require_texts

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc"


def test_bag_of_words_dataset_is_refused_by_name():
    cfg = NegativeMiningConfig(dataset=str(FIX / "bow"), n_train=0, n_test=0)
    with pytest.raises(ValueError, match="study needs query and label texts") as e:
        prepare(cfg)
    msg = str(e.value)
    assert str(FIX / "bow") in msg and "train_texts" in msg
    assert "raw text" in msg and "label-feature JSON" in msg and "Mulan" in msg and "debian-titles" in msg


@pytest.mark.parametrize("layout", ["raw_text", "lf_json", "mulan"])
def test_text_layouts_pass(layout):
    require_texts(NegativeMiningConfig(dataset=str(FIX / layout)), load_dataset(FIX / layout))
