"""The LSH sampler's options (one frozen dataclass) and the index they build."""
from __future__ import annotations

import dataclasses

import torch

from .hashing import HASHES, check_bin_size, check_code_bits, make_family
from .tables import LSHIndex

SCHEMES = ("embedding", "label")


@dataclasses.dataclass(frozen=True)
class LSHParams:
    """family: ``"simhash"`` or ``"dwta"``; K: bits per table (SimHash) or elementary hashes per table (DWTA,
    each ``log2(bin_size)`` bits); L: tables; cap: ids kept per bucket (reservoir); bin_size: DWTA bin width;
    scheme: ``"embedding"`` (query with the input's embedding) or ``"label"`` (with a true label's vector);
    rehash_every: steps between rehashing the label vectors; redraw_every: steps between new hash functions
    (0 = never); log_q: attach sampling log-probabilities (False: zeros, i.e. no logQ correction); center: hash
    the label vectors minus their mean (the softmax is unchanged, buckets are less crowded; see :class:`LSHIndex`
    for what it did and did not change; False is the paper's plain hashing); seed: the hash functions' seed.

    The reference implementation used 2^18 buckets and 128 ids per bucket; the defaults are CPU-sized, for the
    library used on its own: the studies build theirs from their own parameters (``LSHStudyConfig.lsh``,
    ``NegativeMiningConfig.lsh_params``), whose defaults are smaller still.
    """
    family: str = "simhash"
    K: int = 8
    L: int = 8
    cap: int = 64
    bin_size: int = 8
    scheme: str = "embedding"
    rehash_every: int = 50
    redraw_every: int = 0
    log_q: bool = True
    center: bool = False
    seed: int = 0

    def validate(self) -> None:
        HASHES.get(self.family)
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown LSH scheme {self.scheme!r}; known: {list(SCHEMES)}")
        for name in ("K", "L", "cap", "rehash_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"LSHParams.{name} must be >= 1, got {getattr(self, name)}")
        if self.redraw_every < 0:
            raise ValueError(f"LSHParams.redraw_every must be >= 0 (0 = never), got {self.redraw_every}")
        if self.seed < 0:  # numpy's generators, seeded from it, reject negative seeds
            raise ValueError(f"LSHParams.seed must be >= 0, got {self.seed}")
        if self.family == "dwta":  # else DWTA's own check fails only when an index is built, inside a run
            check_bin_size(self.bin_size, "LSHParams.bin_size (DWTA's bin width)")
        check_code_bits(self.family, self.K, self.bin_size)  # the families' own limit, before a study runs

    def due(self, step: int, last_rehash: int | None, last_redraw: int | None) -> str | None:
        """What an index needs at ``step``, given the steps of its last rehash and last redraw (None: never):
        ``"build"`` (no tables yet), ``"redraw"`` (new functions, then a rehash: ``redraw_every`` steps since the
        last draw, the build's included), ``"rehash"`` (``rehash_every`` steps since the last rehash, a redraw's
        included) or None. Counted from the last event, not by ``step % every``, so that a redraw restarts the
        rehash clock and steps may skip (the trainer's refresh calls); one rule for the sampler and the race."""
        if last_rehash is None:
            return "build"
        if self.redraw_every and last_redraw is not None and step - last_redraw >= self.redraw_every:
            return "redraw"
        return "rehash" if step - last_rehash >= self.rehash_every else None


def build_index(params: LSHParams, dim: int, device: torch.device | str = "cpu") -> LSHIndex:
    """An empty :class:`LSHIndex` (call ``rehash``). Hash functions come from a CPU generator seeded with
    ``params.seed`` (the same functions on every device); reservoir shuffles from one on ``device``."""
    params.validate()
    device = torch.device(device)
    fn_gen = torch.Generator().manual_seed(params.seed)
    options = {name: getattr(params, name) for name in HASHES.get(params.family).options}  # e.g. DWTA's bin_size
    fam = make_family(params.family, dim, params.K, params.L, fn_gen, device, **options)
    return LSHIndex(fam, params.cap, torch.Generator(device=device).manual_seed(params.seed), fn_gen,
                    center=params.center)
