"""Graphs for the GNN study: one :class:`Graph` type and readers of the raw formats (no downloads).

* Planetoid raw files (``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``: Cora, CiteSeer), with the
  standard GCN split (train = the labelled ``x`` rows, val = the next 500, test = ``test.index``).
* gnn-benchmark ``.npz`` (Shchur et al. 2018: CSR adjacency and attributes); random 60/20/20 split.
* MUSAE Facebook page-page (edges CSV, features JSON of multi-hot ids, target CSV), gzipped or not.

Every reader returns a symmetric graph without self-loops or duplicate edges, dense float32 features. A missing
file raises FileNotFoundError (the study skips the graph); a malformed one DataFormatError naming file and line.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import pickle
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..device import host_memory_available
from ..xmc.errors import DataFormatError, decoded_lines, iter_lines, open_binary, parse_int


@dataclasses.dataclass
class Graph:
    """CSR graph with node features, labels and a split.

    indptr: (N+1,) int64; indices: (E,) int64 -- the neighbours of v are indices[indptr[v]:indptr[v+1]]
    (graphs here are symmetric, so in- and out-neighbours coincide). features: (N, F) contiguous host tensor
    (float32 unless a generator says otherwise); labels: (N,) int64; *_idx: int64 node ids.
    """
    name: str
    indptr: torch.Tensor
    indices: torch.Tensor
    features: torch.Tensor
    labels: torch.Tensor
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    test_idx: torch.Tensor
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return self.indptr.numel() - 1

    @property
    def num_edges(self) -> int:
        return self.indices.numel()

    def stats(self) -> dict:
        """Tidy one-row summary: sizes in nodes, directed edges, features, bytes."""
        deg = self.indptr.diff()
        return {"graph": self.name, "nodes": self.num_nodes, "edges": self.num_edges,
                "features": int(self.features.shape[1]), "classes": self.num_classes,
                "feature_bytes": self.features.numel() * self.features.element_size(),
                "row_bytes": int(self.features.shape[1]) * self.features.element_size(),
                "max_degree": int(deg.max()), "mean_degree": float(deg.float().mean()),
                "train": self.train_idx.numel(), "val": self.val_idx.numel(), "test": self.test_idx.numel()}


def csr_from_edges(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetrize, drop self-loops and duplicates, sort: (indptr (n+1,), indices (E,)) int64."""
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise ValueError(f"edge endpoints must lie in [0, {n})")
    a, b = np.concatenate([src, dst]), np.concatenate([dst, src])
    keep = a != b
    key = np.sort(a[keep] * n + b[keep])  # sorted by (row, column) ...
    if key.size:  # ... duplicates gone (not np.unique: numpy 2.4's is ~80x slower than sort for 10^7 int64)
        first = np.empty(key.size, bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        key = key[first]
    rows, cols = key // n, key % n
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return torch.from_numpy(indptr), torch.from_numpy(cols)


def random_split(n: int, fractions=(0.6, 0.2, 0.2), seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Disjoint random (train, val, test) node ids with the given fractions of ``n``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
    return perm[:a].sort().values, perm[a:b].sort().values, perm[b:].sort().values


def _check_dense_fits(path: Path, rows: int, cols: int, bytes_per_entry: int = 4) -> None:
    """Raise DataFormatError naming ``path`` when densifying the (rows, cols) feature matrix a file describes
    (``bytes_per_entry`` at the reader's peak: 4 for float32, 12 for a float64 matrix and its float32 copy; plus
    16 B of CSR per row) cannot fit in the host memory left: a corrupt size or id would otherwise end in a
    MemoryError or the OOM killer, naming no file."""
    rows, cols = int(rows), int(cols)  # numpy ints would wrap around
    need, free = rows * (bytes_per_entry * cols + 16), max(host_memory_available(), 0)
    if need > free:
        raise DataFormatError(path, None, f"densifying its {rows} x {cols} feature matrix needs {_size(need)}, more "
                              f"than the {_size(free)} of host memory available (a corrupt size or id?)")


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class _SafeUnpickler(pickle.Unpickler):
    """Planetoid files are Python 2 pickles; allow only the numpy/scipy/collections classes they use."""
    _ALLOWED = ("numpy", "scipy.sparse", "collections", "copy_reg", "copyreg", "_codecs")

    def find_class(self, module, name):
        if module.split(".")[0] in ("__builtin__", "builtins") and name in ("object", "list", "dict", "set", "int"):
            return super().find_class("builtins", name)
        if module.startswith(self._ALLOWED):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a Planetoid pickle")


def _planetoid_part(raw: Path, name: str, part: str):
    path = raw / f"ind.{name}.{part}"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; put the Planetoid raw files "
                                f"ind.{name}.{{x,y,tx,ty,allx,ally,graph,test.index}} in {raw} (they are in the data/ "
                                "folder of https://github.com/kimiyoung/planetoid)")
    if part == "test.index":
        ids = [parse_int(path, i, line.strip(), "test node id") for i, line in iter_lines(path) if line.strip()]
        if not ids:
            raise DataFormatError(path, None, "no test node ids (expected one integer per line)")
        return np.array(ids, np.int64)
    try:
        with path.open("rb") as f:
            return _SafeUnpickler(f, encoding="latin1").load()
    except Exception as exc:
        raise DataFormatError(path, None, f"not a readable Planetoid pickle ({exc})") from exc


def read_planetoid(raw: str | Path, name: str = "cora") -> Graph:
    """Planetoid raw files in ``raw`` -> Graph with the standard split (GCN's ``load_data``).

    CiteSeer has test ids without features; as in GCN/PyG they get zero features and no label (label 0, never
    in a split). Parts that disagree (row counts, widths, test ids, node ids) raise DataFormatError naming the file.
    """
    import scipy.sparse as sp
    raw = Path(raw)
    x, y, tx, ty, allx, ally, graph = (_planetoid_part(raw, name, p) for p in
                                       ("x", "y", "tx", "ty", "allx", "ally", "graph"))
    test_index = _planetoid_part(raw, name, "test.index")
    if not isinstance(graph, dict):
        raise DataFormatError(raw / f"ind.{name}.graph", None, "expected a dict {node id: [neighbour ids]}, got "
                              f"{type(graph).__name__}")
    parts = {"x": x, "y": y, "tx": tx, "ty": ty, "allx": allx, "ally": ally}
    _check_planetoid(raw, name, parts, test_index, len(graph))
    _check_planetoid_values(raw, name, parts)
    lo, hi = test_index.min(), test_index.max()
    n = max(len(graph), hi + 1)
    _check_dense_fits(raw / f"ind.{name}.allx", n, allx.shape[1], bytes_per_entry=12)  # lil -> float64 -> float32
    src, dst = _planetoid_edges(raw, name, graph, n)
    tx_full = sp.lil_matrix((hi - lo + 1, tx.shape[1]))  # room for test ids that have no row in tx
    tx_full[np.sort(test_index) - lo, :] = tx
    ty_full = np.zeros((hi - lo + 1, y.shape[1]))
    ty_full[np.sort(test_index) - lo, :] = ty
    feats = sp.vstack([allx, tx_full]).tolil()
    labels = np.vstack([ally, ty_full])
    feats[test_index, :] = feats[np.sort(test_index), :]
    labels[test_index, :] = labels[np.sort(test_index), :]
    indptr, indices = csr_from_edges(src, dst, n)
    dense = torch.from_numpy(np.asarray(feats.todense(), np.float32))
    return Graph(name, indptr, indices, dense, torch.from_numpy(labels.argmax(1)).long(),
                 torch.arange(len(y)), torch.arange(len(y), len(y) + 500), torch.from_numpy(np.sort(test_index)),
                 int(y.shape[1]))


def _planetoid_edges(raw: Path, name: str, graph: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) int64 of the adjacency dict {node: [neighbours]}; ids outside [0, n) raise DataFormatError."""
    try:
        src = np.array([u for u, vs in graph.items() for _ in vs], np.int64)
        dst = np.array([v for vs in graph.values() for v in vs], np.int64)
    except (TypeError, ValueError, OverflowError) as exc:  # a value that is not a list, an id that is not an int
        raise DataFormatError(raw / f"ind.{name}.graph", None, "expected a dict {node id: [neighbour ids]} of "
                              f"integers ({type(exc).__name__}: {exc})") from None
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise DataFormatError(raw / f"ind.{name}.graph", None, f"node ids must lie in [0, {n}) (the feature rows), "
                              f"got {min(src.min(), dst.min())}..{max(src.max(), dst.max())}")
    return src, dst


def _check_planetoid(raw: Path, name: str, parts: dict, test_index: np.ndarray, graph_nodes: int) -> None:
    """Raise DataFormatError naming the file unless the Planetoid parts agree: features and labels of x, tx,
    allx row by row and of one width each; ``test.index`` one distinct id per tx row, numbering the rows right
    after allx (GCN stacks allx, then tx in id order) up to at least the graph's last node, with at most as many
    ids missing (featureless nodes, as CiteSeer's 15) as there are tx rows."""
    def bad(part: str, message: str):
        return DataFormatError(raw / f"ind.{name}.{part}", None, message)
    for part, value in parts.items():
        if len(getattr(value, "shape", ())) != 2:
            raise bad(part, f"expected a 2-D matrix, got {type(value).__name__}")
    for f, lab in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if parts[f].shape[0] != parts[lab].shape[0]:
            raise bad(lab, f"{parts[lab].shape[0]} label rows for the {parts[f].shape[0]} rows of ind.{name}.{f}")
    for group in (("x", "tx", "allx"), ("y", "ty", "ally")):
        widths = {k: parts[k].shape[1] for k in group}
        if len(set(widths.values())) > 1:
            raise bad(group[1], f"widths disagree: {widths}")
    ids, rows, first = np.sort(test_index), parts["tx"].shape[0], parts["allx"].shape[0]
    if ids.size != rows or (ids[1:] == ids[:-1]).any():
        raise bad("test.index", f"{ids.size} test node ids ({np.unique(ids).size} distinct) for the {rows} rows of "
                                f"ind.{name}.tx: expected one distinct id per row")
    if ids[0] != first or ids[-1] + 1 < graph_nodes:
        raise bad("test.index", f"test node ids run {ids[0]}..{ids[-1]}; they must start at {first} (right after the "
                                f"allx rows) and reach the graph's last node {graph_nodes - 1}")
    if ids[-1] - ids[0] + 1 > 2 * rows:  # CiteSeer: 1015 ids for 1000 rows; a stray huge id would allocate its span
        raise bad("test.index", f"test node ids run {ids[0]}..{ids[-1]} for {rows} rows of ind.{name}.tx: more than "
                                f"half of that span would be nodes without features")


def _check_planetoid_values(raw: Path, name: str, parts: dict) -> None:
    """Raise DataFormatError naming the file unless features are finite and every label row is one-hot: a NaN
    feature turns every activation it reaches NaN, and ``argmax`` makes an empty row class 0 and a multi-hot row
    its first class, both silently."""
    import scipy.sparse as sp
    for part in ("x", "tx", "allx"):
        _check_finite(raw / f"ind.{name}.{part}", parts[part].tocsr().data if sp.issparse(parts[part])
                      else np.asarray(parts[part]), "feature values")
    for part in ("y", "ty", "ally"):
        labels = parts[part].toarray() if sp.issparse(parts[part]) else np.asarray(parts[part])
        hot = np.count_nonzero(labels, axis=1)
        if (hot != 1).any():
            row = int(np.flatnonzero(hot != 1)[0])
            raise DataFormatError(raw / f"ind.{name}.{part}", None, f"label row {row} has {hot[row]} classes set: "
                                  "expected one-hot rows (one class per node)")


def _check_finite(path: Path, values: np.ndarray, what: str) -> None:
    """Raise DataFormatError naming ``path`` and the first bad entry (flat index) if ``values`` hold NaN or inf."""
    try:
        finite = np.isfinite(values)
    except TypeError:  # strings or objects from a hand-made pickle
        raise DataFormatError(path, None, f"{what} must be numbers, got {values.dtype}") from None
    if not finite.all():
        first = int(np.argmin(finite.ravel()))
        raise DataFormatError(path, None, f"{what} must be finite, entry {first} is {values.ravel()[first]}")


def read_gnn_benchmark_npz(path: str | Path, seed: int = 0) -> Graph:
    """A gnn-benchmark ``.npz`` (adj_*, attr_*, labels) -> Graph with a random 60/20/20 split. Arrays that
    disagree (an index outside the matrix, a row count that is not the node count) raise DataFormatError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; expected a gnn-benchmark .npz (shchur/gnn-benchmark data/npz)")
    z = npz_arrays(path, ("adj_data", "adj_indices", "adj_indptr", "adj_shape", "attr_data", "attr_indices",
                           "attr_indptr", "attr_shape", "labels"))
    adj = _csr(path, z, "adj")
    n = adj.shape[0]
    if adj.shape[1] != n or n == 0:
        raise DataFormatError(path, None, f"adj_shape {list(adj.shape)} is not square" if n else "no nodes")
    attr = _csr(path, z, "attr", rows=n)
    _check_finite(path, attr.data, "attr_data")  # a NaN feature would make every loss it reaches NaN
    _check_dense_fits(path, n, attr.shape[1], bytes_per_entry=attr.dtype.itemsize + 4)  # toarray, then float32
    labels = z["labels"]
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
        raise DataFormatError(path, None, f"labels must be {n} integers >= 0 (one per node), got shape "
                              f"{list(labels.shape)} of {labels.dtype}")
    coo = adj.tocoo()
    indptr, indices = csr_from_edges(coo.row, coo.col, adj.shape[0])
    tr, va, te = random_split(adj.shape[0], seed=seed)
    return Graph(path.stem, indptr, indices, torch.from_numpy(attr.toarray().astype(np.float32)),
                 torch.from_numpy(labels.astype(np.int64)), tr, va, te, int(labels.max()) + 1)


def _csr(path: Path, z: dict[str, np.ndarray], part: str, rows: int | None = None):
    """scipy CSR matrix of the ``{part}_data, _indices, _indptr, _shape`` arrays, checked first: scipy checks
    neither column ids nor row pointers' values by default, and its errors name no file. ``rows``: the row count
    it must have (one per node)."""
    import scipy.sparse as sp
    data, indices, indptr, shape = (z[f"{part}_{k}"] for k in ("data", "indices", "indptr", "shape"))
    if shape.shape != (2,) or not np.issubdtype(shape.dtype, np.integer) or shape.min() < 0:
        raise DataFormatError(path, None, f"{part}_shape must be two sizes >= 0, got {shape.tolist()}")
    n, m = int(shape[0]), int(shape[1])
    if rows is not None and n != rows:
        raise DataFormatError(path, None, f"{part}_shape has {n} rows, the graph {rows} nodes")
    ints = all(np.issubdtype(a.dtype, np.integer) and a.ndim == 1 for a in (indices, indptr))
    if not ints or data.shape != indices.shape or indptr.size != n + 1:
        raise DataFormatError(path, None, f"{part}: expected 1-D integer {part}_indices and {part}_indptr, "
                              f"{part}_indptr of {n + 1} entries and one {part}_data value per index; got "
                              f"{indptr.size} row pointers, {indices.size} indices, {data.size} values")
    if indptr[0] != 0 or indptr[-1] != indices.size or (np.diff(indptr) < 0).any():
        raise DataFormatError(path, None, f"{part}_indptr must rise from 0 to {indices.size} (the index count)")
    if indices.size and (indices.min() < 0 or indices.max() >= m):
        raise DataFormatError(path, None, f"{part}_indices must lie in [0, {m}), got {indices.min()}..{indices.max()}")
    return sp.csr_matrix((data, indices, indptr), shape=(n, m))


def npz_arrays(path: Path, keys: tuple[str, ...], what: str = "a gnn-benchmark npz") -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the .npz at ``path``; an empty, non-zip, truncated or incomplete file raises
    DataFormatError naming the file (numpy's own errors there are EOFError, BadZipFile or a misleading one about
    pickles, without the path; ``what`` the file should have been, for the message about missing arrays)."""
    with path.open("rb") as f:
        magic = f.read(2)
    if magic != b"PK":
        raise DataFormatError(path, None, "empty file, not a .npz" if not magic else "not a .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in keys if k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataFormatError(path, None, f"unreadable .npz ({type(exc).__name__}: {exc})") from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DataFormatError(path, None, f"not {what}, missing {missing}")
    return arrays


@contextlib.contextmanager
def _text_lines(path: Path) -> Iterator[Iterator[str]]:
    """The UTF-8 lines of ``path`` (gzipped or not) without their newline; a truncated or corrupt gzip or bad
    UTF-8 raises DataFormatError naming the file and line (a text-mode reader raises EOFError, zlib.error or
    UnicodeDecodeError without either)."""
    with open_binary(path) as f:
        yield (line for _, line in decoded_lines(path, f))


def _find(root: Path, stem: str) -> Path:
    for p in (root / f"{stem}.gz", root / stem):
        if p.exists():
            return p
    raise FileNotFoundError(f"{root / stem}[.gz] is missing; put the MUSAE files there "
                            "(benedekrozemberczki/MUSAE input/)")


def read_musae_facebook(root: str | Path, seed: int = 0) -> Graph:
    """MUSAE Facebook page-page (22,470 nodes, 4 page types) -> Graph with multi-hot float32 features
    (4,714 wide: 22470 x 4714 x 4 B = 424 MB) and a random 60/20/20 split."""
    root = Path(root)
    ids, types = _read_targets(_find(root, "facebook_target.csv"))
    n = len(ids)
    kinds = sorted(set(types))
    labels = np.zeros(n, np.int64)
    labels[ids] = [kinds.index(t) for t in types]
    edges = _read_edges(_find(root, "facebook_edges.csv"), n)
    dense = _read_features(_find(root, "facebook_features.json"), n)
    indptr, indices = csr_from_edges(edges[:, 0], edges[:, 1], n)
    tr, va, te = random_split(n, seed=seed)
    return Graph("facebook", indptr, indices, dense, torch.from_numpy(labels), tr, va, te, len(kinds))


def _read_targets(path: Path) -> tuple[np.ndarray, list[str]]:
    """(node ids, page types) of the MUSAE target CSV; the ids must be 0..n-1 (n = rows), each once."""
    lines, ids, types = [], [], []
    with _text_lines(path) as f:
        reader = csv.DictReader(line + "\n" for line in f)  # the newline keeps quoted multi-line fields whole
        missing = sorted({"id", "page_type"} - set(reader.fieldnames or []))
        if missing:
            raise DataFormatError(path, 1, f"header lacks column(s) {missing}; got {reader.fieldnames}")
        for r in reader:
            if r["id"] is None or r["page_type"] is None:
                raise DataFormatError(path, reader.line_num, f"short row {r}")
            lines.append(reader.line_num)
            ids.append(r["id"].strip())
            types.append(r["page_type"])
    n, seen, nodes = len(ids), np.zeros(len(ids), bool), []
    for line, token in zip(lines, ids):  # an id outside [0, n) would leave a node unlabelled (-1: the last one)
        v = parse_int(path, line, token, "node id", 0, n)
        if seen[v]:
            raise DataFormatError(path, line, f"node id {v} appears twice")
        seen[v] = True
        nodes.append(v)
    return np.array(nodes, np.int64), types


def _read_edges(path: Path, n: int) -> np.ndarray:
    """(E, 2) int64 endpoints in [0, n) from a two-column CSV with a header line."""
    try:
        with _text_lines(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data", naming a generator: no edges
            edges = np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2, comments=None)
        if edges.shape[1] == 2 and (edges.size == 0 or (edges.min() >= 0 and edges.max() < n)):
            return edges
    except ValueError:
        pass
    with _text_lines(path) as f:  # numpy's message has no file name and a 0-based row: find the line ourselves
        for lineno, line in enumerate(f, start=1):
            if lineno == 1 or not line.strip():
                continue
            tokens = line.strip().split(",")
            if len(tokens) != 2:
                raise DataFormatError(path, lineno, f"expected two columns 'id_1,id_2', got {line.strip()!r}")
            for token in tokens:
                parse_int(path, lineno, token.strip(), "node id", 0, n)
    raise DataFormatError(path, None, "not a two-column integer edge list")


def _read_features(path: Path, n: int) -> torch.Tensor:
    """(n, width) float32 multi-hot rows from the MUSAE features JSON {"node id": [feature ids]}; every node
    0..n-1 must appear (a node without features has ``[]``; one left out would silently get a zero row)."""
    try:
        with _text_lines(path) as f:
            feats = json.loads("\n".join(f))
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(feats, dict):
        raise DataFormatError(path, None, 'expected an object {"node id": [feature ids], ...}')
    rows = {}
    for node, ids in feats.items():
        try:
            v = int(node)
        except ValueError:
            v = -1
        if not 0 <= v < n:
            raise DataFormatError(path, None, f"node {node!r}: id not in [0, {n}) (the target CSV has {n} rows)")
        if v in rows:  # "0" and "00" are one node: the later list would silently replace the earlier
            raise DataFormatError(path, None, f"node {node!r}: node {v} is listed twice")
        if not (isinstance(ids, list) and all(type(i) is int and i >= 0 for i in ids)):
            raise DataFormatError(path, None, f"node {node!r}: expected a list of feature ids >= 0, got {ids!r}")
        rows[v] = ids
    if len(rows) < n:
        first = next(v for v in range(n) if v not in rows)
        raise DataFormatError(path, None, f"{n - len(rows)} of the {n} nodes (the target CSV's rows) have no entry, "
                              f"the first is node {first}: expected every node id, with [] for no features")
    width = 1 + max((max(ids) for ids in rows.values() if ids), default=0)
    _check_dense_fits(path, n, width)
    dense = torch.zeros(n, width)
    for v, ids in rows.items():
        dense[v, ids] = 1.0
    return dense
