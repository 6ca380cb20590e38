"""Encoders by name and the in-memory token tables the trainer gathers batches from.

The encoders are the data layer's (:mod:`workbench.xmc.encoder`; nothing is downloaded). Token ids come from the
data layer's memory-mapped cache (:func:`workbench.xmc.tokens.cached_tokens`: int32, keyed by tokenizer, maximum
length and texts), so a dataset is tokenised once across runs and studies. :class:`TokenTable` holds those ids as
one (N, T) int32 tensor that can live on the GPU, so a training step's token gather never leaves the device (the
cache's own ``batch`` gathers on the CPU from the memory map).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn as nn


ENCODERS = ("minilm", "tiny")


def get_encoder(name: str, seed: int = 0, max_length: int = 32) -> nn.Module:
    """``"minilm"`` (the bundled all-MiniLM-L6-v2, pretrained) or ``"tiny"`` (random-init 1-layer BERT, d=32,
    MiniLM's WordPiece vocabulary): the data layer's :mod:`workbench.xmc.encoder` encoders."""
    from ..xmc import encoder as xe
    if name == "minilm":
        return xe.load_encoder(max_length=max_length)
    if name == "tiny":
        return xe.tiny_encoder(seed, hidden_size=32, max_length=max_length)
    raise ValueError(f"Unrecognized encoder: {name!r}; known: {list(ENCODERS)}")


def to_device(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``x`` on ``device``. A copy from the host does not wait for the device (``non_blocking``: pageable memory is
    staged before the call returns, so ``x`` may change afterwards); a blocking ``.to`` from the host is a full
    device synchronisation. A copy to the host stays blocking (its data must be there when read)."""
    return x.to(device, non_blocking=x.device.type == "cpu")


@dataclasses.dataclass
class TokenTable:
    """Pre-tokenised texts: ``ids`` (N, T) int32 right-padded, ``lengths`` (N,) int64 real tokens.

    ``lengths`` always stay on the CPU, wherever ``ids`` live: each batch's cut length, its mask and the trainer's
    token counts are read from them on the host, so none of these waits for the GPU (a ``.max()`` of a device
    tensor read as a Python int is a full device synchronisation, several per training step before).
    """
    ids: torch.Tensor
    lengths: torch.Tensor

    def __post_init__(self) -> None:
        self.lengths = self.lengths.cpu()

    def __len__(self) -> int:
        return self.ids.shape[0]

    def to(self, device) -> "TokenTable":
        """The same table with ``ids`` on ``device`` (on a GPU the gathers of each batch then stay on the GPU)."""
        return TokenTable(self.ids.to(device), self.lengths)

    def batch(self, rows: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, mask) for ``rows``, cut to the longest row of the batch (saves encoder time). ``rows`` on the
        CPU (as the samplers give them) cost no device synchronisation; copies to the device are asynchronous."""
        lens = self._lens(rows)
        t = max(int(lens.max()), 1) if len(lens) else 1
        ids = to_device(self.ids[to_device(rows, self.ids.device), :t], device).long()
        mask = to_device(torch.arange(t)[None, :] < lens[:, None], device).long()
        return ids, mask

    def tokens(self, rows: torch.Tensor) -> int:
        """Real tokens in ``rows`` (the work an encoder pass does on them, up to padding)."""
        return int(self._lens(rows).sum())

    def padded_tokens(self, rows: torch.Tensor) -> int:
        """Token positions an encoder pass over ``rows`` computes: rows x the longest of them (:meth:`batch`)."""
        return len(rows) * int(self._lens(rows).max()) if len(rows) else 0

    def _lens(self, rows: torch.Tensor) -> torch.Tensor:
        return self.lengths[rows.cpu()]


def tokenize(tokenizer, texts: list[str], max_length: int, cache_dir=None) -> TokenTable:
    """``texts`` as a :class:`TokenTable` (truncated to ``max_length`` tokens incl. [CLS]/[SEP], padded with the
    tokenizer's pad id), read from the data layer's token cache (``cache_dir``, default its own) and tokenised
    there on a miss."""
    from ..xmc.tokens import cached_tokens
    arr = cached_tokens(texts, tokenizer, max_length, cache_dir)
    return TokenTable(torch.from_numpy(np.array(arr.ids, dtype=np.int32)),
                      torch.from_numpy(arr.lengths.astype(np.int64)))
