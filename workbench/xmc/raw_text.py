"""The Extreme Classification Repository's raw-text layout, read and written.

A directory holds ``trn_X.txt``, ``tst_X.txt`` (one query text per line), ``Y.txt`` (one label text per line),
``trn_X_Y.txt`` / ``tst_X_Y.txt`` (header ``"rows cols"``, then one line per query of ``label:value`` tokens,
0-based label ids; an empty line is a query without labels) and optional ``filter_labels_train.txt`` /
``filter_labels_test.txt`` (``"point_idx label_idx"`` per line). Any file may instead be gzipped (``*.gz``).

Every token is a positive label: its value (relevance, default 1) must be > 0, else the file is refused with file
and line (the code counts each stored label id as a positive, so a ``3:0`` would be one). A label id repeated
within a line is kept once, at its largest relevance, with a warning naming the file (summed, it would become a
relevance of 2; published files are read as they are rather than refused). Each split must have a point.
"""
from __future__ import annotations

import gzip
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from ..io import atomic_write
from .dataset import XMCDataset
from .errors import DataFormatError, find_file, iter_lines, parse_float, parse_int, read_all_lines
from .metrics import propensity_ab

MATRIX_FILES = ("trn_X_Y.txt", "tst_X_Y.txt")


def csr_from_rows(indices: list[np.ndarray], values: list[np.ndarray], num_cols: int) -> sp.csr_matrix:
    """(len(indices), num_cols) float32 CSR from per-row label ids and values (duplicates summed)."""
    indptr = np.zeros(len(indices) + 1, np.int64)
    indptr[1:] = np.cumsum([len(r) for r in indices])
    ind = np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32)
    val = np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32)
    m = sp.csr_matrix((val, ind, indptr), shape=(len(indices), num_cols))
    m.sum_duplicates()
    m.sort_indices()
    return m


def parse_header(path, lineno: int, line: str, names: Sequence[str]) -> list[int]:
    toks = line.split()
    if len(toks) != len(names):
        raise DataFormatError(path, lineno, f"header must be {' '.join(names)!r}, got {line!r}")
    return [parse_int(path, lineno, t, n) for t, n in zip(toks, names)]


def parse_label_tokens(path, lineno: int, tokens: Iterable[str], num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``label:value`` tokens -> (ids, values); a bare ``label`` means value 1. A value <= 0 raises
    DataFormatError; a label id given twice is kept once (:func:`unique_labels`)."""
    ids, vals = [], []
    for tok in tokens:
        lab, sep, val = tok.partition(":")
        ids.append(parse_int(path, lineno, lab, "label id", 0, num_labels))
        vals.append(parse_float(path, lineno, val, "label value") if sep else 1.0)
        if vals[-1] <= 0:
            raise DataFormatError(path, lineno, f"label {ids[-1]} has relevance {val}: values must be > 0 (leave a "
                                  "label that does not apply out of the line)")
    ids, vals = unique_labels(path, lineno, ids, vals)
    return np.asarray(ids, np.int64), np.asarray(vals, np.float32)


def unique_labels(path, lineno: int, ids: Sequence[int], values: Sequence[float] | None = None
                  ) -> tuple[list[int], list[float]]:
    """One point's label ids and relevances (default 1) with each id kept once, at its largest relevance: a CSR
    matrix built from repeats would sum them into a relevance of 2. Warns once per file (per process), naming the
    file and the first line with a repeat."""
    values = [1.0] * len(ids) if values is None else list(values)
    if len(set(ids)) == len(ids):
        return list(ids), values
    best: dict[int, float] = {}
    for j, v in zip(ids, values):
        best[j] = max(v, best.get(j, v))
    if str(path) not in _REPEATS_WARNED:
        _REPEATS_WARNED.add(str(path))
        warnings.warn(f"{path}:{lineno}: a label id is listed twice in one point's labels (here and maybe on later "
                      "lines); each is kept once, at its largest relevance", stacklevel=2)
    return list(best), list(best.values())


_REPEATS_WARNED: set[str] = set()  # files already warned about, so a file with many repeats warns once


def require_points(path, points: int, line: int | None = None, split: str = "training") -> None:
    """Raise DataFormatError naming ``path`` (a split's file) when it holds no points: every study needs one of
    each, and an empty split would otherwise fail far away (label propensities take ``log(points)``, evaluation
    and the encoders choke on an empty batch)."""
    if points == 0:
        raise DataFormatError(path, line, f"the {split} split has no points: expected at least one")


def read_label_matrix(path: str | Path) -> sp.csr_matrix:
    """A ``*_X_Y.txt`` file -> (rows, cols) float32 CSR."""
    it = iter_lines(path)
    first = next(it, None)
    if first is None:
        raise DataFormatError(path, 1, "empty file: expected header 'rows cols'")
    rows, cols = parse_header(path, 1, first[1], ("rows", "cols"))
    indices, values = [], []
    for lineno, line in it:
        if len(indices) == rows:
            if line.strip():
                raise DataFormatError(path, lineno, f"more than the {rows} rows the header announces")
            continue
        i, v = parse_label_tokens(path, lineno, line.split(), cols)
        indices.append(i)
        values.append(v)
    if len(indices) != rows:
        raise DataFormatError(path, None, f"header announces {rows} rows, file has {len(indices)}")
    return csr_from_rows(indices, values, cols)


def read_texts(path: str | Path) -> list[str]:
    """One text per line (tabs and other whitespace kept as written)."""
    return read_all_lines(path)


def read_filter(path: str | Path | None, num_points: int, num_labels: int) -> np.ndarray:
    """``"point label"`` pairs -> (m, 2) int64; a missing path gives no pairs."""
    if path is None:
        return np.zeros((0, 2), np.int64)
    pairs = []
    for lineno, line in iter_lines(path):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != 2:
            raise DataFormatError(path, lineno, f"expected 'point_idx label_idx', got {line!r}")
        pairs.append((parse_int(path, lineno, toks[0], "point index", 0, num_points),
                      parse_int(path, lineno, toks[1], "label index", 0, num_labels)))
    return np.asarray(pairs, np.int64).reshape(-1, 2)


def _check_texts(path, texts: list[str], n: int, what: str) -> None:
    if len(texts) != n:
        raise DataFormatError(path, None, f"{len(texts)} {what} texts, but the label matrix has {n} rows")


def load_raw_text(directory: str | Path, name: str | None = None) -> XMCDataset:
    """Read a raw-text layout directory (see module docstring) into an :class:`XMCDataset`."""
    d = Path(directory)
    need = {f: find_file(d, f) for f in (*MATRIX_FILES, "trn_X.txt", "tst_X.txt", "Y.txt")}
    missing = [f for f, p in need.items() if p is None]
    if missing:
        raise DataFormatError(d, None, f"raw-text layout is missing {missing}")
    Y_tr, Y_te = read_label_matrix(need["trn_X_Y.txt"]), read_label_matrix(need["tst_X_Y.txt"])
    require_points(need["trn_X_Y.txt"], Y_tr.shape[0], line=1)
    require_points(need["tst_X_Y.txt"], Y_te.shape[0], line=1, split="test")
    if Y_tr.shape[1] != Y_te.shape[1]:
        raise DataFormatError(need["tst_X_Y.txt"], 1, f"{Y_te.shape[1]} labels, train has {Y_tr.shape[1]}")
    L = Y_tr.shape[1]
    texts = {f: read_texts(need[f]) for f in ("trn_X.txt", "tst_X.txt", "Y.txt")}
    _check_texts(need["trn_X.txt"], texts["trn_X.txt"], Y_tr.shape[0], "train")
    _check_texts(need["tst_X.txt"], texts["tst_X.txt"], Y_te.shape[0], "test")
    if len(texts["Y.txt"]) != L:
        raise DataFormatError(need["Y.txt"], None, f"{len(texts['Y.txt'])} label texts for {L} labels")
    name = name or d.name
    return XMCDataset(
        name=name, Y_train=Y_tr, Y_test=Y_te,
        train_texts=texts["trn_X.txt"], test_texts=texts["tst_X.txt"], label_texts=texts["Y.txt"],
        filter_train=read_filter(find_file(d, "filter_labels_train.txt"), Y_tr.shape[0], L),
        filter_test=read_filter(find_file(d, "filter_labels_test.txt"), Y_te.shape[0], L),
        propensity_ab=propensity_ab(name))


# -- writing (used by the dataset builders) ---------------------------------------------------------------------

def _write_lines(path: Path, lines: Iterable[str]) -> None:
    body = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        body = gzip.compress(body, compresslevel=9, mtime=0)  # mtime=0: byte-identical rebuilds
    atomic_write(path, lambda tmp: tmp.write_bytes(body))


def _clean(text: str) -> str:
    return " ".join(text.split())  # one text per line: no newlines or tabs may survive


def write_raw_text(ds: XMCDataset, directory: str | Path, gz: bool = True) -> list[Path]:
    """Write ``ds`` in the raw-text layout (gzipped when ``gz``); returns the files written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    out = []

    def put(name: str, lines: Iterable[str]) -> None:
        out.append(d / (name + ext))
        _write_lines(out[-1], lines)

    put("trn_X.txt", map(_clean, ds.train_texts or []))
    put("tst_X.txt", map(_clean, ds.test_texts or []))
    put("Y.txt", map(_clean, ds.label_texts or []))
    for fname, Y in zip(MATRIX_FILES, (ds.Y_train, ds.Y_test)):
        put(fname, matrix_lines(Y))
    put("filter_labels_train.txt", (f"{i} {j}" for i, j in ds.filter_train))
    put("filter_labels_test.txt", (f"{i} {j}" for i, j in ds.filter_test))
    return out


def matrix_lines(Y: sp.csr_matrix) -> Iterable[str]:
    yield f"{Y.shape[0]} {Y.shape[1]}"
    for r in range(Y.shape[0]):
        s, e = Y.indptr[r], Y.indptr[r + 1]
        yield " ".join(f"{j}:{v:g}" for j, v in zip(Y.indices[s:e], Y.data[s:e]))
