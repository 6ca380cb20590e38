"""Losses over a batch's scored candidates, chosen by name from :data:`LOSSES`.

Every loss is built as ``LOSSES.get(name)(**params)`` and called as
``loss(scores, targets, valid=None, log_q=None) -> scalar``: ``scores`` (B, K) raw similarities (cosines for the
dual encoder, inner products for a classifier), ``targets`` (B, K) bool positives, ``valid`` (B, K) bool (False =
padding / removed accidental hit, ignored), ``log_q`` (B, K) log expected counts in the sampler's draw, for the
logQ correction (see ``SampledBatch``).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..registry import Registry

LOSSES: Registry = Registry("loss")


def _masks(targets: torch.Tensor, valid: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    valid = torch.ones_like(targets) if valid is None else valid
    return targets & valid, ~targets & valid


@LOSSES.register("softmax")
@dataclasses.dataclass(frozen=True)
class DecoupledSoftmax:
    """Softmax cross-entropy of each positive against the negatives only (DEXML's decoupled softmax).

    z = scores / temperature (- log_q when ``logq`` and the sampler gives log_q; full batches score every label,
    so need none, while in-batch and shortlist pools are not random draws with a known probability and get no
    correction here, though they are biased: at B = 512 on Debian a label seen once in training was in an
    in-batch pool with probability 0.004, one seen 101-400 times with 0.45); per positive (b, j):
    loss = -z_bj + log(exp(z_bj) + sum over valid negatives n of exp(z_bn)) = softplus(LSE_neg(b) - z_bj);
    the other positives of b are left out of the denominator. Mean over valid positives.
    """
    temperature: float = 0.05
    logq: bool = False

    def __call__(self, scores, targets, valid=None, log_q=None):
        z = scores.float() / self.temperature
        if self.logq and log_q is not None:  # samplers without random draws (full, in-batch, hard) give None
            z = z - log_q.to(z)
        pos, neg = _masks(targets, valid)
        lse_neg = torch.where(neg, z, torch.full_like(z, -torch.inf)).logsumexp(dim=1, keepdim=True)
        per = F.softplus(lse_neg - z)
        return (per * pos).sum() / pos.sum().clamp(min=1)


@LOSSES.register("triplet")
@dataclasses.dataclass(frozen=True)
class TripletHard:
    """NGAME's M1 triplet loss with online hard negatives.

    Per positive (b, j): the ``hardest`` highest-scoring valid negatives n of b, each violation
    max(0, s_bn - s_bj + margin) weighted by softmax of s_bn / ``weight_temperature`` over those of the negatives
    that violate for (b, j) (the official code's masking)
    (``weight_temperature`` <= 0 gives equal weights 1). Sum over negatives, mean over valid positives.
    ``positives`` > 0 keeps only that many least-similar positives per query (NGAME's M-IV classifier stage:
    3 positives, 5 hardest negatives, margin 0.2, no weighting).

    Against the official ``TripletMarginLossOHNM`` (reduction "custom": sum over negatives, mean over rows): the
    same per row when a query has one positive in the pool. With in-batch pools a query's anchors are every pool
    label that is its positive (its own sampled one and any batch-mate's that it shares), averaged, where the
    official code's row is the one sampled positive.
    """
    margin: float = 0.3
    hardest: int = 10
    weight_temperature: float = 0.1
    positives: int = 0

    def __call__(self, scores, targets, valid=None, log_q=None):
        s = scores.float()
        pos, neg = _masks(targets, valid)
        if self.positives > 0:
            k = min(self.positives, s.shape[1])
            at = torch.where(pos, -s, torch.full_like(s, -torch.inf)).topk(k, dim=1).indices
            keep = torch.zeros_like(pos).scatter_(1, at, True)
            pos = pos & keep
        h = min(self.hardest, s.shape[1])
        neg_s, at = torch.where(neg, s, torch.full_like(s, -torch.inf)).topk(h, dim=1)
        ok = neg.gather(1, at)
        neg_s = torch.where(ok, neg_s, torch.zeros_like(neg_s))
        viol = F.relu(neg_s[:, None, :] - s[:, :, None] + self.margin)  # (B, K, h)
        if self.weight_temperature > 0:
            # as the official NGAME loss: the softmax runs over the violating negatives of each positive only
            # (non-violators get no share of the weight), so a lone violator keeps its full term
            live = ok[:, None, :] & (viol > 0)
            logits = (neg_s / self.weight_temperature)[:, None, :].expand_as(viol)
            w = torch.where(live, logits, torch.full_like(viol, -torch.inf)).softmax(-1)
            w = torch.nan_to_num(w) * live  # rows without violators give nan -> 0
        else:
            w = ok[:, None, :].float()
        per = (viol * w).sum(-1)
        return (per * pos).sum() / pos.sum().clamp(min=1)


@LOSSES.register("bce")
@dataclasses.dataclass(frozen=True)
class BinaryCE:
    """Binary cross-entropy of sigmoid(scale * scores + b) against ``targets``, mean over valid entries (the
    one-vs-all classifier loss; with the ``full`` sampler this is the full BCE of Renee).

    With ``prior`` (default) b is the log-odds of the batch's positive rate r (positives / valid entries), a
    constant per batch that shifts no ranking: at scores 0 it already predicts r, so the loss's gradient sums
    to zero and training spends no steps pushing every one of the L labels down. Without it (b = 0) an
    untrained label predicts 1/2; measured on the full Debian titles set (37K labels, r = 1.1e-4, frozen
    MiniLM, unit-norm classifier, scale 20, one epoch): P@1 30.6 without the prior, 44.0 with it. Centring the
    scores too (b = logit(r) - the batch's mean of scale * scores, so that any common offset also starts at r) was
    worse there (frozen profile, 3 epochs: classifier P@1 / PSP@5 40.6 / 18.5 against 44.1 / 24.7; fused
    43.5 / 34.8 against 42.3 / 34.4; 2026-11-24), so it is not done.
    """
    scale: float = 1.0
    prior: bool = True

    def __call__(self, scores, targets, valid=None, log_q=None):
        z = scores.float() * self.scale
        t = targets.float()
        if self.prior:
            n = t.numel() if valid is None else valid.sum()
            r = ((t if valid is None else t * valid).sum() / n).clamp(1e-12, 1 - 1e-12)
            z = z + torch.log(r) - torch.log1p(-r)
        per = F.binary_cross_entropy_with_logits(z, t, reduction="none")
        if valid is None:
            return per.mean()
        return (per * valid).sum() / valid.sum().clamp(min=1)


def build_loss(name: str, **params):
    """``LOSSES.get(name)(**params)``; unknown parameters raise naming the loss's fields."""
    cls = LOSSES.get(name)
    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(params) - known)
    if bad:
        raise ValueError(f"loss {name!r} takes {sorted(known)}, not {bad}")
    return cls(**params)
