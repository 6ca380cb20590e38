"""Lanczos, power iteration and Hutchinson on random small symmetric matrices (hypothesis, derandomized),
including the degenerate ones a network can give: a zero operator (every ReLU dead), low rank, repeated
eigenvalues, a multiple of the identity.

What this proves: Ritz values are finite, inside [lambda_min, lambda_max] of ``eigh``, weights sum to 1, and
with ``dim`` steps the top Ritz value is lambda_max; power iteration's values and vectors are finite and no
larger in magnitude than the spectral radius, also once deflation has used up the range. Does not prove:
accuracy at fewer steps (test_spectra_lanczos), nor behaviour at scales where squares under- or overflow
float64 (|entries| beyond ~1e+-150).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from workbench.spectra.lanczos import lanczos, rademacher
from workbench.spectra.power import power_iteration

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True)
KINDS = ["gaussian", "zero", "rank1", "rank2_psd", "identity", "repeated"]


def _matrix(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "gaussian":
        a = rng.standard_normal((n, n))
        return a + a.T
    if kind == "zero":
        return np.zeros((n, n))
    if kind == "rank1":
        u = rng.standard_normal(n)
        return np.outer(u, u)
    if kind == "rank2_psd":
        b = rng.standard_normal((n, 2))
        return b @ b.T
    if kind == "identity":
        return 3.0 * np.eye(n)
    return np.diag(rng.integers(0, 3, n).astype(float))  # repeated eigenvalues 0, 1, 2


@SETTINGS
@given(n=st.integers(1, 25), kind=st.sampled_from(KINDS), seed=st.integers(0, 999), steps_frac=st.floats(0.01, 1.0),
       tol=st.sampled_from([0.0, 1e-4, 1e-8]), k=st.integers(1, 3))
def test_lanczos_and_power_iteration_on_degenerate_spectra(n, kind, seed, steps_frac, tol, k):
    A = _matrix(kind, n, np.random.default_rng(seed))
    At = torch.tensor(A)
    ev = np.linalg.eigvalsh(A)
    radius = max(np.abs(ev).max(), 1e-300)
    steps = max(1, int(steps_frac * n))
    r = lanczos(lambda v: At @ v, n, steps, generator=torch.Generator().manual_seed(seed), tol=tol)
    assert np.isfinite(r.ritz).all() and np.isclose(r.weights.sum(), 1.0)
    assert r.ritz.max() <= ev.max() + 1e-8 * radius and r.ritz.min() >= ev.min() - 1e-8 * radius
    if steps == n and tol == 0:
        assert abs(r.ritz.max() - ev.max()) <= 1e-6 * radius
    values, vectors, _ = power_iteration(lambda v: At @ v, n, k=min(k, n), iters=50,
                                         generator=torch.Generator().manual_seed(seed))
    assert np.isfinite(values).all() and all(torch.isfinite(v).all() for v in vectors)
    assert np.abs(values).max() <= radius * (1 + 1e-8)
    V = torch.stack(vectors)
    assert torch.allclose(V @ V.T, torch.eye(len(vectors), dtype=V.dtype), atol=1e-8)


@pytest.mark.parametrize("n", [1, 6])
def test_zero_operator_is_an_invariant_subspace_not_a_nan(n):
    """A q = 0 at the first step: Lanczos stopped with Ritz value 0 (it divided by beta = 0 and then reported the
    NaN as a non-finite matvec); power iteration returns eigenvalue 0 (it normalised a zero vector)."""
    zero = torch.zeros(n, n, dtype=torch.float64)
    r = lanczos(lambda v: zero @ v, n, n, generator=torch.Generator().manual_seed(0))
    assert r.steps == 1 and r.ritz.tolist() == [0.0] and r.residuals.tolist() == [0.0]
    values, vectors, _ = power_iteration(lambda v: zero @ v, n, k=1, generator=torch.Generator().manual_seed(0))
    assert values == [0.0] and torch.isfinite(vectors[0]).all()


def test_power_iteration_past_the_rank_gives_zeros():
    """Rank 1, k = 3: after the first eigenpair, deflation leaves the null space; A v is rounding noise, which
    power iteration used to normalise until it became 0 and then NaN."""
    u = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
    values, vectors, _ = power_iteration(lambda v: torch.outer(u, u) @ v, 5, k=3,
                                         generator=torch.Generator().manual_seed(0))
    assert values[0] == pytest.approx(float(u @ u)) and np.allclose(values[1:], 0.0, atol=1e-10)
    V = torch.stack(vectors)
    assert torch.allclose(V @ V.T, torch.eye(3, dtype=torch.float64), atol=1e-8)


def test_power_iteration_restarts_from_a_start_in_the_null_space():
    """A = [[1, -1], [-1, 1]] (eigenvalues 2, 0) sends half of the +-1 start vectors to 0: one Gaussian start
    instead finds 2 (it returned NaN), and the second value is the null space's 0."""
    A = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    seeds = [s for s in range(20) if not (A @ rademacher(2, torch.Generator().manual_seed(s))).any()]
    assert seeds, "some seed must draw a start in the null space for this test to mean anything"
    values, _, _ = power_iteration(lambda v: A @ v, 2, k=2, generator=torch.Generator().manual_seed(seeds[0]))
    assert values[0] == pytest.approx(2.0) and abs(values[1]) < 1e-12


def test_power_iteration_keeps_a_small_but_real_second_eigenvalue():
    """diag(1, 5e-12, 0, ...) in 100 dimensions: |A v| ~ 5e-13 for the second start, below any absolute 'null'
    cut-off tied to the first eigenvalue (one tried here stopped at once); only numerical dependence on the found
    vectors counts as null, so 5e-12 is found."""
    d = torch.zeros(100, dtype=torch.float64)
    d[0], d[1] = 1.0, 5e-12
    values, _, _ = power_iteration(lambda v: d * v, 100, k=2, generator=torch.Generator().manual_seed(0))
    assert values[0] == pytest.approx(1.0) and values[1] == pytest.approx(5e-12, rel=1e-6)
