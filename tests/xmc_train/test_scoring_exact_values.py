"""Metrics inputs and losses on cases solved by hand: the direction of filter pairs, the training-set size in
PSP's propensities, the anchors and normaliser of two losses, and (a second such review) top-k skipping filter
pairs, filter pairs never credited, the peers' filter margin per row. A review that changed one line at a time
found each change passed the rest of the suite.

Does not prove: the metrics against an independent library (test_xmc_metrics compares with napkinxc)."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from workbench.xmc.dataset import XMCDataset
from workbench.xmc.metrics import propensity, remove_filtered, xmc_metrics
from workbench.xmc_train.evaluate import filter_margin, popularity_metrics, rank_metrics
from workbench.xmc_train.losses import build_loss


def test_filter_pairs_are_row_then_label():
    """Filter pair (row 0, label 1) drops label 1 from row 0's predictions; row 1's label 0 stays. P@1: row 0's
    first prediction becomes label 0, its positive (100); row 1 has none (0): 50."""
    topk, pairs = torch.tensor([[1, 0], [0, 3]]), np.array([[0, 1]])
    assert remove_filtered(topk, pairs, 4).tolist() == [[0, -1], [0, 3]]
    Y = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], np.float32))
    assert xmc_metrics(topk, Y, ks=(1,), filter_pairs=pairs)["P@1"] == pytest.approx(50.0)


def _data():
    """10 training points and 3 test points over 4 labels: propensities over n = 10, not 3."""
    Ytr = sp.csr_matrix(np.array([[1, 0, 0, 0]] * 7 + [[0, 1, 0, 0]] * 2 + [[0, 0, 1, 0]], np.float32))
    Yte = sp.csr_matrix(np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]], np.float32))
    return XMCDataset(name="tiny", Y_train=Ytr, Y_test=Yte)


def test_psp_weights_count_the_training_points():
    """rank_metrics and the popularity baseline weigh labels by propensity(freq, n_train = 10): the PSP of known
    top-k lists equals xmc_metrics' with those weights, and weights over n_test = 3 would differ."""
    data = _data()
    w10, w3 = (propensity(data.label_freq, n, *data.propensity_ab) for n in (10, 3))
    assert not np.allclose(w10, w3)
    # label scores: rankings (0, 2, 3, 1), (0, 1, 2, 3), (0, 2, 3, 1) against positives 2, 0, 1: one hit at rank 2,
    # one at rank 1, one miss within 3, so PSP (normalised over the whole split) depends on the weights' ratios
    q = torch.tensor([[3.0, 0, 2, 1], [3, 2, 1, 0], [3, 0, 2, 1]])
    ids = torch.cat([torch.argsort(-q, dim=1), torch.full((3, 1), -1)], 1)   # k = 5 > 4 labels: padded
    want = xmc_metrics(ids, data.Y_test, ks=(1, 3), propensity=w10)
    got = rank_metrics(q, torch.eye(4), data, k=5)
    assert got["PSP@1"] == pytest.approx(want["PSP@1"]) and got["PSP@3"] == pytest.approx(want["PSP@3"])
    assert got["PSP@3"] != pytest.approx(xmc_metrics(ids, data.Y_test, ks=(3,), propensity=w3)["PSP@3"])
    top = torch.tensor([[0, 1, 2, 3, -1]] * 3)   # labels by training frequency
    want = xmc_metrics(top, data.Y_test, ks=(1, 3), propensity=w10)
    assert popularity_metrics(data, k=5)["PSP@1"] == pytest.approx(want["PSP@1"])   # one hit at rank 1 of 3


def test_triplet_anchors_are_positives_only_when_a_query_has_fewer_than_asked():
    """positives = 2 but the query has one positive (score 0.5): the only anchor is it; the hardest negative
    (0.6) violates by 0.6 - 0.5 + 0.3 = 0.4, and no negative is taken as a second anchor."""
    loss = build_loss("triplet", positives=2, hardest=1, weight_temperature=0.0, margin=0.3)
    s, t = torch.tensor([[0.5, 0.6, 0.3]]), torch.tensor([[True, False, False]])
    assert float(loss(s, t)) == pytest.approx(0.4)


def test_bce_is_the_mean_over_valid_entries():
    """Scores 0 without the prior: every entry costs ln 2, and the mean over the 2 valid of 4 entries is ln 2."""
    loss = build_loss("bce", prior=False)
    t, valid = torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([[True, True, False, False]])
    assert float(loss(torch.zeros(1, 4), t, valid)) == pytest.approx(math.log(2))


def test_the_popularity_peer_keeps_k_predictions_after_its_filter_pairs_go():
    """102 labels, label i the (i+1)-th most frequent; the test point's positive is label 100 and its filter pair
    is label 0. The trained models' top-k skips filter pairs and keeps 100 predictions; the peer now does too:
    labels 1..100 after dropping 0, so R@100 is 100 (it took the top 100 first, then dropped label 0: 99 left,
    label 100 not among them, R@100 0). filter_margin is the most pairs any row has."""
    rows = [i for i in range(102) for _ in range(102 - i)]
    Ytr = sp.csr_matrix((np.ones(len(rows), np.float32), (np.arange(len(rows)), rows)), shape=(len(rows), 102))
    Yte = sp.csr_matrix((np.ones(1, np.float32), ([0], [100])), shape=(1, 102))
    data = XMCDataset(name="tiny", Y_train=Ytr, Y_test=Yte, filter_test=np.array([[0, 0]]))
    assert popularity_metrics(data, k=100)["R@100"] == pytest.approx(100.0)
    assert filter_margin(np.array([[0, 1], [0, 2], [1, 1]])) == 2 and filter_margin(np.zeros((0, 2))) == 0


def test_rank_metrics_top_k_skips_filter_pairs_so_k_predictions_remain():
    """101 labels scored 101 - i (label 0 best, label 100 worst); the test point's filter pair is label 0 and its
    positive label 100. Skipping the pair inside top-k gives labels 1..100: R@100 = 100. Taking the top 100 first
    (labels 0..99) and dropping label 0 afterwards leaves 99, without label 100: R@100 = 0."""
    L = 101
    Ytr = sp.csr_matrix(np.eye(L, dtype=np.float32))
    Yte = sp.csr_matrix((np.ones(1, np.float32), ([0], [100])), shape=(1, L))
    data = XMCDataset(name="tiny", Y_train=Ytr, Y_test=Yte, filter_test=np.array([[0, 0]]))
    q = torch.ones(1, 1)
    labels = torch.arange(L, 0, -1, dtype=torch.float32)[:, None]    # scores 101, 100, ..., 1
    assert rank_metrics(q, labels, data, k=100)["R@100"] == pytest.approx(100.0)


def test_rank_metrics_never_credits_a_filter_pair_returned_when_few_labels_remain():
    """4 labels, k = 5: top-k returns all 4, the filtered label 1 last (score -inf). Label 1 is also the point's
    positive: filter pairs are removed before scoring, so no hit: P@5 = 0 (scored with it: 20)."""
    Ytr = sp.csr_matrix(np.eye(4, dtype=np.float32))
    Yte = sp.csr_matrix(np.array([[0, 1, 0, 0]], np.float32))
    data = XMCDataset(name="tiny", Y_train=Ytr, Y_test=Yte, filter_test=np.array([[0, 1]]))
    m = rank_metrics(torch.tensor([[3.0, 2.0, 1.0, 0.0]]), torch.eye(4), data, k=5)
    assert m["P@5"] == 0.0 and m["P@1"] == 0.0


def test_filter_margin_counts_pairs_per_test_row_not_per_label():
    """Row 0 has 3 pairs, label 3 appears in 2: the margin is 3."""
    assert filter_margin(np.array([[0, 3], [0, 4], [0, 5], [1, 3]])) == 3


def test_popularity_keeps_k_after_dropping_two_filter_pairs_of_one_row():
    """103 labels, label i the (i+1)-th most frequent; the test point's positive is label 101 and its filter pairs
    labels 0 and 1 (two pairs on one row, each label once). Margin 2: the top 102 (0..101) minus the two pairs
    leave 2..101, so R@100 = 100. A per-label margin (1) takes 0..100 and loses label 101: 0."""
    L = 103
    rows = [i for i in range(L) for _ in range(L - i)]
    Ytr = sp.csr_matrix((np.ones(len(rows), np.float32), (np.arange(len(rows)), rows)), shape=(len(rows), L))
    Yte = sp.csr_matrix((np.ones(1, np.float32), ([0], [101])), shape=(1, L))
    data = XMCDataset(name="tiny", Y_train=Ytr, Y_test=Yte, filter_test=np.array([[0, 0], [0, 1]]))
    assert popularity_metrics(data, k=100)["R@100"] == pytest.approx(100.0)
