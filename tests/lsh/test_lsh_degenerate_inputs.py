"""Degenerate but legal LSH-study inputs found by a hunt for crashes: a query whose positives are every label (a
one-label dataset, a Mulan point tagged with all labels), and a synthetic set too small for a test split.

Does not prove: anything about accuracy; only that these inputs give valid results or a clear error.
"""
import pytest
import torch

from workbench.config import from_dict
from workbench.lsh.adaptivity import adaptivity_rows
from workbench.lsh.bowdata import load_bow
from workbench.lsh.drawers import DRAWERS
from workbench.lsh.study import LSHStudyConfig


def test_exact_drawer_when_every_label_is_a_positive():
    """All-masked logits gave NaN probabilities and torch.multinomial raised; now such a row's draws are all
    marked invalid, and the other rows still draw only negatives."""
    q, W = torch.randn(2, 4), torch.randn(3, 4)
    pos = torch.tensor([[0, 1, 2], [0, -1, -1]])
    neg = DRAWERS.get("exact")(3, 5)(q, pos, W, torch.Generator().manual_seed(0))
    assert not neg.valid[0].any() and neg.valid[1].all() and (neg.ids[1] != 0).all()
    assert torch.isfinite(neg.log_q[1]).all()


def test_adaptivity_leaves_out_queries_without_negatives():
    """Such a query has no softmax over negatives: its NaN made every drawer's tv NaN. It is left out; with only
    such queries there is nothing to measure."""
    q, W = torch.randn(2, 4), torch.randn(3, 4)
    pos = torch.tensor([[0, 1, 2], [0, -1, -1]])
    drawers = {s: DRAWERS.get(s)(3, 2) for s in ("uniform", "exact")}
    rows = adaptivity_rows(q, W, pos, drawers, 2, torch.Generator().manual_seed(0))
    assert all(torch.isfinite(torch.tensor([r["tv"], r["kl"], r["mean_rank"]])).all() for r in rows)
    assert rows[1]["draws_per_query"] == pytest.approx(4.0)  # exact: one query kept, 2 repeats x 2 valid draws
    with pytest.raises(ValueError, match="none of the 1 held-out queries has a negative label"):
        adaptivity_rows(q[:1], W, pos[:1], drawers, 1, torch.Generator().manual_seed(0))


def test_a_split_without_points_is_refused():
    with pytest.raises(ValueError, match=r"synthetic-10: the test split has no points \(num_points=1"):
        load_bow("synthetic", num_points=1, num_labels=10)
    with pytest.raises(ValueError, match="num_points must be >= 2"):
        from_dict(LSHStudyConfig, {"num_points": 1})
    data = load_bow("synthetic", num_points=2, num_labels=10)
    assert data.X_train.shape[0] == data.X_test.shape[0] == 1
