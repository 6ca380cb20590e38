"""The negative-sampler protocol shared by every sampler of the XMC studies.

A sampler decides, for one mini-batch of training queries, which labels are scored (a pool of unique label
ids, encoded once) and, per query, which pool columns are its candidates and which are positives. It may also
decide how queries are grouped into batches (NGAME, UniDEC) and refresh its state from the model (ANCE, LSH).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Protocol, runtime_checkable

import torch


@dataclasses.dataclass
class SampledBatch:
    """What the loss needs for one mini-batch.

    queries:    (B,) int64 row ids of the training queries.
    pool:       (C,) int64 unique label ids scored in this batch (label embeddings / classifier rows to compute).
    candidates: (B, K) int64 column indices into ``pool`` scored for each query, or None: every query scores
                the whole pool (full, in-batch, UniDEC).
    targets:    (B, K) bool (or (B, C) when ``candidates`` is None): which scored labels are positives.
    log_q:      same shape as ``targets``, float log-probability with which each candidate was sampled (for a
                logQ correction), or None where sampling is not random (full, in-batch, hard negatives).
    valid:      same shape as ``targets``, bool: False marks padding that the loss must ignore, or None.
    """
    queries: torch.Tensor
    pool: torch.Tensor
    candidates: torch.Tensor | None
    targets: torch.Tensor
    log_q: torch.Tensor | None = None
    valid: torch.Tensor | None = None


@runtime_checkable
class Sampler(Protocol):
    """One negative-sampling strategy. Implementations live in ``workbench/samplers/<name>.py``."""
    name: str

    def batches(self, epoch: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """The epoch's mini-batches of training-query ids (random permutation unless the sampler groups)."""
        ...

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        """Pool, candidates and targets for one mini-batch of query ids."""
        ...

    def refresh(self, state: "ModelView", epoch: int, step: int) -> float:
        """Update state from the current model (shortlists, clusters, hash tables); returns seconds spent
        (0.0 when nothing was due)."""
        ...


class ModelView(Protocol):
    """What a sampler may ask of the model being trained (encode texts/queries, label weight vectors)."""

    def query_embeddings(self, ids: torch.Tensor | None = None) -> torch.Tensor: ...

    def label_embeddings(self, ids: torch.Tensor | None = None) -> torch.Tensor: ...
