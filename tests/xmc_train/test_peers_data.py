"""Peers, subsampling and evaluation on the toy problem: consistent remapping, a perfect model scores 100,
Parabel (omikuji) beats most-popular. Does not check the published Debian numbers (full data, minutes)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from workbench.xmc_train.evaluate import METRICS, popularity_metrics, rank_metrics
from workbench.xmc_train.peers import peer_rows
from workbench.xmc_train.subsample import subsample
from workbench.xmc_train.toy import toy_text_dataset

DATA = toy_text_dataset(n_train=300, n_test=80, num_labels=40)


def test_subsample_keeps_labels_and_texts_consistent():
    ft = np.array([[i, (7 * i) % 40] for i in range(80)], dtype=np.int64)  # one pair per test point
    fr = np.array([[i, (3 * i) % 40] for i in range(0, 300, 5)], dtype=np.int64)
    d = dataclasses.replace(DATA, filter_test=ft, filter_train=fr)
    sub = subsample(d, 100, 20, seed=1)
    assert sub.Y_train.shape[0] == 100 and sub.Y_test.shape[0] == 20
    assert len(sub.label_texts) == sub.num_labels == sub.Y_test.shape[1]
    rng = np.random.default_rng(1)
    tr = np.sort(rng.choice(300, 100, replace=False))
    te = np.sort(rng.choice(80, 20, replace=False))
    kept = np.unique(np.concatenate([d.Y_train[tr].indices, d.Y_test[te].indices]))
    assert len(kept) == sub.num_labels and sub.label_texts == [d.label_texts[j] for j in kept]
    # every kept point: the same text, and its labels the same strings as before
    for rows, Y_old, Y_new, old_texts, new_texts in ((tr, d.Y_train, sub.Y_train, d.train_texts, sub.train_texts),
                                                     (te, d.Y_test, sub.Y_test, d.test_texts, sub.test_texts)):
        for i, r in enumerate(rows):
            assert new_texts[i] == old_texts[r]
            assert sorted(sub.label_texts[j] for j in Y_new[i].indices) == \
                sorted(d.label_texts[j] for j in Y_old[r].indices)
    # filter pairs: exactly those whose point and label both survive, remapped to the same (point, label) texts
    for pairs, rows, old_pts, new_pts, new_pairs in ((ft, te, d.test_texts, sub.test_texts, sub.filter_test),
                                                     (fr, tr, d.train_texts, sub.train_texts, sub.filter_train)):
        live_rows, live_labels = set(rows.tolist()), set(kept.tolist())
        survive = [(i, j) for i, j in pairs.tolist() if i in live_rows and j in live_labels]
        assert 0 < len(survive) == len(new_pairs) < len(pairs)
        assert sorted((int(rows[r]), int(kept[c])) for r, c in new_pairs) == sorted(survive)
        old_text_pairs = {(old_pts[i], d.label_texts[j]) for i, j in pairs.tolist()}
        assert all((new_pts[r], sub.label_texts[c]) in old_text_pairs for r, c in new_pairs)


def test_perfect_embeddings_score_100():
    # each test query's embedding is the sum of its label one-hots: top-k = its labels
    L = DATA.num_labels
    q = torch.as_tensor(DATA.Y_test.toarray())
    m = rank_metrics(q, torch.eye(L), DATA, k=100)
    assert set(METRICS) == set(m)
    assert m["P@1"] == pytest.approx(100) and m["R@100"] == pytest.approx(100) and m["nDCG@5"] == pytest.approx(100)


def test_peers():
    rows = {r["method"]: r for r in peer_rows(DATA, n_trees=1)}
    pop = rows["most popular"]
    parabel = next(v for k, v in rows.items() if k.startswith("Parabel"))
    assert pop == {"method": "most popular", **popularity_metrics(DATA), "train_s": 0.0, "predict_s": 0.0}
    assert parabel["P@1"] > pop["P@1"] + 10


def test_popularity_p_at_1_by_hand():
    # independent of label_freq and xmc_metrics: count the training labels from Y_train, predict the most
    # frequent for every test query, score it. Catches a baseline ranked by the wrong counts (test labels,
    # ascending order, label_freq out of sync with Y_train) or a metric mis-averaged over queries.
    assert len(DATA.filter_test) == 0  # no filter pairs: nothing is removed from the predictions
    counts = np.asarray(DATA.Y_train.sum(axis=0)).ravel()
    top = np.argsort(-counts, kind="stable")[:3]
    assert counts[top[0]] > counts[top[1]] > counts[top[2]] > np.sort(counts)[-4]  # no ties: well-defined
    Yt = DATA.Y_test.toarray() > 0
    m = popularity_metrics(DATA)
    assert m["P@1"] == pytest.approx(100 * Yt[:, top[0]].mean())
    assert m["P@3"] == pytest.approx(100 * Yt[:, top].sum(1).mean() / 3)
