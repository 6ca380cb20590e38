"""Hash tables in a compact layout: per table, label ids sorted by bucket code plus bucket offsets; and
:class:`LSHIndex`, which builds, rehashes, redraws and centres them.

No Python lists: building is one sort, one counting ``scatter_add_`` and one ``cumsum`` per table, all batched
over the L tables; looking up a bucket is a gather. Each bucket keeps at most ``cap`` ids, a uniformly random
subset of the labels that hashed there (the reservoir of the reference implementation, done at once: sort by code
with random priorities below it, keep each bucket's first ``cap``).
"""
from __future__ import annotations

import dataclasses
import time

import torch

from ..timing import sync
from .hashing import HashFamily


@dataclasses.dataclass
class Tables:
    """L hash tables over ``num_labels`` ids.

    ids:     (S,) int64, all tables' kept ids back to back; table t, bucket c is
             ``ids[offsets[t, c] : offsets[t, c] + counts[t, c]]``.
    offsets: (L, num_buckets) int64 start of each bucket in ``ids``.
    counts:  (L, num_buckets) int64 kept ids per bucket (``<= cap``).
    full:    (L, num_buckets) int64 ids that hashed to each bucket before the cap (for diagnostics).
    """
    ids: torch.Tensor
    offsets: torch.Tensor
    counts: torch.Tensor
    full: torch.Tensor
    cap: int
    num_labels: int

    @property
    def L(self) -> int:
        return self.offsets.shape[0]


def build_tables(codes: torch.Tensor, num_buckets: int, cap: int, generator: torch.Generator) -> Tables:
    """Tables from (N, L) int64 bucket codes of labels ``0..N-1``; ``cap`` ids at most per bucket.

    Which ids a full bucket keeps is uniform at random (random priorities break the ties of the sort by code);
    ``generator`` must live on the codes' device.
    """
    if cap < 1:
        raise ValueError(f"bucket capacity must be >= 1, got {cap}")
    N, L = codes.shape
    dev = codes.device
    # one sort per table by (code, random priority): ids grouped by bucket, each bucket in random order
    shift = 62 - max(num_buckets - 1, 1).bit_length()     # priority bits below the code (>= 38: ties ~never)
    priority = torch.randint(0, 1 << shift, (L, N), generator=generator, device=dev)
    srt, order = torch.sort((codes.T.contiguous() << shift) | priority, dim=1)
    sorted_codes = srt >> shift                                                    # (L, N); order: ids by bucket
    full = torch.zeros(L, num_buckets, dtype=torch.int64, device=dev)
    full.scatter_add_(1, sorted_codes, torch.ones_like(sorted_codes))
    start = full.cumsum(1) - full                                                  # bucket start in its row
    rank = torch.arange(N, device=dev).unsqueeze(0) - start.gather(1, sorted_codes)
    keep = rank < cap
    counts = full.clamp(max=cap)
    kept_per_table = counts.sum(1)
    table_base = kept_per_table.cumsum(0) - kept_per_table
    offsets = table_base.unsqueeze(1) + counts.cumsum(1) - counts
    return Tables(ids=order[keep], offsets=offsets, counts=counts, full=full, cap=cap, num_labels=N)


def crowding(full: torch.Tensor, cap: int, num_labels: int) -> dict:
    """How crowded tables are, from their (L, num_buckets) ``full`` counts (ids per bucket before the cap):
    ``largest_bucket`` and ``over_cap_share``, the share of labels in buckets holding more than ``cap`` (of which
    only a random ``cap`` can be drawn: there a sampler is uniform within the crowd, not adaptive), averaged over
    the tables."""
    over = torch.where(full > cap, full, torch.zeros_like(full)).sum(1).float() / num_labels
    return {"largest_bucket": int(full.max()), "over_cap_share": float(over.mean())}


class LSHIndex:
    """A hash family plus the tables of the label vectors it last hashed; rebuilt by :meth:`rehash`.

    With ``center`` the tables hash each label vector minus the mean of all of them (``offset``). A logit
    ``<q, w_l>`` then becomes ``<q, w_l - mean> = <q, w_l> - <q, mean>``: the same for every label of a query,
    so the softmax the sampler imitates is unchanged, while the direction all trained label vectors share (the
    cause of crowded buckets) is gone. Queries are hashed as given (an input embedding, or for the label
    scheme the true label's raw vector: the same argument holds); :meth:`label_vectors` returns labels in the
    hashed (centred) space, for log_q. Measured on the Debian bag of
    words (37K labels, K=10, L=16, cap 128, tables fresh on weights after 300 log-uniform steps): labels in
    buckets over the cap 56% -> 6%, fullest bucket 4922 -> 378 labels, mean rank of LSH-Embedding negatives
    0.39 -> 0.16 (exact softmax sampling 0.09, log-uniform 0.12, uniform 0.50). But in the 60 s CPU race on the
    same data it did not raise P@1. Rehashed every 50 steps, staleness sets the hardness: the labels a query
    keeps drawing get pushed down (mean rank 0.8 at step 50, worse than uniform, centred or not; LSH-Embedding
    P@1 6.5 vs 6.9 at step 150). Rehashed every 10 steps (+2% step time), centring keeps negatives hard as
    training goes on (mean rank 0.30, 0.16, 0.14 at steps 50, 100, 141 against 0.31, 0.27, 0.35), P@1 is 7.2 vs
    6.2 at step 100, but the centred run ended at 7.0 (141 steps) vs 10.2 (161): 15% fewer steps, more than
    centring costs (one subtraction per rehash and per draw), so mostly the noise of that shared 2-core machine.
    On a CPU at 10^6 synthetic labels (K=13, 150 s races) it did not help either: P@1 42.4 centred, 44.1 plain,
    the crowding there (58% of labels over the cap) being what i.i.d. vectors give at that load. Hence off by
    default; the GPU profiles race ``lsh-embedding:center`` beside the plain method.

    ``costs`` lists ``{"what": "rehash"|"redraw", "seconds": ..., "num_labels": ...}`` for every rebuild.
    ``generator`` (on the tables' device) drives the reservoir shuffles; ``fn_generator`` (default: the same)
    draws new hash functions -- a CPU generator there gives the same functions on every device.
    """

    def __init__(self, family: HashFamily, cap: int, generator: torch.Generator,
                 fn_generator: torch.Generator | None = None, center: bool = False):
        self.family = family
        self.cap = cap
        self.center = center
        self.offset: torch.Tensor | None = None   # (dim,) subtracted from label vectors before hashing
        self.generator = generator
        self.fn_generator = fn_generator or generator
        self.tables: Tables | None = None
        self.vectors: torch.Tensor | None = None   # what the last rehash hashed (the caller's tensor, not a copy)
        self.costs: list[dict] = []

    def rehash(self, label_vectors: torch.Tensor, chunk: int = 1 << 18) -> float:
        """Hash (N, dim) label vectors in chunks and rebuild the tables; returns seconds spent. The tensor is
        kept as ``vectors`` (pass a copy if it is a parameter that training updates in place and you want the
        probabilities of what was hashed)."""
        t0 = time.perf_counter()
        self.offset = label_vectors.mean(0) if self.center else None
        codes = torch.cat([self.family.codes(self._shift(label_vectors[i: i + chunk]))
                           for i in range(0, label_vectors.shape[0], chunk)])
        self.tables = build_tables(codes, self.family.num_buckets, self.cap, self.generator)
        self.vectors = label_vectors
        seconds = _sync_elapsed(t0, codes.device)
        self.costs.append({"what": "rehash", "seconds": seconds, "num_labels": int(label_vectors.shape[0])})
        return seconds

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.offset is None else x - self.offset.to(x.dtype)

    def label_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """(n,) ids -> (n, dim) the vectors of these labels as the tables hashed them (centred with ``center``)."""
        if self.vectors is None:
            raise RuntimeError("LSHIndex has no tables yet: call rehash(label_vectors) first")
        return self._shift(self.vectors.index_select(0, ids.to(self.vectors.device)))

    def redraw(self, label_vectors: torch.Tensor) -> float:
        """Draw new hash functions and rehash; returns seconds spent (both)."""
        t0 = time.perf_counter()
        self.family.redraw(self.fn_generator)
        self.rehash(label_vectors)
        seconds = _sync_elapsed(t0, label_vectors.device)
        self.costs.append({"what": "redraw", "seconds": seconds, "num_labels": int(label_vectors.shape[0])})
        return seconds

    def bucket_sizes(self, query_codes: torch.Tensor) -> torch.Tensor:
        """(B, L) codes -> (B, L) int64: how many labels hashed to each query bucket (before the cap)."""
        if self.tables is None:
            raise RuntimeError("LSHIndex has no tables yet: call rehash(label_vectors) first")
        table = torch.arange(self.tables.L, device=query_codes.device).unsqueeze(0)
        return self.tables.full[table, query_codes]

    def kept_share(self, query_codes: torch.Tensor) -> torch.Tensor:
        """(B, L) codes -> (B, L) float: the share of each query bucket's labels that the table kept (``cap /
        full`` for a bucket over the cap, else 1), the reservoir factor of the sampling probabilities."""
        full = self.bucket_sizes(query_codes).clamp(min=1)   # an empty bucket: counts 0 of 1 -> share taken as 1
        cap = self.tables.cap
        return torch.where(full > cap, cap / full.float(), torch.ones_like(full, dtype=torch.float))

    def kept_of_read(self, query_codes: torch.Tensor) -> torch.Tensor:
        """(B, L) codes -> (B,) float: of all the labels hashed to a query's L buckets, the share the tables kept
        (what crowding costs that query: 1 when none of its buckets is over the cap, or all are empty)."""
        full = self.bucket_sizes(query_codes)
        total = full.sum(1)
        kept = full.clamp(max=self.tables.cap).sum(1).float() / total.clamp(min=1).float()
        return torch.where(total > 0, kept, torch.ones_like(kept))

    def buckets(self, query_codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) codes -> ids (B, L*cap) int64 and valid (B, L*cap) bool: each query's L buckets, each read
        through a fixed window of ``cap`` slots (so the cost is independent of the number of labels)."""
        if self.tables is None:
            raise RuntimeError("LSHIndex has no tables yet: call rehash(label_vectors) first")
        t = self.tables
        table = torch.arange(t.L, device=query_codes.device).unsqueeze(0)
        start = t.offsets[table, query_codes]                                          # (B, L)
        count = t.counts[table, query_codes]
        slot = torch.arange(t.cap, device=query_codes.device)
        pos = (start.unsqueeze(-1) + slot).clamp(max=max(t.ids.numel() - 1, 0))
        valid = slot < count.unsqueeze(-1)
        ids = t.ids[pos] if t.ids.numel() else torch.zeros_like(pos)
        B = query_codes.shape[0]
        return ids.view(B, -1), valid.view(B, -1)


def _sync_elapsed(t0: float, device: torch.device) -> float:
    sync(device)
    return time.perf_counter() - t0
