"""LSH hash families: L tables of K-bit codes, computed for a whole batch of vectors by one matrix product.

Every family answers two questions: :meth:`codes` (the bucket of each vector in each table) and
:meth:`subhashes` (the K elementary hashes per table, which :mod:`.probability` uses to estimate collision
probabilities where no closed form exists). Families are chosen by name from :data:`HASHES`.
"""
from __future__ import annotations

import math
from typing import Protocol

import torch

from ..registry import Registry
from .probability import dwta_inclusion, simhash_log_inclusion

HASHES: Registry = Registry("hash family")
MAX_CODE_BITS = 24  # codes are combined by a float32 matrix product: exact up to 2^24


def check_code_bits(family: str, K: int, bin_size: int = 2) -> int:
    """Bits of a table's code (SimHash: K; DWTA: K x log2(bin_size)); raises past :data:`MAX_CODE_BITS`."""
    bits = K * (max(bin_size, 2).bit_length() - 1 if family == "dwta" else 1)
    if bits > MAX_CODE_BITS:
        what = f"K={K} x log2(bin_size={bin_size})" if family == "dwta" else f"K={K}"
        raise ValueError(f"{family} codes of {what} = {bits} bits exceed {MAX_CODE_BITS}; lower K"
                         + (" or bin_size" if family == "dwta" else ""))
    return bits


def check_bin_size(bin_size: int, what: str = "DWTA bin_size") -> None:
    """DWTA's bin width: a power of two >= 2 (a bin's winner is coded in log2(bin_size) bits)."""
    if bin_size < 2 or bin_size & (bin_size - 1):
        raise ValueError(f"{what} must be a power of two >= 2, got {bin_size}")


class HashFamily(Protocol):
    """L tables, each of ``num_buckets`` buckets; vectors of width ``dim``; codes computed on ``device``."""
    name: str
    options: tuple[str, ...]  # LSHParams fields its constructor takes by keyword (DWTA: bin_size)
    dim: int
    device: torch.device
    K: int
    L: int
    num_buckets: int

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """(N, dim) float -> (N, L) int64 bucket codes in ``[0, num_buckets)``."""
        ...

    def subhashes(self, x: torch.Tensor) -> torch.Tensor:
        """(N, dim) float -> (N, L, K) int64 elementary hashes (bits for SimHash, bin winners for DWTA)."""
        ...

    def redraw(self, generator: torch.Generator) -> None:
        """Draw fresh random hash functions (the tables must then be rebuilt)."""
        ...

    def log_inclusion(self, q: torch.Tensor, w: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, dim) queries, (B, M, dim) labels -> (B, M) log P(label in the query's union of L buckets);
        ``keep`` (B, L): the share of each query bucket its table kept (see :mod:`.probability`)."""
        ...


def _check(dim: int, K: int, L: int) -> None:
    if dim < 1 or K < 1 or L < 1:
        raise ValueError(f"hash family needs dim, K, L >= 1; got dim={dim}, K={K}, L={L}")


@HASHES.register("simhash")
class SimHash:
    """Signs of K random Gaussian projections per table (Charikar 2002).

    Two vectors at angle theta agree on one bit with probability ``1 - theta/pi`` (exactly, over the draw of
    the projection); a table's code agrees with probability ``(1 - theta/pi)^K``.
    """
    name = "simhash"
    options: tuple[str, ...] = ()  # LSHParams fields the constructor takes beyond (dim, K, L, generator, device)

    def __init__(self, dim: int, K: int, L: int, generator: torch.Generator, device: torch.device | str = "cpu"):
        _check(dim, K, L)
        check_code_bits("simhash", K)
        self.dim, self.K, self.L = dim, K, L
        self.num_buckets = 2 ** K
        self.device = torch.device(device)
        self._combine = _block_weights(L, K, 2, self.device)
        self.redraw(generator)

    def redraw(self, generator: torch.Generator) -> None:
        # drawn on the generator's device then moved: same seed -> same planes on CPU and GPU
        planes = torch.randn(self.dim, self.L * self.K, generator=generator, device=generator.device)
        self.planes = planes.to(self.device)

    def subhashes(self, x: torch.Tensor) -> torch.Tensor:
        proj = x.to(self.planes.dtype) @ self.planes
        return (proj > 0).to(torch.int64).view(x.shape[0], self.L, self.K)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        # bits -> codes by a second matrix product: exact in float32 up to 2^24, faster than integer ops
        bits = (x.to(self.planes.dtype) @ self.planes > 0).to(self._combine.dtype)
        return (bits @ self._combine).to(torch.int64)

    def log_inclusion(self, q: torch.Tensor, w: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        return simhash_log_inclusion(q, w, self.K, self.L, keep)


@HASHES.register("dwta")
class DWTA:
    """Densified winner-take-all (Chen & Shrivastava 2018), as in SLIDE.

    Each elementary hash looks at a random bin of ``bin_size`` coordinates and returns the position of the
    largest value (``log2(bin_size)`` bits); K of them form a table's code. A bin whose coordinates are all
    zero (sparse inputs) is *densified*: it borrows the winner of the next non-empty bin of the same vector, in
    a fixed random cyclic order, so every hash stays defined. Collisions have no closed form;
    :func:`workbench.lsh.probability.dwta_inclusion` estimates them.
    """
    name = "dwta"
    options = ("bin_size",)

    def __init__(self, dim: int, K: int, L: int, generator: torch.Generator, device: torch.device | str = "cpu",
                 bin_size: int = 8):
        _check(dim, K, L)
        check_bin_size(bin_size)
        if bin_size > dim:
            raise ValueError(f"DWTA bin_size must be <= dim={dim}, got {bin_size}")
        self.bits = int(math.log2(bin_size))
        check_code_bits("dwta", K, bin_size)
        self.dim, self.K, self.L, self.bin_size = dim, K, L, bin_size
        self.num_buckets = 2 ** (K * self.bits)
        self.device = torch.device(device)
        self._combine = _block_weights(L, K, bin_size, self.device)
        self.redraw(generator)

    def redraw(self, generator: torch.Generator) -> None:
        n = self.L * self.K
        keys = torch.rand(n, self.dim, generator=generator, device=generator.device)
        # each hash: the first bin_size coordinates of an independent random permutation
        self.bins = keys.argsort(dim=1)[:, : self.bin_size].to(self.device)          # (L*K, bin_size)
        self.densify_order = torch.randperm(n, generator=generator, device=generator.device).to(self.device)

    def subhashes(self, x: torch.Tensor) -> torch.Tensor:
        vals = x[:, self.bins]                                                        # (N, L*K, bin_size)
        win = vals.argmax(-1)
        empty = (vals == 0).all(-1)
        if bool(empty.any()):
            win = self._densify(win, empty)
        return win.view(x.shape[0], self.L, self.K)

    def _densify(self, win: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
        # in the fixed cyclic order, an empty hash takes the winner of the next non-empty one (suffix minimum
        # of positions, wrapping to the first non-empty); a vector with no non-zero coordinate keeps 0s
        order = self.densify_order
        n = order.numel()
        w, e = win[:, order], empty[:, order]
        pos = torch.arange(n, device=w.device).expand_as(w)
        keys = torch.where(e, torch.full_like(pos, 2 * n), pos)
        suffix = keys.flip(1).cummin(1).values.flip(1)
        first = keys.min(1, keepdim=True).values.expand_as(suffix)
        nxt = torch.where(suffix >= n, first, suffix).clamp(max=n - 1)
        out = torch.empty_like(win)
        out[:, order] = w.gather(1, nxt)
        return out

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        sub = self.subhashes(x).view(x.shape[0], -1).to(self._combine.dtype)
        return (sub @ self._combine).to(torch.int64)

    def log_inclusion(self, q: torch.Tensor, w: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        B, M, d = w.shape
        return dwta_inclusion(self.subhashes(q), self.subhashes(w.reshape(B * M, d)).view(B, M, self.L, self.K),
                              self.K, self.L, keep)


def _block_weights(L: int, K: int, base: int, device: torch.device) -> torch.Tensor:
    """(L*K, L) float32 block-diagonal matrix: row l*K+k, column l holds ``base^k`` (digits -> code)."""
    M = torch.zeros(L * K, L, device=device)
    rows = torch.arange(L * K, device=device)
    M[rows, rows // K] = float(base) ** (rows % K).float()
    return M


def make_family(name: str, dim: int, K: int, L: int, generator: torch.Generator,
                device: torch.device | str = "cpu", **options) -> HashFamily:
    """The family registered as ``name`` (``"simhash"`` or ``"dwta"``); ``options`` are those it names in its
    ``options`` (e.g. DWTA's ``bin_size``), others a ValueError."""
    cls = HASHES.get(name)
    unknown = sorted(set(options) - set(cls.options))
    if unknown:
        raise ValueError(f"hash family {name!r} takes no option(s) {unknown}; its options: {list(cls.options)}")
    return cls(dim, K, L, generator, device, **options)
