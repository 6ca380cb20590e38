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


# the most query x label entries one chunk of the probe holds per array: at 10^7 labels and 128 queries the probe
# at once held ~40 GB (logits, masked logits, log-softmax, two int64 argsorts, counts), next to a model of ~20 GB
MAX_ELEMENTS = 2 ** 26

_SUMS = ("logit", "rank", "n", "buckets", "union", "kept", "share", "tv", "kl")


@torch.no_grad()
def adaptivity_rows(h: torch.Tensor, W: torch.Tensor, positives: torch.Tensor, drawers: dict[str, Drawer],
                    repeats: int, generator: torch.Generator, top: int = 50,
                    max_elements: int = MAX_ELEMENTS) -> list[dict]:
    """h (B, d) query vectors, W (N, d) label vectors, positives (B, P) padded with -1 -> one row per drawer.

    Besides the hardness and distance columns: ``from_buckets``, the share of its valid draws an LSH drawer took
    from the query's buckets (the rest is uniform padding of a short union; 0 for drawers without buckets), and
    ``union_mean``, the mean number of labels in a query's buckets (0 without buckets), and ``bucket_kept``, the
    mean share of the labels hashed to a query's buckets that the capped tables kept (NaN without buckets): how
    much crowding costs the queries this drawer makes, which the tables' overall crowding does not say (LSH-Label
    queries land in the crowded buckets of the labels; held-out embeddings may not). Queries whose positives
    are every label have no negatives and no softmax to compare with: they are left out (all of them: ValueError).
    The queries are probed in chunks of at most ``max_elements`` (query, label) entries (at least one query);
    with one chunk the draws are those of a single call per drawer and repeat."""
    has_negatives = ~positive_mask(positives, W.shape[0]).all(1)
    if not bool(has_negatives.any()):
        raise ValueError(f"none of the {h.shape[0]} held-out queries has a negative label (their positives are all "
                         f"{W.shape[0]} labels): nothing to measure")
    h, positives = h[has_negatives], positives[has_negatives]
    B, N = h.shape[0], W.shape[0]
    step = max(1, max_elements // max(N, 1))
    sums = {name: dict.fromkeys(_SUMS, 0.0) for name in drawers}
    for a in range(0, B, step):
        _probe_chunk(h[a:a + step], W, positives[a:a + step], drawers, repeats, generator, top, sums)
    return [{"sampler": name, "mean_logit": t["logit"] / max(t["n"], 1), "mean_rank": t["rank"] / max(t["n"], 1),
             "top50_share": t["share"] / (repeats * B), "tv": t["tv"] / B, "kl": t["kl"] / B,
             "draws_per_query": t["n"] / B, "from_buckets": t["buckets"] / max(t["n"], 1),
             "union_mean": t["union"] / (repeats * B), "bucket_kept": t["kept"] / (repeats * B)}
            for name, t in sums.items()]


def _probe_chunk(h, W, positives, drawers, repeats, generator, top, sums) -> None:
    """Add one chunk of queries' sums to ``sums`` (per drawer: logit, rank, n and buckets over valid draws;
    union, kept and share summed over queries and repeats; tv and kl summed over queries)."""
    logits = h @ W.T
    b, N = logits.shape
    masked = logits.masked_fill(positive_mask(positives, N), float("-inf"))
    logp = torch.log_softmax(masked, dim=1)
    rank = masked.argsort(dim=1, descending=True).argsort(dim=1).float() / max(N - 1, 1)
    top_ids = masked.topk(min(top, N), dim=1).indices
    del masked
    for name, draw in drawers.items():
        t = sums[name]
        counts = torch.zeros_like(logits)
        for _ in range(repeats):
            neg = draw(h, positives, W, generator)
            v = neg.valid
            counts.scatter_add_(1, neg.ids, v.to(counts.dtype))
            t["logit"] += float(logits.gather(1, neg.ids)[v].sum())
            t["rank"] += float(rank.gather(1, neg.ids)[v].sum())
            t["n"] += float(v.sum())
            t["buckets"] += float(neg.from_lsh[v].sum())
            t["union"] += float(neg.union_size.float().expand(b).sum())  # (b,), or one value for every query
            t["kept"] += float(neg.bucket_kept.float().expand(b).sum()) if neg.bucket_kept is not None else float("nan")
            got = is_member(top_ids, neg.ids.masked_fill(~v, -1))
            t["share"] += float(got.float().sum(1).sum()) / min(top, neg.ids.shape[1], N)
        q = counts / counts.sum(1, keepdim=True).clamp(min=1)
        del counts
        t["tv"] += float(0.5 * (q - logp.exp()).abs().sum())
        t["kl"] += float(torch.where(q > 0, q * (q.clamp(min=1e-30).log() - logp), torch.zeros_like(q)).sum())
