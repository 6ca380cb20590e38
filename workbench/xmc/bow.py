"""The Extreme Classification Repository's bag-of-words sparse format (Bibtex, Delicious, EURLex-4K, ...).

A file starts with the header ``"num_points num_features num_labels"``; each following line is
``"l1,l2,... f:v f:v ..."``: comma-separated 0-based label ids (empty for a point without labels, the line then
starts with a space) followed by ``feature:value`` pairs. A directory holds ``train.txt`` and ``test.txt``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .dataset import XMCDataset
from .errors import DataFormatError, find_file, iter_lines, parse_float, parse_int
from .raw_text import csr_from_rows, parse_header


def _parse_row(path, lineno: int, line: str, F: int, L: int):
    if not line.strip():
        raise DataFormatError(path, lineno, "empty line: expected 'labels f:v ...'")
    head, _, rest = line.partition(" ")
    if ":" in head:  # no label field at all: the line starts with a feature
        head, rest = "", line
    labels = [parse_int(path, lineno, t, "label id", 0, L) for t in head.split(",") if t != ""]
    if head and len(labels) != len(head.split(",")):
        raise DataFormatError(path, lineno, f"empty label id in {head!r}")
    feats, vals = [], []
    for tok in rest.split():
        f, sep, v = tok.partition(":")
        if not sep:
            raise DataFormatError(path, lineno, f"feature token {tok!r} is not 'index:value'")
        feats.append(parse_int(path, lineno, f, "feature index", 0, F))
        vals.append(parse_float(path, lineno, v, "feature value"))
    return labels, feats, vals


def read_bow(path: str | Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """One bag-of-words file -> ``(X (n, F) float32 CSR, Y (n, L) float32 CSR)``."""
    it = iter_lines(path)
    first = next(it, None)
    if first is None:
        raise DataFormatError(path, 1, "empty file: expected header 'points features labels'")
    n, F, L = parse_header(path, 1, first[1], ("points", "features", "labels"))
    xi, xv, yi = [], [], []
    for lineno, line in it:
        if len(yi) == n:
            if line.strip():
                raise DataFormatError(path, lineno, f"more than the {n} points the header announces")
            continue
        labels, feats, vals = _parse_row(path, lineno, line, F, L)
        yi.append(np.asarray(labels, np.int64))
        xi.append(np.asarray(feats, np.int64))
        xv.append(np.asarray(vals, np.float32))
    if len(yi) != n:
        raise DataFormatError(path, None, f"header announces {n} points, file has {len(yi)}")
    return csr_from_rows(xi, xv, F), csr_from_rows(yi, [np.ones(len(r), np.float32) for r in yi], L)


def load_bow(directory: str | Path, name: str | None = None) -> XMCDataset:
    """Read ``train.txt`` + ``test.txt`` (either may be gzipped) into an :class:`XMCDataset` without texts."""
    d = Path(directory)
    files = {f: find_file(d, f) for f in ("train.txt", "test.txt")}
    if None in files.values():
        raise DataFormatError(d, None, "bag-of-words layout needs train.txt and test.txt")
    X_tr, Y_tr = read_bow(files["train.txt"])
    X_te, Y_te = read_bow(files["test.txt"])
    if X_tr.shape[1] != X_te.shape[1] or Y_tr.shape[1] != Y_te.shape[1]:
        raise DataFormatError(files["test.txt"], 1, f"features/labels {X_te.shape[1]}/{Y_te.shape[1]} differ "
                              f"from train's {X_tr.shape[1]}/{Y_tr.shape[1]}")
    return XMCDataset(name=name or d.name, Y_train=Y_tr, Y_test=Y_te, X_train=X_tr, X_test=X_te)
