"""Tokenize once, reuse: token ids cached as memory-mapped int32 ``.npy`` files, batches built from the cache.

The cache key is a hash of the tokenizer's full definition (vocabulary, normaliser, special tokens), the maximum
length and the texts themselves, so a changed text or tokenizer never reads a stale cache. Default directory:
``$WORKBENCH_CACHE/tokens`` or ``data/cache/tokens`` of the checkout (git-ignored).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..io import user_path
from ..progress import tqdm

CACHE_ENV = "WORKBENCH_CACHE"


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return user_path(env) if env else Path(__file__).resolve().parents[2] / "data" / "cache"


@dataclasses.dataclass
class TokenArrays:
    """ids: (n, max_length) int32 (memory-mapped), padded with ``pad_id``; lengths: (n,) int32 real tokens."""
    ids: np.ndarray
    lengths: np.ndarray
    pad_id: int

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: Sequence[int] | np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask), both (B, T) int64 with T = the longest of these rows."""
        r = rows.cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows, np.int64)
        lens = self.lengths[r]
        T = max(int(lens.max()) if len(lens) else 1, 1)
        ids = torch.from_numpy(np.ascontiguousarray(self.ids[r, :T]).astype(np.int64))
        mask = (torch.arange(T).unsqueeze(0) < torch.from_numpy(lens.astype(np.int64)).unsqueeze(1)).long()
        return ids.to(device), mask.to(device)

    def batches(self, batch_size: int, device: str | torch.device = "cpu"
                ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """In order: (row ids, input_ids, attention_mask)."""
        for s in range(0, len(self), batch_size):
            rows = np.arange(s, min(s + batch_size, len(self)))
            yield (rows, *self.batch(rows, device))


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of everything that decides the token ids (install paths excluded)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # truncation/padding are call state the tokenizer remembers, not its definition
        spec = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        body = json.dumps(spec, sort_keys=True)
    else:
        body = json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = json.dumps([type(tokenizer).__name__, tokenizer.pad_token_id, str(tokenizer.all_special_tokens)])
    return hashlib.sha256((body + extra).encode("utf-8")).hexdigest()


def texts_fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _encoder_fn(tokenizer, max_length: int):
    """texts -> list of id lists (specials added, truncated). Uses a private copy of a fast tokenizer's Rust
    backend (about 3x faster than the Python wrapper, and leaves the caller's truncation settings alone)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return lambda texts: tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    backend = copy.deepcopy(backend)
    backend.no_padding()
    backend.enable_truncation(max_length)
    return lambda texts: [e.ids for e in backend.encode_batch(texts)]


def _tokenize_into(ids: np.ndarray, lengths: np.ndarray, texts, tokenizer, max_length: int, chunk: int) -> None:
    encode = _encoder_fn(tokenizer, max_length)
    for s in tqdm(range(0, len(texts), chunk), desc="tokenize", disable=len(texts) <= chunk):
        for i, row in enumerate(encode(list(texts[s:s + chunk]))):
            ids[s + i, :len(row)] = row
            lengths[s + i] = len(row)


def cached_tokens(texts: Sequence[str], tokenizer, max_length: int, cache_dir: str | Path | None = None,
                  chunk: int = 4096) -> TokenArrays:
    """Token ids of ``texts`` from the cache, tokenizing (once) on a miss."""
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2 (room for [CLS] and [SEP]), got {max_length}")
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "tokens"
    key = hashlib.sha256(f"{tokenizer_fingerprint(tokenizer)}|{max_length}|{texts_fingerprint(texts)}"
                         .encode()).hexdigest()[:32]
    ids_path, len_path = d / f"{key}.ids.npy", d / f"{key}.len.npy"
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    if ids_path.exists() and len_path.exists():
        try:
            return _load_tokens(ids_path, len_path, len(texts), max_length, pad)
        except (OSError, ValueError, EOFError) as exc:  # damaged after it was written (a cut copy or sync)
            warnings.warn(f"token cache entry {key} in {d} is unreadable ({exc}); tokenizing again", stacklevel=2)
            len_path.unlink(missing_ok=True)
    if not (ids_path.exists() and len_path.exists()):
        d.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tok.", dir=d))
        try:
            ids = np.lib.format.open_memmap(tmp / "ids.npy", "w+", np.int32, (len(texts), max_length))
            ids[:] = pad
            lengths = np.zeros(len(texts), np.int32)
            _tokenize_into(ids, lengths, texts, tokenizer, max_length, chunk)
            ids.flush()
            del ids
            np.save(tmp / "len.npy", lengths)
            os.replace(tmp / "ids.npy", ids_path)  # lengths last: their presence marks a complete entry
            os.replace(tmp / "len.npy", len_path)
        finally:
            for p in tmp.glob("*"):
                p.unlink()
            tmp.rmdir()
    return _load_tokens(ids_path, len_path, len(texts), max_length, pad)


def _load_tokens(ids_path: Path, len_path: Path, n: int, max_length: int, pad: int) -> TokenArrays:
    """The cached arrays, checked against the shapes the key promises (a cut file fails here, not later)."""
    ids, lengths = np.load(ids_path, mmap_mode="r"), np.load(len_path)
    if ids.shape != (n, max_length) or lengths.shape != (n,):
        raise ValueError(f"shapes {ids.shape} and {lengths.shape}, expected ({n}, {max_length}) and ({n},)")
    return TokenArrays(ids, lengths, pad)
