"""Synthetic XMC generator: determinism, shapes, the power law, retrievability; dataset statistics.

Does not prove: the 10^7-label scale (only that memory stays O(L·dim); timed in the report, not here).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.xmc.stats import dataset_stats, frequency_figure, frequency_table
from workbench.xmc.synthetic import make_synthetic


def test_deterministic_and_shaped():
    a = make_synthetic(500, 800, 16, 3.0, seed=7)
    b = make_synthetic(500, 800, 16, 3.0, seed=7)
    c = make_synthetic(500, 800, 16, 3.0, seed=8)
    assert torch.equal(a.label_emb, b.label_emb) and (a.Y != b.Y).nnz == 0
    assert not torch.equal(a.label_emb, c.label_emb)
    assert a.label_emb.shape == (500, 16) and a.label_emb.dtype == torch.float32
    torch.testing.assert_close(a.label_emb.norm(dim=1), torch.ones(500))
    assert a.Y.shape == (800, 500) and a.Y.getnnz(axis=1).min() >= 1
    assert 2.5 < a.Y.nnz / 800 < 3.3
    assert len(a.train_idx) + len(a.test_idx) == 800 and len(a.test_idx) == 240


def test_power_law_and_retrievable():
    s = make_synthetic(2000, 20000, 32, 4.0, seed=0, alpha=1.0)
    freq = np.asarray(s.Y.sum(0)).ravel()
    order = np.argsort(-s.label_prob)
    # frequencies follow the law: top label ~ p_1 * draws, and decay with rank
    assert freq[order[0]] > 10 * freq[order[100]] > 0
    assert np.corrcoef(np.log(s.label_prob[order[:200]]), np.log(freq[order[:200]] + 1))[0, 1] > 0.9
    top = (s.query_emb[:500] @ s.label_emb.T).topk(1).indices[:, 0].numpy()
    p1 = np.mean([s.Y[i, top[i]] > 0 for i in range(500)])
    assert p1 > 0.2  # far above chance (about 4/2000)
    for alpha in (1.0, 1.5):  # the law's exponent is alpha: p_1 / p_100 = 100^alpha
        p = np.sort(make_synthetic(2000, 200, 32, 4.0, seed=0, alpha=alpha).label_prob)[::-1]
        assert np.log(p[0] / p[99]) == pytest.approx(alpha * np.log(100))


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_synthetic(0, 10, 4, 1.0)


def test_stats_on_known_dataset():
    ds = make_synthetic(50, 100, 4, 2.0, seed=1).to_dataset()
    st = dataset_stats(ds)
    assert st["train_points"] == 70 and st["labels"] == 50
    assert st["labels_per_train_point"] == pytest.approx(ds.Y_train.nnz / 70, abs=1e-4)
    t = frequency_table(ds)
    assert t["labels"].sum() == st["labels_seen_in_train"] and t["positives"].sum() == pytest.approx(100)
    fig = frequency_figure(ds)
    assert fig._suptitle is not None and fig._suptitle.get_text()
    unseen = st["labels"] - st["labels_seen_in_train"]  # drawn nowhere (no place on a log axis), counted in the title
    assert f"{unseen:,} never seen in training" in fig._suptitle.get_text()
    line = fig.axes[1].lines[0]
    assert len(line.get_ydata()) == st["labels_seen_in_train"] and line.get_ydata().min() >= 1
    assert fig.axes[1].get_legend() is None


def test_labels_per_point_is_a_poisson_mean_raised_to_at_least_one():
    """20K points over 10^5 labels: the mean labels per point is lpp + exp(-lpp) less the merged duplicates, as
    documented: 1.36 at 1 (1.37 drawn; 1 + Poisson(lpp - 1) would give 1.0), 2.98 at 3 (3.05 drawn: duplicates of
    head labels merge more often); every point has at least one label."""
    for lpp, lo, hi in ((1.0, 1.34, 1.38), (3.0, 2.93, 3.06)):
        s = make_synthetic(num_labels=100_000, num_points=20_000, dim=4, labels_per_point=lpp, test_fraction=0.0)
        per_point = np.diff(s.Y.indptr)
        assert per_point.min() >= 1 and lo <= per_point.mean() <= hi


def test_every_random_part_of_the_synthetic_problem_follows_the_seed():
    """Seeds 7 and 8 give different labels per point (the Poisson draw), rank permutations, clusters and splits;
    with alpha 0 over 2 labels the law is (0.5, 0.5) whatever the ranks, so there only the label draws can differ
    and must."""
    a, c = make_synthetic(500, 800, 16, 3.0, seed=7), make_synthetic(500, 800, 16, 3.0, seed=8)
    assert not np.array_equal(np.diff(a.Y.indptr), np.diff(c.Y.indptr))
    assert not np.array_equal(a.label_prob, c.label_prob)
    assert not np.array_equal(a.cluster, c.cluster)
    assert not np.array_equal(a.test_idx, c.test_idx)
    u, v = (make_synthetic(2, 200, 4, 1.0, seed=s, alpha=0.0) for s in (7, 8))
    np.testing.assert_array_equal(u.label_prob, [0.5, 0.5])
    assert (u.Y != v.Y).nnz > 0


def test_synthetic_duplicate_draws_merge_to_relevance_one():
    """3 labels and ~5 draws per point: labels drawn twice merge into one positive of value 1, at most 3 a row."""
    s = make_synthetic(num_labels=3, num_points=50, dim=4, labels_per_point=5.0, seed=0)
    assert set(s.Y.data.tolist()) == {1.0} and np.diff(s.Y.indptr).max() <= 3


def test_synthetic_query_embeddings_are_unit_rows():
    """Query embeddings are unit rows, as the dataclass documents, also with heavy noise."""
    s = make_synthetic(50, 100, 8, 2.0, seed=1, noise=2.0)
    torch.testing.assert_close(s.query_emb.norm(dim=1), torch.ones(100))
