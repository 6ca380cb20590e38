"""The Parabel peer's prediction gives the same top-k with one thread as with several (test points spread over a
thread pool that shares one omikuji model). One model is trained once and predicted twice: omikuji's training
itself is not deterministic, so two trainings are not compared. Toy data; says nothing about accuracy or speed."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from workbench.xmc_train.peers import _quiet_native_output, omikuji_topk, tfidf_features, write_xc_file
from workbench.xmc_train.toy import toy_text_dataset

omikuji = pytest.importorskip("omikuji")


def test_omikuji_topk_same_ids_for_any_thread_count(capsys):
    data = toy_text_dataset(n_train=300, n_test=80, num_labels=40)
    Xtr, Xte = tfidf_features(data.train_texts, data.test_texts)
    Ytr = sp.csr_matrix(data.Y_train)
    Ytr.sort_indices()
    hp = omikuji.Model.default_hyper_param()
    hp.n_trees = 2
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.txt"
        write_xc_file(path, Xtr, Ytr)
        with _quiet_native_output():
            model = omikuji.Model.train_on_data(str(path), hp, n_threads=1)
    one = omikuji_topk(model, Xte, 10, 10, threads=1)
    three = omikuji_topk(model, Xte, 10, 10, threads=3)
    assert one.shape == (80, 10) and (one[:, 0] >= 0).all()
    assert np.array_equal(one, three)
    assert "Parabel predict" in capsys.readouterr().err  # a progress bar over the test points


def test_tfidf_of_a_single_training_text():
    """One training text (n_train 1, which the study accepts): its n-grams are the features, where min_df 2 made
    scikit-learn refuse ("max_df corresponds to < documents than min_df")."""
    Xtr, Xte = tfidf_features(["alpha beta"], ["beta gamma", "alpha"])
    assert Xtr.shape[0] == 1 and Xte.shape == (2, Xtr.shape[1]) and Xtr.nnz > 0 and Xte[1].nnz > 0
