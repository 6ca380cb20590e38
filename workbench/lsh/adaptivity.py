"""How hard (adaptive) are a sampler's negatives, against the model's own softmax on held-out queries.

For B held-out query vectors q and the current label vectors W (the race's model folds its output bias into
both: q = [h, 1], W = [w, c]), the reference is the softmax of ``q W^T`` over each query's non-positive labels.
Per drawer, over ``repeats`` draws:

* ``mean_logit``: mean logit of the valid sampled negatives;
* ``mean_rank``: their mean rank among the query's labels by logit, as a fraction (0 = the top label);
* ``top50_share``: share of the query's top-50 negatives (by logit) that a draw returns, divided by
  ``min(50, budget)`` so 1 means every slot was a top-50 negative;
* ``tv`` / ``kl``: total variation and KL(sampler || softmax) between the drawer's empirical distribution over
  labels (counts over the draws: ``draws_per_query`` per query) and the softmax. With far fewer draws than labels
  the empirical distribution is mostly noise: even the exact drawer, which samples this very softmax, reads a
  large TV. Its row is the noise floor at that number of draws; compare drawers at equal ``repeats``, against it.
Drawers get the same q and W (LSH-Embedding hashes q; exact samples from this very softmax).
"""
from __future__ import annotations

import torch

from .drawers import Drawer
from .query import is_member, positive_mask


@torch.no_grad()
def adaptivity_rows(h: torch.Tensor, W: torch.Tensor, positives: torch.Tensor, drawers: dict[str, Drawer],
                    repeats: int, generator: torch.Generator, top: int = 50) -> list[dict]:
    """h (B, d) query vectors, W (N, d) label vectors, positives (B, P) padded with -1 -> one row per drawer.

    Besides the hardness and distance columns: ``from_buckets``, the share of its valid draws an LSH drawer took
    from the query's buckets (the rest is uniform padding of a short union; 0 for drawers without buckets), and
    ``union_mean``, the mean number of labels in a query's buckets (0 without buckets), and ``bucket_kept``, the
    mean share of the labels hashed to a query's buckets that the capped tables kept (NaN without buckets): how
    much crowding costs the queries this drawer makes, which the tables' overall crowding does not say (LSH-Label
    queries land in the crowded buckets of the labels; held-out embeddings may not). Queries whose positives
    are every label have no negatives and no softmax to compare with: they are left out (all of them: ValueError)."""
    has_negatives = ~positive_mask(positives, W.shape[0]).all(1)
    if not bool(has_negatives.any()):
        raise ValueError(f"none of the {h.shape[0]} held-out queries has a negative label (their positives are all "
                         f"{W.shape[0]} labels): nothing to measure")
    h, positives = h[has_negatives], positives[has_negatives]
    logits = h @ W.T
    is_pos = positive_mask(positives, logits.shape[1])
    masked = logits.masked_fill(is_pos, float("-inf"))
    logp = torch.log_softmax(masked, dim=1)
    N = logits.shape[1]
    rank = masked.argsort(dim=1, descending=True).argsort(dim=1).float() / max(N - 1, 1)
    top_ids = masked.topk(min(top, N), dim=1).indices
    rows = []
    for name, draw in drawers.items():
        counts = torch.zeros_like(logits)
        lsum = rsum = share = n = buckets = union = kept = 0.0
        for _ in range(repeats):
            neg = draw(h, positives, W, generator)
            v = neg.valid
            counts.scatter_add_(1, neg.ids, v.to(counts.dtype))
            lsum += float(logits.gather(1, neg.ids)[v].sum())
            rsum += float(rank.gather(1, neg.ids)[v].sum())
            n += float(v.sum())
            buckets += float(neg.from_lsh[v].sum())
            union += float(neg.union_size.float().mean())
            kept += float(neg.bucket_kept.float().mean()) if neg.bucket_kept is not None else float("nan")
            got = is_member(top_ids, neg.ids.masked_fill(~v, -1))
            share += float(got.float().sum(1).mean()) / min(top, neg.ids.shape[1], N)
        q = counts / counts.sum(1, keepdim=True).clamp(min=1)
        p = logp.exp()
        kl = torch.where(q > 0, q * (q.clamp(min=1e-30).log() - logp), torch.zeros_like(q)).sum(1)
        rows.append({"sampler": name, "mean_logit": lsum / max(n, 1), "mean_rank": rsum / max(n, 1),
                     "top50_share": share / repeats, "tv": float(0.5 * (q - p).abs().sum(1).mean()),
                     "kl": float(kl.mean()), "draws_per_query": n / logits.shape[0],
                     "from_buckets": buckets / max(n, 1), "union_mean": union / repeats, "bucket_kept": kept / repeats})
    return rows
