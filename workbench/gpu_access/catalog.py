"""Graphs by name for the study: ``cora`` (embedded), ``cora-planetoid`` (the same from the Planetoid files),
``citeseer``, ``cora-npz``, ``citeseer-npz``, ``facebook``, ``debian`` (optional), ``rmat:<GiB>`` (synthetic,
feature table of that many GiB).

Real graphs other than the embedded Cora are read from ``data_root`` (a local folder holding ``planetoid/raw``,
``gnn-benchmark-npz/``, ``musae/facebook``, ``debian-bookworm/``); nothing is downloaded.
"""
from __future__ import annotations

import math
from pathlib import Path


from ..device import host_memory_available
from ..io import user_path
from .cora_data import load_cora
from .graphs import Graph, csr_from_edges, read_gnn_benchmark_npz, read_musae_facebook, read_planetoid
from .rmat import host_bytes_needed, nodes_for_bytes, rmat_graph, with_random_features

NAMES = ("cora", "cora-planetoid", "citeseer", "cora-npz", "citeseer-npz", "facebook", "debian", "rmat:<GiB>")


class GraphUnavailable(RuntimeError):
    """An optional graph cannot be loaded here (missing builder or files, or too little host memory for an
    ``rmat:`` graph); the study skips it."""


def rmat_gib(spec: str) -> float:
    """The GiB of features of ``rmat:<GiB>``; raises ValueError unless it is a positive finite number."""
    try:
        gib = float(spec[5:])
    except ValueError:
        gib = math.nan
    if not (math.isfinite(gib) and gib > 0):
        raise ValueError(f"bad synthetic graph {spec!r}; write rmat:<GiB of features> with a positive number, "
                         "e.g. rmat:8")
    return gib


def check_graph_spec(spec: str) -> None:
    """Raise ValueError unless ``spec`` is a known graph name or ``rmat:<positive GiB>`` (nothing is loaded)."""
    if spec.startswith("rmat:"):
        rmat_gib(spec)
    elif spec not in NAMES[:-1]:
        raise ValueError(f"Unrecognized graph: {spec!r}; known: {list(NAMES)}")


def needs_data_root(spec: str) -> bool:
    """Whether graph ``spec`` is read from ``data_root`` (every graph but the embedded ``cora`` and ``rmat:``)."""
    return spec != "cora" and not spec.startswith("rmat:")


def graph_files(root: Path, spec: str) -> list[Path]:
    """Where :func:`load_graph` reads graph ``spec`` from under ``data_root`` (any one present counts: e.g. a
    gzipped or a plain edge list); empty for the graphs it does not read from there."""
    if spec in ("citeseer", "cora-planetoid"):
        return [root / "planetoid" / "raw" / f"ind.{spec.split('-')[0]}.graph"]
    if spec.endswith("-npz"):
        return [root / "gnn-benchmark-npz" / f"{spec[:-4]}.npz"]
    if spec == "facebook":
        return [root / "musae" / "facebook" / f"facebook_edges.csv{gz}" for gz in ("", ".gz")]
    if spec == "debian":
        return [root / "debian-bookworm" / "main_binary-amd64_Packages.xz"]
    return []


def _root(data_root: str | None, name: str) -> Path:
    if not data_root:
        raise GraphUnavailable(f"graph {name!r} needs data_root (a folder with planetoid/, gnn-benchmark-npz/, "
                               "musae/, debian-bookworm/)")
    return user_path(data_root)


def _debian(data_root: str | None, num_features: int, seed: int) -> Graph:
    """The Debian package dependency graph (Depends / Pre-Depends / Recommends, symmetrized) from the XMC data
    builder, with random features and learnable labels (the study measures data movement, not Debian)."""
    try:
        from ..xmc.debian import dependency_graph  # another study's builder; optional here
    except ImportError as exc:
        raise GraphUnavailable(f"debian: workbench.xmc.debian.dependency_graph is not available ({exc})") from exc
    path = _root(data_root, "debian") / "debian-bookworm" / "main_binary-amd64_Packages.xz"
    if not path.exists():
        raise GraphUnavailable(f"debian: {path} is missing (Debian bookworm main/binary-amd64/Packages.xz)")
    names, edges = dependency_graph(path)
    indptr, indices = csr_from_edges(edges[:, 0], edges[:, 1], len(names))
    return with_random_features("debian", indptr, indices, num_features, seed=seed)


def load_graph(spec: str, data_root: str | None = None, rmat_num_features: int = 128,
               rmat_edge_factor: int = 8, seed: int = 0, staging_rows: int = 0) -> Graph:
    """The graph named ``spec`` (see module docstring); unknown names raise listing the known ones.
    ``staging_rows``: rows of features the run will also hold in pinned host memory, twice (the ``cpu`` store's
    double-buffered staging for a batch's input rows), counted in an ``rmat:`` graph's host-memory check."""
    g = _load(spec, data_root, rmat_num_features, rmat_edge_factor, seed, staging_rows)
    g.name = spec
    return g


def _load(spec: str, data_root: str | None, rmat_num_features: int, rmat_edge_factor: int, seed: int,
          staging_rows: int = 0) -> Graph:
    if spec == "cora":
        return load_cora()
    try:  # the graphs read from data_root: missing files make the graph unavailable (skipped), bad ones raise
        if spec in ("citeseer", "cora-planetoid"):
            return read_planetoid(_root(data_root, spec) / "planetoid" / "raw", spec.split("-")[0])
        if spec.endswith("-npz"):
            return read_gnn_benchmark_npz(_root(data_root, spec) / "gnn-benchmark-npz" / f"{spec[:-4]}.npz", seed)
        if spec == "facebook":
            return read_musae_facebook(_root(data_root, spec) / "musae" / "facebook", seed)
    except FileNotFoundError as exc:
        raise GraphUnavailable(f"{spec}: {exc}") from exc
    if spec == "debian":
        return _debian(data_root, rmat_num_features, seed)
    if spec.startswith("rmat:"):
        n = nodes_for_bytes(rmat_gib(spec) * 2**30, rmat_num_features)
        staging = 2 * min(n, staging_rows) * rmat_num_features * 4  # float32 rows
        need = host_bytes_needed(n, rmat_num_features, rmat_edge_factor) + staging
        free = host_memory_available()
        if need > free:  # the kernel's OOM killer would end the whole run, report and all
            raise GraphUnavailable(f"{spec}: building it (and {staging / 2**30:.1f} GiB of pinned staging for the "
                                   f"cpu store's batches) needs about {need / 2**30:.1f} GiB of host memory and "
                                   f"{free / 2**30:.1f} GiB is available; pick a smaller rmat:<GiB>")
        return rmat_graph(n, rmat_num_features, rmat_edge_factor, seed=seed)
    raise ValueError(f"Unrecognized graph: {spec!r}; known: {list(NAMES)}")
