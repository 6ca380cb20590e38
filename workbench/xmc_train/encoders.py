"""Encoders by name and the in-memory token tables the trainer gathers batches from.

The encoders are the data layer's (:mod:`workbench.xmc.encoder`; nothing is downloaded). :class:`TokenTable`
keeps every text pre-tokenised as one (N, T) int32 tensor that can live on the GPU, so a training step's token
gather never leaves the device.
"""
from __future__ import annotations

import dataclasses

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


def tokenize(tokenizer, texts: list[str], max_length: int, chunk: int = 8192) -> TokenTable:
    """Tokenise ``texts`` once (truncated to ``max_length`` tokens incl. [CLS]/[SEP])."""
    ids = torch.zeros((len(texts), max_length), dtype=torch.int32)
    lengths = torch.zeros(len(texts), dtype=torch.int64)
    for s in range(0, len(texts), chunk):
        enc = tokenizer(list(texts[s:s + chunk]), max_length=max_length, truncation=True, padding="max_length",
                        return_tensors="pt")
        ids[s:s + chunk] = enc["input_ids"].to(torch.int32)
        lengths[s:s + chunk] = enc["attention_mask"].sum(1)
    return TokenTable(ids, lengths)
