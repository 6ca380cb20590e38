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


def get_encoder(name: str, seed: int = 0, max_length: int = 32) -> nn.Module:
    """``"minilm"`` (the bundled all-MiniLM-L6-v2, pretrained) or ``"tiny"`` (random-init 1-layer BERT, d=32,
    MiniLM's WordPiece vocabulary): the data layer's :mod:`workbench.xmc.encoder` encoders."""
    from ..xmc import encoder as xe
    if name == "minilm":
        return xe.load_encoder(max_length=max_length)
    if name == "tiny":
        return xe.tiny_encoder(seed, hidden_size=32, max_length=max_length)
    raise ValueError(f"Unrecognized encoder: {name!r}; known: ['minilm', 'tiny']")


@dataclasses.dataclass
class TokenTable:
    """Pre-tokenised texts: ``ids`` (N, T) int32 right-padded, ``lengths`` (N,) int64 real tokens."""
    ids: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return self.ids.shape[0]

    def to(self, device) -> "TokenTable":
        """The same table on ``device`` (on a GPU the gathers of each batch then stay on the GPU)."""
        return TokenTable(self.ids.to(device), self.lengths.to(device))

    def batch(self, rows: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, mask) for ``rows``, cut to the longest row of the batch (saves encoder time)."""
        rows = rows.to(self.ids.device)
        lens = self.lengths[rows]
        t = max(int(lens.max()), 1) if len(rows) else 1
        ids = self.ids[rows, :t].to(device, torch.long, non_blocking=True)
        mask = (torch.arange(t, device=lens.device)[None, :] < lens[:, None]).to(device, torch.long)
        return ids, mask

    def tokens(self, rows: torch.Tensor) -> int:
        """Real tokens in ``rows`` (the work an encoder pass does on them, up to padding)."""
        return int(self.lengths[rows.to(self.lengths.device)].sum())

    def padded_tokens(self, rows: torch.Tensor) -> int:
        """Token positions an encoder pass over ``rows`` computes: rows x the longest of them (:meth:`batch`)."""
        return len(rows) * int(self.lengths[rows.to(self.lengths.device)].max()) if len(rows) else 0


def tokenize(tokenizer, texts: list[str], max_length: int, cache_dir=None) -> TokenTable:
    """``texts`` as a :class:`TokenTable` (truncated to ``max_length`` tokens incl. [CLS]/[SEP], padded with the
    tokenizer's pad id), read from the data layer's token cache (``cache_dir``, default its own) and tokenised
    there on a miss."""
    from ..xmc.tokens import cached_tokens
    arr = cached_tokens(texts, tokenizer, max_length, cache_dir)
    return TokenTable(torch.from_numpy(np.array(arr.ids, dtype=np.int32)),
                      torch.from_numpy(arr.lengths.astype(np.int64)))
