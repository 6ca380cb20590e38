"""Sampling probabilities of the LSH sampler, for the logQ correction of the sampled softmax.

A label ``j`` is in a query's union of buckets when its code equals the query's in at least one of L tables.

* SimHash: one bit agrees with probability ``p = 1 - theta/pi`` (theta: angle between query and label
  vector), a K-bit code with ``p^K``, and tables are independent, so ``P(j in union) = 1 - (1 - p^K)^L``
  exactly, over the draw of the hash functions.
* DWTA: no closed form. :func:`dwta_inclusion` plugs in ``p_hat`` = the share of the L*K elementary hashes
  on which query and label agree under the current functions. That is an estimate, biased upward for labels
  that were retrieved (they were retrieved because their hashes agree), and the K hashes of one table are not
  independent; use it as a relative weight, not as a calibrated probability. Even as a weight it is rough: on
  trained Bibtex weights it reported 3-6x the empirical inclusion of retrieved labels, ~8x for labels retrieved
  2-5% of the time and 1.4-3x above 10%, so a logQ correction with DWTA over-penalises rarely retrieved labels
  (prefer SimHash where logQ is on; no profile of the study runs DWTA).

What these formulas do not include, and :func:`sample_log_q` approximates:

* bucket capacity: a bucket holding ``full`` > ``cap`` labels keeps a uniformly random ``cap`` of them, so a
  label that collides with the query in table t is kept with probability ``r_t = cap / full_t`` (1 when the
  bucket is not over the cap). ``keep`` passes the query's own ``r_t`` per table, and the union's probability
  becomes ``1 - prod_t (1 - p^K r_t)``: a plug-in, since under other hash functions the query's buckets would
  hold other counts (applied when the caller passes ``keep``, as :func:`workbench.lsh.query.lsh_negatives` does);
* the budget: when the union holds U > budget labels, ``budget`` of them are kept uniformly at random, so
  each kept label's probability is multiplied by ``budget / U`` (applied);
* padding: a short union is filled with ``m = budget - U`` uniform labels, so each label is expected ``m / N``
  times among them, whether it is also in the union or not: every slot's expected count is the sum of the two
  terms (applied; with only one term per slot, the LSH slots of a short union were under-reported by a median
  1.1-2x, up to 6.7x on Bibtex at K=6, L=4, where 94% of slots were padding).

Both plug-ins read this draw's counts, so they run high where the counts vary between draws of the hash functions
(by Jensen: the mean of ``budget / U`` is above ``budget`` over the mean of U). Measured over 3000 redraws, 200-400
Gaussian labels, K=3, L=4: with cap 8 the expected counts summed to 19.7 against the budget's 16 (16.6 without the
cap), and the capped inclusion probabilities to 36.1 against 30.5 observed (175 without ``keep``). A bias shared by
all of a query's slots cancels in the softmax; only its spread across labels changes the correction.
"""
from __future__ import annotations

import math

import torch

LOG_Q_FLOOR = math.log(1e-6)  # lowest inclusion log-probability reported for a retrieved label


def simhash_bit_prob(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-bit SimHash collision probability ``1 - theta/pi`` between (B, d) queries and (B, M, d) labels
    -> (B, M)."""
    q, w = q.float(), w.float()
    # dot products over norms: one read of the (B, M, d) labels each, no normalised copy of them (5x faster
    # on a CPU than normalising first, for B=512, M=256, d=129)
    norms = (q.norm(dim=-1, keepdim=True) * w.norm(dim=-1)).clamp(min=1e-12)
    cos = (torch.einsum("bd,bmd->bm", q, w) / norms).clamp(-1.0, 1.0)
    return 1.0 - torch.arccos(cos) / math.pi


def log_inclusion(p_bit: torch.Tensor, K: int, L: int, keep: torch.Tensor | None = None) -> torch.Tensor:
    """``log(1 - prod_t (1 - p^K r_t))`` for (B, M) bit probabilities, computed stably; ``-inf`` where ``p == 0``.

    ``keep``: (B, L) the share ``r_t`` of each query's bucket that its table kept (``cap / full``, at most 1);
    None: every ``r_t`` is 1, i.e. ``log(1 - (1 - p^K)^L)``."""
    pk = p_bit.clamp(0.0, 1.0) ** K
    if keep is None:
        log_miss = L * torch.log1p(-pk.clamp(max=1.0 - 1e-12))                     # log (1-p^K)^L
    else:                                                                          # sum_t log(1 - p^K r_t)
        hit = pk.unsqueeze(-1) * keep.to(pk.dtype).unsqueeze(1)                    # (B, M, L)
        log_miss = torch.log1p(-hit.clamp(max=1.0 - 1e-12)).sum(-1)
    return torch.log(-torch.expm1(log_miss)).where(pk > 0, torch.full_like(pk, -math.inf))


def simhash_log_inclusion(q: torch.Tensor, w: torch.Tensor, K: int, L: int,
                          keep: torch.Tensor | None = None) -> torch.Tensor:
    """(B, d) queries, (B, M, d) labels -> (B, M) log probability that each label is in the query's union
    (``keep``: see :func:`log_inclusion`)."""
    return log_inclusion(simhash_bit_prob(q, w), K, L, keep)


def dwta_inclusion(q_sub: torch.Tensor, w_sub: torch.Tensor, K: int, L: int,
                   keep: torch.Tensor | None = None) -> torch.Tensor:
    """Estimated log inclusion from elementary DWTA hashes: (B, L, K) and (B, M, L, K) -> (B, M)."""
    p_hat = (q_sub.unsqueeze(1) == w_sub).float().mean(dim=(-1, -2))
    return log_inclusion(p_hat, K, L, keep)


def sample_log_q(log_incl: torch.Tensor, union_size: torch.Tensor, budget: int, num_labels: int,
                 from_lsh: torch.Tensor | None = None) -> torch.Tensor:
    """Log expected count of each returned negative's label in the sample, (B, budget).

    ``log_incl``: (B, budget) inclusion log-prob of each slot's label; ``union_size``: (B,) union sizes U (true
    labels removed). Every slot, whether filled from the union or by padding, gets
    ``log(exp(max(log_incl, LOG_Q_FLOOR)) * min(1, budget/U) + m/N)``: the label's share of the union's kept
    labels plus its share of the ``m = max(budget - U, 0)`` uniform pads (a label can come either way).
    ``from_lsh``: (B, budget) which slots the buckets filled (None: all of them); the floor applies to those only.
    """
    # floor: a label retrieved with a numerically vanishing estimate (DWTA, or vectors that moved since the
    # rehash) would otherwise get an unbounded (inf) logit boost from the correction. A padded slot needs none:
    # its count is at least m / N, which the floor would overstate (11x for m = 1 at N = 10^7)
    floored = log_incl.clamp(min=LOG_Q_FLOOR)
    log_incl = floored if from_lsh is None else torch.where(from_lsh, floored, log_incl)
    U = union_size.clamp(min=1).to(log_incl.dtype).unsqueeze(1)
    keep = torch.clamp(budget / U, max=1.0).log()
    m = (budget - union_size.clamp(max=budget)).to(log_incl.dtype).unsqueeze(1)
    return torch.logaddexp(log_incl + keep, (m / num_labels).log())  # m = 0: log 0 = -inf, the union term alone
