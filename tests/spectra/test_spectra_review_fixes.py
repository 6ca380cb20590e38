"""Regression test for a review finding: censored bisections reported an lr that was never tried.

Does not prove: anything about the uncensored bracket (tests/spectra/test_spectra_tools.py covers that).
"""
from workbench.spectra.lr_search import bisect_max_lr


def _recording(rule):
    tried = {}

    def stable(lr):
        tried[lr] = rule(lr)
        return tried[lr]
    return stable, tried


def test_censored_results_report_only_tried_learning_rates():
    """Stable everywhere: lr_max is the largest lr tried; stable nowhere: lr_fail is the smallest tried; trials
    counts every call. Does not prove: the bracket of an uncensored search (test_spectra_tools.py)."""
    stable, tried = _recording(lambda lr: True)       # stable everywhere: censored above
    r = bisect_max_lr(stable, 1e-3, 1.0, iters=3, max_widen=2)
    assert r["censored"] and tried.get(r["lr_max"]) is True and r["lr_max"] == max(tried)
    assert r["trials"] == len(tried)

    stable, tried = _recording(lambda lr: False)      # unstable everywhere: censored below
    r = bisect_max_lr(stable, 1e-3, 1.0, iters=3, max_widen=2)
    assert r["censored"] and tried.get(r["lr_fail"]) is False and r["lr_fail"] == min(tried)


def test_missing_peer_gives_a_row_not_a_crash():
    """A peer whose import fails yields one row naming it as not installed.
    Does not prove: that an installed peer's own errors are reported (only ImportError is caught)."""
    from workbench.spectra.peers import _optional

    def missing():
        import not_a_real_peer_package  # noqa: F401
    (row,) = _optional("not-a-real-peer", missing)
    assert row["tool"] == "not-a-real-peer" and "not installed" in row["method"]


def test_rademacher_draws_where_the_generator_lives():
    """A CPU generator gives a unit-norm Rademacher vector (entries +-1/sqrt(n)) of the asked length.
    Does not prove: the CUDA path (a generator on the GPU), nor the signs' distribution."""
    import torch
    from workbench.spectra.lanczos import rademacher
    v = rademacher(16, torch.Generator().manual_seed(0), device="cpu")
    assert v.shape == (16,) and torch.allclose(v.abs(), torch.full((16,), 0.25, dtype=v.dtype))
