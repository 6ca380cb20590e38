"""Losses against hand-computed values on 1-2 query examples (what a formula slip would change)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.xmc_train.losses import LOSSES, build_loss


def test_decoupled_softmax_hand_value():
    # one query, candidates [p1, p2, n1, n2]: each positive competes only with the negatives
    s = torch.tensor([[0.5, 0.2, 0.1, -0.3]])
    t = torch.tensor([[True, True, False, False]])
    tau = 0.1
    z = [x / tau for x in (0.5, 0.2, 0.1, -0.3)]
    negs = math.exp(z[2]) + math.exp(z[3])
    expect = (-math.log(math.exp(z[0]) / (math.exp(z[0]) + negs))
              - math.log(math.exp(z[1]) / (math.exp(z[1]) + negs))) / 2
    got = build_loss("softmax", temperature=tau)(s, t)
    assert got.item() == pytest.approx(expect, rel=1e-6)


def test_decoupled_softmax_single_positive_equals_cross_entropy():
    s = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    t = torch.zeros(4, 6, dtype=torch.bool)
    t[:, 0] = True
    got = build_loss("softmax", temperature=0.5)(s, t)
    assert got.item() == pytest.approx(F.cross_entropy(s / 0.5, torch.zeros(4, dtype=torch.long)).item(), rel=1e-6)


def test_invalid_entries_are_ignored():
    s = torch.tensor([[0.5, 0.1, 9.0]])
    t = torch.tensor([[True, False, False]])
    v = torch.tensor([[True, True, False]])
    loss = build_loss("softmax", temperature=1.0)
    assert loss(s, t, v).item() == pytest.approx(loss(s[:, :2], t[:, :2]).item(), rel=1e-6)


def test_logq_correction_subtracts_log_q():
    s = torch.tensor([[0.3, 0.1, 0.2]])
    t = torch.tensor([[True, False, False]])
    lq = torch.tensor([[math.log(0.5), math.log(2.0), math.log(0.25)]])
    z = [0.3 / 0.2 - math.log(0.5), 0.1 / 0.2 - math.log(2.0), 0.2 / 0.2 - math.log(0.25)]
    expect = -z[0] + math.log(sum(math.exp(x) for x in z))
    got = build_loss("softmax", temperature=0.2, logq=True)(s, t, None, lq)
    assert got.item() == pytest.approx(expect, rel=1e-6)
    plain = build_loss("softmax", temperature=0.2)(s, t, None, lq)  # logq off: log_q ignored
    assert plain.item() != pytest.approx(expect, rel=1e-3)
    no_q = build_loss("softmax", temperature=0.2, logq=True)(s, t)  # deterministic samplers: no correction
    assert no_q.item() == pytest.approx(plain.item())


def test_triplet_hand_value():
    # positive 0.5; negatives 0.6, 0.3, -0.5; margin 0.3, 2 hardest (0.6, 0.3), weights softmax(s/0.1)
    s = torch.tensor([[0.5, 0.6, 0.3, -0.5]])
    t = torch.tensor([[True, False, False, False]])
    w1, w2 = math.exp(6.0), math.exp(3.0)
    w1, w2 = w1 / (w1 + w2), w2 / (w1 + w2)
    expect = w1 * (0.6 - 0.5 + 0.3) + w2 * max(0.0, 0.3 - 0.5 + 0.3)
    got = build_loss("triplet", margin=0.3, hardest=2, weight_temperature=0.1)(s, t)
    assert got.item() == pytest.approx(expect, rel=1e-5)
    unweighted = build_loss("triplet", margin=0.3, hardest=2, weight_temperature=0.0)(s, t)
    assert unweighted.item() == pytest.approx(0.4 + 0.1, rel=1e-5)


def test_triplet_positives_keeps_the_least_similar():
    # M-IV: positives 0.9, 0.1, 0.5, 0.7; negatives 0.6, 0.2; the 2 least similar positives (0.1, 0.5) against the
    # hardest negative (0.6), margin 0.2, no weighting: (0.7 + 0.3) / 2. The 2 most similar would give 0.05.
    s = torch.tensor([[0.9, 0.1, 0.5, 0.7, 0.6, 0.2]])
    t = torch.tensor([[True, True, True, True, False, False]])
    got = build_loss("triplet", margin=0.2, hardest=1, weight_temperature=0.0, positives=2)(s, t)
    assert got.item() == pytest.approx(0.5, rel=1e-5)


def test_triplet_weights_only_violators():
    # positive 0.8; hardest negatives 0.6 (violates by 0.1) and 0.45 (does not: 0.45 - 0.8 + 0.3 < 0). As in
    # NGAME's official loss, the softmax runs over violators only, so the lone violator keeps weight 1 (a softmax
    # over both would give it exp(6) / (exp(6) + exp(4.5)) = 0.82).
    s = torch.tensor([[0.8, 0.6, 0.45, -0.5]], requires_grad=True)
    t = torch.tensor([[True, False, False, False]])
    got = build_loss("triplet", margin=0.3, hardest=2, weight_temperature=0.1)(s, t)
    assert got.item() == pytest.approx(0.1, rel=1e-5)
    # two positives: 0.8 has one violator (0.6); 0.2 has both (weights softmax over 0.6, 0.45)
    s2 = torch.tensor([[0.8, 0.2, 0.6, 0.45]])
    t2 = torch.tensor([[True, True, False, False]])
    w1 = math.exp(6.0) / (math.exp(6.0) + math.exp(4.5))
    expect = (0.1 + w1 * 0.7 + (1 - w1) * 0.55) / 2
    got2 = build_loss("triplet", margin=0.3, hardest=2, weight_temperature=0.1)(s2, t2)
    assert got2.item() == pytest.approx(expect, rel=1e-5)
    # no violator at all: zero loss and finite (zero) gradients, not nan
    s3 = torch.tensor([[0.9, -0.5, -0.6]], requires_grad=True)
    triplet = build_loss("triplet", margin=0.3, hardest=2, weight_temperature=0.1)
    loss3 = triplet(s3, torch.tensor([[True, False, False]]))
    loss3.backward()
    assert loss3.item() == 0.0 and torch.isfinite(s3.grad).all()


def test_bce_matches_torch():
    s = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    t = torch.rand(3, 5, generator=torch.Generator().manual_seed(2)) > 0.5
    got = build_loss("bce", scale=2.0, prior=False)(s, t)
    assert got.item() == pytest.approx(F.binary_cross_entropy_with_logits(2 * s, t.float()).item(), rel=1e-6)
    r = t.float().mean()
    prior = build_loss("bce", scale=2.0)(s, t)
    expect = F.binary_cross_entropy_with_logits(2 * s + torch.log(r / (1 - r)), t.float())
    assert prior.item() == pytest.approx(expect.item(), rel=1e-6)


def test_bce_prior_is_the_constant_that_zero_scores_should_predict():
    """At scores 0 the prior logit predicts the batch's positive rate over the valid entries, so the gradient
    sums to zero (the positive rate is the maximum-likelihood constant); without the prior it pushes down."""
    t = torch.zeros(4, 50, dtype=torch.bool)
    t[torch.arange(4), torch.tensor([3, 7, 7, 9])] = True
    valid = torch.ones_like(t)
    valid[:, 40:] = False  # padding: not counted in the rate
    for prior, sign in ((True, 0), (False, 1)):
        s = torch.zeros(4, 50, requires_grad=True)
        build_loss("bce", scale=5.0, prior=prior)(s, t, valid).backward()
        total = s.grad[valid].sum().item()
        assert (abs(total) < 1e-6) if sign == 0 else total > 0.1
        assert (s.grad[~valid] == 0).all()


def test_registry_and_bad_params():
    assert {"softmax", "triplet", "bce"} <= set(LOSSES.names())
    with pytest.raises(ValueError, match="takes"):
        build_loss("softmax", margin=0.2)
    with pytest.raises(ValueError, match="known"):
        build_loss("hinge")


@pytest.mark.parametrize("weight_temperature", [0.0, 0.1])
def test_triplet_ignores_invalid_and_padded_negatives(weight_temperature):
    # positive 0.1; negatives 0.6 (valid, violates by 0.8), 0.3 (invalid: would violate by 0.5), -0.5 (valid, no
    # violation). With hardest=3 the top-3 also picks a -inf filler slot (the positive or the invalid one) that the
    # code zeroes to score 0, which would "violate" by 0.2 if it were not masked out. Only 0.6 may count.
    loss = build_loss("triplet", margin=0.3, hardest=3, weight_temperature=weight_temperature)
    s = torch.tensor([[0.1, 0.6, 0.3, -0.5]])
    t = torch.tensor([[True, False, False, False]])
    v = torch.tensor([[True, True, False, True]])
    assert loss(s, t, v).item() == pytest.approx(0.8, rel=1e-5)
    # hardest larger than the pool: one real negative, the rest of the top-k are filler slots
    s2 = torch.tensor([[0.1, 0.6]])
    t2 = torch.tensor([[True, False]])
    got2 = build_loss("triplet", margin=0.3, hardest=5, weight_temperature=weight_temperature)(s2, t2)
    assert got2.item() == pytest.approx(0.8, rel=1e-5)
