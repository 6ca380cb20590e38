"""The LSH race's data and probe on cases solved by hand: rows scaled to unit L2 norm, test texts in the training
vocabulary, a synthetic point's features and labels kept together, and the adaptivity probe's query count. A
review that changed one line at a time in these modules found each change passed the rest of the suite.

Does not prove: anything about the real datasets' statistics (the study's dataset tables show those)."""
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import workbench.xmc.synthetic as synthetic
from workbench.lsh import experiments
from workbench.lsh.bowdata import BowData, from_dataset, synthetic_bow
from workbench.lsh.softmax_model import BowSoftmax
from workbench.lsh.study import LSHStudyConfig
from workbench.xmc.dataset import XMCDataset


def _y(rows, n_labels):
    return sp.csr_matrix((np.ones(len(rows), np.float32), (np.arange(len(rows)), rows)), shape=(len(rows), n_labels))


def test_features_are_scaled_to_unit_l2_norm():
    """(3, 4) becomes (0.6, 0.8) and (0, 2) becomes (0, 1): divided by the L2 norm (the row max gives (0.75, 1))."""
    ds = XMCDataset("t", _y([0], 2), _y([1], 2),
                    X_train=sp.csr_matrix(np.array([[3.0, 4.0]])), X_test=sp.csr_matrix(np.array([[0.0, 2.0]])))
    data = from_dataset(ds, max_features=10)
    np.testing.assert_allclose(data.X_train.toarray(), [[0.6, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(data.X_test.toarray(), [[0.0, 1.0]], rtol=1e-6)


def test_test_texts_use_the_training_vocabulary():
    """Training texts give the vocabulary alpha 0, beta 1, gamma 2; the test text "gamma delta" is gamma alone
    (delta unknown), not a vocabulary of its own."""
    ds = XMCDataset("t", _y([0, 1], 2), _y([1], 2),
                    train_texts=["alpha beta", "beta gamma"], test_texts=["gamma delta"])
    data = from_dataset(ds, max_features=10)
    assert data.X_test.shape == (1, 3)
    np.testing.assert_allclose(data.X_test.toarray(), [[0.0, 0.0, 1.0]])
    s = 2 ** -0.5
    np.testing.assert_allclose(data.X_train.toarray(), [[s, s, 0.0], [0.0, s, s]], rtol=1e-6)


def test_synthetic_bow_keeps_features_and_labels_of_one_point_together(monkeypatch):
    """dim 1: a point's single word is the argmax of +R or of -R, two different words; points 0 and 2 (label 0)
    share a word, point 1 (label 1) has the other. Train = points 0 and 1 in that order, test = point 2."""
    syn = types.SimpleNamespace(query_emb=torch.tensor([[1.0], [-1.0], [1.0]]), Y=_y([0, 1, 0], 2),
                                train_idx=np.array([0, 1]), test_idx=np.array([2]))
    monkeypatch.setattr(synthetic, "make_synthetic", lambda *a, **k: syn)
    data = synthetic_bow(2, 3, num_features=8, words_per_point=1, seed=0, dim=1)
    test_word = data.X_test.indices[0]
    train_words = [data.X_train[i].indices[0] for i in range(2)]
    assert [data.Y_train[i].indices[0] for i in range(2)] == [0, 1]
    assert train_words[0] == test_word and train_words[1] != test_word


@pytest.mark.parametrize("queries, expected", [(3, 3), (10, 5)])
def test_the_probe_holds_the_queries_asked_or_every_test_point(monkeypatch, queries, expected):
    """The adaptivity probe reads min(adaptivity_queries, test points) held-out queries: 3 of 5, or all 5."""
    seen = []
    monkeypatch.setattr(experiments, "adaptivity_rows",
                        lambda q, W, pos, *a, **k: seen.append((q.shape[0], pos.shape[0])) or [])
    X = sp.csr_matrix(np.eye(5, 4, dtype=np.float32))
    data = BowData("t", X[:3], _y([0, 1, 2], 6), X, _y([0, 1, 2, 3, 4], 6))
    cfg = LSHStudyConfig(adaptivity_samplers=["uniform"], adaptivity_queries=queries)
    on_eval = experiments._probe(cfg, data, torch.device("cpu"), [])
    on_eval(0, 0.0, BowSoftmax(4, 6, hidden=8), None, 0.0)
    assert seen == [(expected, expected)]
