"""Hand-computed values for the logQ correction: :func:`sample_log_q`'s budget truncation and padding terms,
and :func:`sampled_loss` / :func:`multilabel_nll` on 2-4 candidates with set logits; :func:`full_loss` against
its definition.

Does not prove: that the inclusion probabilities fed to ``sample_log_q`` are right (see the hashing tests),
nor anything about batches larger than a couple of rows.
"""
import math

import pytest
import torch

from workbench.lsh.probability import LOG_Q_FLOOR, sample_log_q
from workbench.lsh.query import Negatives
from workbench.lsh.softmax_model import BowSoftmax, multilabel_nll, sampled_loss


def test_sample_log_q_truncation_and_padding_by_hand():
    # row 0: union of 20 labels, budget 5 -> each kept label was kept with prob 5/20 and no pads (a missing or
    # inverted factor, e.g. log(U/budget), would fail); row 1: union of 4 < budget: m = 1 pad over N = 60, and
    # every slot's expected count is its union term plus 1/60, the pads' share, however the slot was filled
    log_incl = torch.tensor([[math.log(0.5)] * 5, [math.log(0.5)] * 2 + [math.log(0.01)] * 3])
    got = sample_log_q(log_incl, torch.tensor([20, 4]), budget=5, num_labels=60)
    want = torch.tensor([[math.log(0.5 * 5 / 20)] * 5,
                         [math.log(0.5 + 1 / 60)] * 2 + [math.log(0.01 + 1 / 60)] * 3])
    assert torch.allclose(got, want)
    # union 4, budget 10, N 60: m = 6 pads, 6/60 each (catches log(1/N) or log(budget/N))
    got10 = sample_log_q(torch.full((1, 10), math.log(0.05)), torch.tensor([4]), budget=10, num_labels=60)
    assert torch.allclose(got10, torch.full((1, 10), math.log(0.05 + 6 / 60)))


def test_sample_log_q_floors_a_vanishing_inclusion():
    # an -inf inclusion would give that negative an infinite boost under the correction
    got = sample_log_q(torch.tensor([[-math.inf]]), torch.tensor([1]), 1, 10)
    assert math.isclose(got.item(), LOG_Q_FLOOR, rel_tol=1e-6)


def test_the_floor_leaves_padded_slots_at_their_padding_share():
    """N = 10^7, budget 4, a union of 3: one pad (m/N = 1e-7). The padded slot's label has inclusion 1e-9, so its
    expected count is 1e-9 + 1e-7, not the floor's 1e-6 + 1e-7 (11x too high); a retrieved slot with the same
    vanishing inclusion is floored."""
    log_incl = torch.tensor([[math.log(0.5), math.log(0.5), math.log(1e-9), math.log(1e-9)]])
    from_lsh = torch.tensor([[True, True, True, False]])
    got = sample_log_q(log_incl, torch.tensor([3]), budget=4, num_labels=10**7, from_lsh=from_lsh)[0]
    assert math.isclose(got[3].item(), math.log(1e-9 + 1e-7), rel_tol=1e-5)
    assert math.isclose(got[2].item(), math.log(1e-6 + 1e-7), rel_tol=1e-5)
    assert math.isclose(got[0].item(), math.log(0.5 + 1e-7), rel_tol=1e-6)


def _model():
    """hidden=2; query(h) = [h, 1] with h = [1, 0], so label l's logit is W[l, 0] + W[l, 2]."""
    m = BowSoftmax(num_features=3, num_labels=4, hidden=2, seed=0)
    with torch.no_grad():
        m.out.weight.copy_(torch.tensor([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 0.5], [0, 0, 0]]))
    return m, torch.tensor([[1.0, 0.0]])  # logits of labels 0..3: 1, 2, 0.5, 0


def _neg(ids, log_q):
    ids = torch.tensor([ids])
    return Negatives(ids=ids, log_q=torch.tensor([log_q]), valid=torch.ones_like(ids, dtype=torch.bool),
                     from_lsh=torch.ones_like(ids, dtype=torch.bool), union_size=torch.tensor([ids.shape[1]]))


def test_sampled_loss_subtracts_log_q_from_negatives_only():
    # positive 0 (logit 1), negatives 1 (logit 2, log_q log .5) and 2 (logit .5, log_q log .25). Catches a
    # correction with the wrong sign, applied to the positive, or misaligned with the negatives.
    m, h = _model()
    neg = _neg([1, 2], [math.log(0.5), math.log(0.25)])
    z = [1.0, 2.0 - math.log(0.5), 0.5 - math.log(0.25)]
    want = -(z[0] - math.log(sum(math.exp(v) for v in z)))
    got = sampled_loss(m, h, torch.tensor([[0]]), neg, logq=True)
    assert math.isclose(got.item(), want, rel_tol=1e-6)
    plain = -(1.0 - math.log(math.exp(1.0) + math.exp(2.0) + math.exp(0.5)))
    got_plain = sampled_loss(m, h, torch.tensor([[0]]), neg, logq=False)
    assert math.isclose(got_plain.item(), plain, rel_tol=1e-6)
    assert abs(got.item() - got_plain.item()) > 0.1


def test_two_positives_average_their_nll_and_padding_is_ignored():
    # positives 0 and 3 (logits 1, 0), one padding slot (-1), negative 1 (logit 2, log_q 0): the docstring's
    # "uniform target over the positives" gives -(log p0 + log p3) / 2 with p over {0, 3, 1} only. Catches a
    # sum instead of a mean, or a padding slot counted as a candidate / positive.
    m, h = _model()
    got = sampled_loss(m, h, torch.tensor([[0, 3, -1]]), _neg([1], [0.0]), logq=True)
    lse = math.log(math.exp(1.0) + math.exp(0.0) + math.exp(2.0))
    want = -((1.0 - lse) + (0.0 - lse)) / 2
    assert math.isclose(got.item(), want, rel_tol=1e-6)


def test_multilabel_nll_averages_rows_and_skips_rows_without_positives():
    logits = torch.tensor([[0.0, 1.0, 5.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    is_pos = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    valid = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    # row 0: the invalid logit 5 is excluded -> p = softmax([0, 1]); row 2 has no positive and is dropped
    lse0 = math.log(1 + math.e)
    r0 = -((0 - lse0) + (1 - lse0)) / 2
    r1 = -(2 - math.log(math.exp(2) + 2))
    got = multilabel_nll(logits, is_pos, valid)
    assert math.isclose(got.item(), (r0 + r1) / 2, rel_tol=1e-6)


def test_full_loss_equals_the_masked_softmax_nll_and_its_gradients():
    """full_loss (logsumexp minus the positives' mean logit, no masked (B, N) copies) against multilabel_nll on the
    full logits with every label valid, the definition: same loss and same gradients for every parameter, on 6
    rows with 0-3 positives, a repeated id counting once (a row without any is left out of the mean by both)."""
    from workbench.lsh.query import positive_mask
    from workbench.lsh.softmax_model import full_loss
    model = BowSoftmax(num_features=9, num_labels=13, hidden=5, seed=0)
    h = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    pos = torch.tensor([[0, 4, 12], [3, -1, 3], [-1, -1, -1], [7, 8, -1], [12, -1, -1], [5, 2, 5]])  # repeats once
    got = full_loss(model, h, pos)
    g_got = torch.autograd.grad(got, model.out.weight)[0]
    logits = model.full_logits(h)
    is_pos = positive_mask(pos, 13)
    want = multilabel_nll(logits, is_pos, torch.ones_like(is_pos))
    g_want = torch.autograd.grad(want, model.out.weight)[0]
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert torch.allclose(g_got.to_dense(), g_want.to_dense(), atol=1e-6)
