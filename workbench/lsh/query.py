"""Drawing negatives from LSH tables for a batch of queries: union of buckets, dedupe, drop positives, keep a
uniform subset up to the budget, pad with uniform labels, attach log-probabilities. All batched tensor ops."""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from .probability import sample_log_q
from .tables import LSHIndex


@dataclasses.dataclass
class Negatives:
    """Negatives for B queries, ``budget`` slots each.

    ids:        (B, budget) int64 label ids.
    log_q:      (B, budget) float log expected count of each label in the sample (for the logQ correction).
    valid:      (B, budget) bool; False for a padded slot that drew a positive (the loss must ignore it).
    from_lsh:   (B, budget) bool; True where the slot came from the query's buckets (False: padding).
    union_size: (B,) int64 distinct non-positive labels in the query's buckets.
    bucket_kept: (B,) float, of the labels hashed to the query's buckets the share the tables kept under their cap
                (:meth:`LSHIndex.kept_of_read`); None for drawers without buckets.
    """
    ids: torch.Tensor
    log_q: torch.Tensor
    valid: torch.Tensor
    from_lsh: torch.Tensor
    union_size: torch.Tensor
    bucket_kept: torch.Tensor | None = None


def is_member(x: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
    """(B, M) ids, (B, P) id sets padded with -1 -> (B, M) bool: ``x[b, m] in sets[b]``."""
    if sets.shape[1] == 0:
        return torch.zeros_like(x, dtype=torch.bool)
    srt = sets.sort(dim=1).values.contiguous()
    idx = torch.searchsorted(srt, x.contiguous()).clamp(max=srt.shape[1] - 1)
    return srt.gather(1, idx) == x


def positive_mask(positives: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(B, P) positives padded with -1 -> (B, num_labels) bool mask of each row's positives.

    Padding goes to a spare column that is dropped: scattering ``positives >= 0`` at ``clamp(min=0)`` would let
    a padding slot's False overwrite label 0 (duplicate scatter indices; last write wins on CPU, any on CUDA).
    """
    mask = torch.zeros(positives.shape[0], num_labels + 1, dtype=torch.bool, device=positives.device)
    mask.scatter_(1, torch.where(positives >= 0, positives, num_labels), True)
    return mask[:, :num_labels]


def union_of_buckets(ids: torch.Tensor, valid: torch.Tensor, positives: torch.Tensor,
                     num_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, M) bucket contents -> (B, M) sorted ids and bool mask of distinct, non-positive entries."""
    x = torch.where(valid, ids, torch.full_like(ids, num_labels)).sort(dim=1).values
    dup = torch.zeros_like(valid)
    dup[:, 1:] = x[:, 1:] == x[:, :-1]
    ok = (x < num_labels) & ~dup & ~is_member(x, positives)
    return x, ok


def choose_and_pad(x: torch.Tensor, ok: torch.Tensor, positives: torch.Tensor, budget: int, num_labels: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A uniform subset of ``budget`` among the ``ok`` entries of each row, padded with uniform labels.

    Returns ids (B, budget), from_lsh (B, budget) bool, valid (B, budget) bool.
    """
    B, M = x.shape
    if M < budget:  # fewer slots than the budget: widen with empty entries so topk has enough
        x = torch.cat([x, x.new_full((B, budget - M), num_labels)], 1)
        ok = torch.cat([ok, ok.new_zeros((B, budget - M))], 1)
    r = torch.rand(x.shape, generator=generator, device=x.device).masked_fill(~ok, 2.0)
    sel = r.topk(budget, dim=1, largest=False).indices
    chosen, from_lsh = x.gather(1, sel), ok.gather(1, sel)
    pad = torch.randint(num_labels, (B, budget), generator=generator, device=x.device)
    ids = torch.where(from_lsh, chosen, pad)
    valid = from_lsh | ~is_member(pad, positives)
    return ids, from_lsh, valid


def lsh_negatives(index: LSHIndex, query_vecs: torch.Tensor, positives: torch.Tensor, budget: int,
                  label_vectors: Callable[[torch.Tensor], torch.Tensor] | None, generator: torch.Generator
                  ) -> Negatives:
    """Negatives for (B, dim) query vectors (input embeddings or true-label vectors) with (B, P) positives
    (padded with -1). ``label_vectors(ids) -> (n, dim)`` gives the vectors the tables hashed, for log_q; with
    None, log_q is left at 0 (no correction possible)."""
    N = index.tables.num_labels if index.tables is not None else 0
    codes = index.family.codes(query_vecs)
    ids, valid = index.buckets(codes)
    x, ok = union_of_buckets(ids, valid, positives, N)
    neg, from_lsh, valid = choose_and_pad(x, ok, positives, budget, N, generator)
    union, kept = ok.sum(1), index.kept_of_read(codes)
    if label_vectors is None:
        return Negatives(neg, torch.zeros(neg.shape, device=neg.device), valid, from_lsh, union, kept)
    B = neg.shape[0]
    w = label_vectors(neg.reshape(-1)).view(B, budget, -1)
    log_incl = index.family.log_inclusion(query_vecs, w, index.kept_share(codes))
    log_q = sample_log_q(log_incl, union, budget, N, from_lsh)
    return Negatives(neg, log_q, valid, from_lsh, union, kept)
