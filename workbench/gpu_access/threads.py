"""The CPU thread budget of the study: torch's intra-op threads and the ``cpu`` store's gather threads, split so
that together they do not exceed the cores this process may run on.

Why: the ``cpu`` store gathers rows in its own thread pool while torch's intra-op pool runs the sampler and any
CPU compute (and, with ``overlap``, at the same time). If each gather thread also fanned out into torch's
intra-op pool, G gather threads x T torch threads would compete for the cores; the store therefore gathers with
numpy (serial in each thread, GIL released) and the two counts are chosen here, explicitly, and recorded with
every measurement.
"""
from __future__ import annotations

from ..device import usable_cores


def split_threads(cores: int, torch_threads: int = 0, gather_threads: int = 0) -> tuple[int, int]:
    """(torch intra-op threads, cpu-store gather threads) for ``cores`` cores; 0 means "choose".

    Both chosen: half the cores each (torch gets the smaller half, at least 1). One given: the other gets the
    remaining cores; it must leave at least one. Both given: kept, but they must not exceed ``cores`` together.
    With a single core both are 1 (nothing to split; they then take turns).
    """
    if cores < 1 or torch_threads < 0 or gather_threads < 0:
        raise ValueError(f"need cores >= 1 and thread counts >= 0, got {cores}, {torch_threads}, {gather_threads}")
    if torch_threads and gather_threads:
        if torch_threads + gather_threads > cores:
            raise ValueError(f"torch_threads ({torch_threads}) + gather_threads ({gather_threads}) exceed the "
                             f"{cores} usable cores: the gather threads and torch's intra-op pool would "
                             "oversubscribe them; lower one, or set one to 0 to get the remaining cores")
        return torch_threads, gather_threads
    given = torch_threads or gather_threads
    if given >= cores and (cores > 1 or given > 1):
        name, other = ("torch_threads", "cpu store's gather") if torch_threads else ("gather_threads", "torch intra-op")
        raise ValueError(f"{name} ({given}) leaves none of the {cores} usable cores for the {other} threads: they "
                         f"would oversubscribe them; set it below {cores}, or to 0 to split the cores")
    if torch_threads:
        return torch_threads, max(1, cores - torch_threads)
    if gather_threads:
        return max(1, cores - gather_threads), gather_threads
    torch_threads = max(1, cores // 2)
    return torch_threads, max(1, cores - torch_threads)


def default_gather_threads(torch_threads: int, cores: int | None = None) -> int:
    """Gather threads for a ``cpu`` store built with ``gather_threads=0``: the cores torch's pool leaves free, or
    1 (the calling thread gathers, no pool) when it leaves none."""
    cores = cores or usable_cores()
    return split_threads(cores, torch_threads, 0)[1] if torch_threads < cores else 1
