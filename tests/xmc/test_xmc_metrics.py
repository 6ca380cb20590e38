"""XMC metrics vs hand-computed values and vs napkinxc (an independent implementation) on random data;
exact top-k vs a dense argsort.

Does not prove: agreement with pyxclib itself (not installed; napkinxc follows the same definitions), nor
numerical behaviour on 10^7 labels.
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tests.conftest import with_cuda
from workbench.xmc.metrics import propensity, remove_filtered, xmc_metrics
from workbench.xmc.topk import topk_scores


def _Y(rows, L):
    data = [(i, j) for i, r in enumerate(rows) for j in r]
    i, j = zip(*data) if data else ((), ())
    return sp.csr_matrix((np.ones(len(i), np.float32), (i, j)), shape=(len(rows), L))


@with_cuda
def test_hand_computed(device):
    # row 0: positives {1, 3}; predicted [1, 2, 3] -> hits 1,0,1. row 1: positives {} -> zeros.
    Y = _Y([[1, 3], []], 5)
    top = torch.tensor([[1, 2, 3], [0, 1, 2]], device=device)
    w = np.array([1.0, 2.0, 1.0, 4.0, 1.0])
    m = xmc_metrics(top, Y, ks=(1, 3), propensity=w)
    assert m["P@1"] == pytest.approx(100 * (1 + 0) / 2)
    assert m["P@3"] == pytest.approx(100 * (2 / 3) / 2)
    dcg3 = 1 + 1 / math.log2(4)
    assert m["nDCG@3"] == pytest.approx(100 * dcg3 / (1 + 1 / math.log2(3)) / 2)
    assert m["R@3"] == pytest.approx(100 * 1.0 / 2)
    # PSP@1: predicted weight 2 vs best achievable 4 (label 3), row 1 contributes 0 to both means
    assert m["PSP@1"] == pytest.approx(100 * 2 / 4)
    assert m["PSP@3"] == pytest.approx(100 * (2 + 4) / (4 + 2))
    ps_dcg = 2 + 4 / math.log2(4)
    best = 4 + 2 / math.log2(3)
    assert m["PSnDCG@3"] == pytest.approx(100 * ps_dcg / best)


def test_filter_removes_predictions_not_truth():
    Y = _Y([[2]], 4)
    top = torch.tensor([[0, 2, 1]])
    assert remove_filtered(top, np.array([[0, 0]]), 4).tolist() == [[2, 1, -1]]
    m = xmc_metrics(top, Y, ks=(1,), filter_pairs=np.array([[0, 0]]))
    assert m["P@1"] == 100.0
    assert xmc_metrics(top, Y, ks=(1,))["P@1"] == 0.0
    # the freed tail (-1) is a miss, never a hit on label 0 (a positive here)
    m = xmc_metrics(torch.tensor([[1, 2, 3]]), _Y([[0, 2]], 4), ks=(3,), filter_pairs=np.array([[0, 1]]))
    assert m["P@3"] == pytest.approx(100 / 3)


def test_duplicate_truth_entries_count_once():
    """A CSR matrix that stores (0, 0) twice (legal in scipy, not canonical) has two positives, not three; the
    caller's matrix is left as it was."""
    Y = sp.csr_matrix((np.ones(3, np.float32), np.array([0, 0, 1]), np.array([0, 3])), shape=(1, 4))
    m = xmc_metrics(torch.tensor([[0, 1, 2]]), Y, ks=(1, 3))
    assert m["nDCG@3"] == pytest.approx(100.0) and m["R@1"] == pytest.approx(50.0) and m["R@3"] == 100.0
    assert Y.nnz == 3


@pytest.mark.parametrize("seed", [0, 1])
def test_against_napkinxc(seed):
    nm = pytest.importorskip("napkinxc.metrics")  # here, not at module level: the other tests need no napkinxc
    rng = np.random.default_rng(seed)
    n, L, k = 400, 60, 10
    rows = [rng.choice(L, rng.integers(0, 8), replace=False).tolist() for _ in range(n)]
    Y = _Y(rows, L)
    # predictions biased toward the truth so that the metrics are not all near zero
    top = np.stack([list(dict.fromkeys([*rng.permutation(r)[:rng.integers(0, 4)], *rng.permutation(L)]))[:k]
                    for r in rows])
    w = propensity(np.asarray(Y.sum(0)).ravel(), n, 0.55, 1.5)
    np.testing.assert_allclose(w, nm.Jain_et_al_inverse_propensity(Y, 0.55, 1.5))
    m = xmc_metrics(torch.from_numpy(top), Y, ks=range(1, k + 1), propensity=w)
    P = top.tolist()  # napkinxc reads a 2-D int array as scores: pass rankings as lists
    ref = {"P": nm.precision_at_k(Y, P, k=k), "nDCG": nm.ndcg_at_k(Y, P, k=k), "R": nm.recall_at_k(Y, P, k=k),
           "PSP": nm.psprecision_at_k(Y, P, w, k=k), "PSnDCG": nm.psndcg_at_k(Y, P, w, k=k)}
    for name, vals in ref.items():
        ours = [m[f"{name}@{i}"] for i in range(1, k + 1)]
        np.testing.assert_allclose(ours, 100 * np.asarray(vals), rtol=1e-9, atol=1e-9, err_msg=name)


def test_recall_at_large_k_and_errors():
    Y = _Y([[0, 1]], 200)
    top = torch.arange(100).unsqueeze(0)
    assert xmc_metrics(top, Y, ks=(1,), recall_ks=(100,))["R@100"] == 100.0
    with pytest.raises(ValueError, match="at least 5"):
        xmc_metrics(top[:, :3], Y, ks=(5,))


def test_label_ids_outside_the_label_space_are_refused():
    """An id >= L used to alias label id - L of the next row (hit keys are row * L + col): here row 0's
    prediction 3 (L = 3) counted as a hit on row 1's label 0, P@1 50 instead of 0."""
    Y = _Y([[1], [0]], 3)
    top = torch.tensor([[3], [2]])
    with pytest.raises(ValueError, match=r"label ids 2\.\.3; they must lie in \[0, 3\)"):
        xmc_metrics(top, Y, ks=(1,))
    with pytest.raises(ValueError, match=r"label ids -2\.\.2"):
        xmc_metrics(torch.tensor([[-2], [2]]), Y, ks=(1,))
    assert xmc_metrics(torch.tensor([[-1], [0]]), Y, ks=(1,))["P@1"] == 50.0  # -1: no prediction


BACKENDS = ["torch", pytest.param("faiss", marks=pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu not installed"))]


@with_cuda
@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_scores_matches_dense(device, backend):
    if backend == "faiss" and device != "cpu":
        pytest.skip("faiss searches CPU tensors")
    g = torch.Generator().manual_seed(0)
    q, lab = torch.randn(37, 6, generator=g), torch.randn(53, 6, generator=g)
    filt = np.array([[0, 5], [3, 7], [36, 52], [0, 11]])
    dense = q @ lab.T
    dense[filt[:, 0], filt[:, 1]] = float("-inf")
    ref = dense.topk(7, dim=1)
    s, i = topk_scores(q.to(device), lab.to(device), 7, chunk=8, filter=filt, label_chunk=10, backend=backend)
    torch.testing.assert_close(s.cpu(), ref.values)
    assert torch.equal(i.cpu(), ref.indices)
    # a query that filters all but 2 of 9 labels: its top-3 ends with a filtered label at -inf
    few = np.array([[1, j] for j in range(7)])
    s, i = topk_scores(q[:3], lab[:9], 3, filter=few, backend=backend)
    assert set(i[1, :2].tolist()) == {7, 8} and s[1, 2] == float("-inf") and i[1, 2] < 7
    assert topk_scores(q[:0], lab, 5, backend=backend)[1].shape == (0, 5)


def test_topk_backend_is_checked():
    with pytest.raises(ValueError, match="known"):
        topk_scores(torch.zeros(2, 3), torch.zeros(4, 3), 2, backend="annoy")


def test_a_gap_in_the_predictions_scores_alike_with_and_without_filter_pairs():
    """Row 0 predicts nothing at rank 1 (-1), then its positive 3: a miss at rank 1 (P@1 of the two rows: 50), with
    no filter pairs or with one on the other row (it read 100: the -1 was dropped only when a filter pair existed).
    A filtered label still goes, and the -1 keeps its rank: [5, -1, 3] with (0, 5) filtered reads [-1, 3, -1]."""
    Y = sp.csr_matrix(np.array([[0, 0, 0, 1, 0, 0], [1, 0, 0, 0, 0, 0]], np.float32))
    topk = torch.tensor([[-1, 3], [0, 1]])
    assert xmc_metrics(topk, Y, ks=(1,))["P@1"] == 50.0
    assert xmc_metrics(topk, Y, ks=(1,), filter_pairs=np.array([[1, 2]]))["P@1"] == 50.0
    assert remove_filtered(torch.tensor([[5, -1, 3]]), np.array([[0, 5]]), 6).tolist() == [[-1, 3, -1]]
    assert remove_filtered(torch.tensor([[-1, 3]]), np.array([[0, 0]]), 6).tolist() == [[-1, 3]]  # not label 0
