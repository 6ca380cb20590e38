"""The Extreme Classification Repository's bag-of-words sparse format (Bibtex, Delicious, EURLex-4K, ...).

A file starts with the header ``"num_points num_features num_labels"``; each following line is
``"l1,l2,... f:v f:v ..."``: comma-separated 0-based label ids (empty for a point without labels, the line then
starts with a space) followed by ``feature:value`` pairs; a line of spaces is a point with neither, an empty
line within the header's count of points is refused (empty lines after those are ignored). A directory holds
``train.txt`` and ``test.txt``. A label id given twice on one line is kept once (with a warning naming the file);
a feature index given twice is refused (summing the two values would be a guess), as is a split without points.

The repository's older distribution (Bibtex, Delicious, Mediamill, ...) instead ships one ``<Name>_data.txt`` in
that format plus ``<name>_trSplit.txt`` / ``<name>_tstSplit.txt`` (the prefix's case may differ): one row per
point of the split, one whitespace-separated column per split (usually 10), each entry a 1-based index into the
data file's points. Any file may instead be gzipped (``*.gz``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .dataset import XMCDataset
from .errors import DataFormatError, find_file, iter_lines, parse_float, parse_int, refuse_repeats
from .raw_text import csr_from_rows, parse_header, require_points, unique_labels

XC_REPO = "the Extreme Classification Repository (http://manikvarma.org/downloads/XC/XMLRepository.html)"
BOW_FILES = "train.txt and test.txt (either may be gzipped)"
SPLIT_FILES = "<name>_data.txt, <name>_trSplit.txt and <name>_tstSplit.txt (any may be gzipped)"


def _need_dir(d: Path, layout: str, files: str) -> None:
    """A FileNotFoundError saying what to fetch where ``d`` is not a directory (``iterdir`` would say Errno 2)."""
    if not d.is_dir():
        raise FileNotFoundError(f"{d} is not a directory: the {layout} layout needs {files} in it; fetch the "
                                f"dataset from {XC_REPO} and pass its local directory")


def _need_file(path: str | Path, what: str) -> None:
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist: expected {what}, as downloaded from {XC_REPO}")


def _parse_row(path, lineno: int, line: str, F: int, L: int):
    if not line:  # a truly empty line: a cut or hand-edited file, not the format's empty point
        raise DataFormatError(path, lineno, "empty line: expected 'labels f:v ...' (a point without labels or "
                              "features is a line of one space)")
    if not line.strip():  # the format's point without labels and features: its line starts with a space
        return [], [], []
    head, _, rest = line.partition(" ")
    if ":" in head:  # no label field at all: the line starts with a feature
        head, rest = "", line
    labels = [parse_int(path, lineno, t, "label id", 0, L) for t in head.split(",") if t != ""]
    if head and len(labels) != len(head.split(",")):
        raise DataFormatError(path, lineno, f"empty label id in {head!r}")
    labels, _ = unique_labels(path, lineno, labels)
    feats, vals = [], []
    for tok in rest.split():
        f, sep, v = tok.partition(":")
        if not sep:
            raise DataFormatError(path, lineno, f"feature token {tok!r} is not 'index:value'")
        feats.append(parse_int(path, lineno, f, "feature index", 0, F))
        vals.append(parse_float(path, lineno, v, "feature value"))
    refuse_repeats(path, lineno, feats, "feature index")
    return labels, feats, vals


def read_bow(path: str | Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """One bag-of-words file -> ``(X (n, F) float32 CSR, Y (n, L) float32 CSR)``."""
    _need_file(path, "a bag-of-words file such as train.txt, test.txt or <name>_data.txt")
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
    _need_dir(d, "bag-of-words", BOW_FILES)
    files = {f: find_file(d, f) for f in ("train.txt", "test.txt")}
    missing = [f for f, p in files.items() if p is None]
    if missing:
        raise DataFormatError(d, None, f"bag-of-words layout is missing {missing}: it needs {BOW_FILES}, as "
                              f"in the bag-of-words downloads of {XC_REPO}")
    X_tr, Y_tr = read_bow(files["train.txt"])
    require_points(files["train.txt"], X_tr.shape[0], line=1)
    X_te, Y_te = read_bow(files["test.txt"])
    require_points(files["test.txt"], X_te.shape[0], line=1, split="test")
    if X_tr.shape[1] != X_te.shape[1] or Y_tr.shape[1] != Y_te.shape[1]:
        raise DataFormatError(files["test.txt"], 1, f"features/labels {X_te.shape[1]}/{Y_te.shape[1]} differ "
                              f"from train's {X_tr.shape[1]}/{Y_tr.shape[1]}")
    return XMCDataset(name=name or d.name, Y_train=Y_tr, Y_test=Y_te, X_train=X_tr, X_test=X_te)


SPLIT_SUFFIXES = ("_data.txt", "_trSplit.txt", "_tstSplit.txt")


def _split_row(path, lineno: int, line: str, num_points: int, ncols: int | None, split: int) -> list[int]:
    toks = line.split()
    if ncols is None and not 0 <= split < len(toks):
        raise DataFormatError(path, lineno, f"split {split} out of range [0, {len(toks)}): the file has "
                              f"{len(toks)} split columns")
    if ncols is not None and len(toks) != ncols:
        raise DataFormatError(path, lineno, f"ragged columns: {len(toks)} indices, line 1 has {ncols}")
    return [parse_int(path, lineno, t, "point index", 1, num_points + 1) for t in toks]


def read_split(path: str | Path, split: int, num_points: int) -> np.ndarray:
    """A ``*_trSplit.txt`` / ``*_tstSplit.txt`` file -> (rows,) int64 0-based point indices of column ``split``.

    Every column is checked (indices in ``[1, num_points]``, equal column counts), not only the one returned; an
    index repeated within the returned column is refused.
    """
    _need_file(path, "a split table such as <name>_trSplit.txt or <name>_tstSplit.txt")
    rows, ncols, blank = [], None, None
    for lineno, line in iter_lines(path):
        if not line.strip():
            blank = blank or lineno  # trailing blank lines are harmless, a blank inside is not
            continue
        if blank is not None:
            raise DataFormatError(path, blank, "empty line inside the split table")
        row = _split_row(path, lineno, line, num_points, ncols, split)
        ncols = len(row)
        rows.append(row[split] - 1)
    if not rows:
        raise DataFormatError(path, 1, "empty file: expected one row per point, one column per split")
    out = np.asarray(rows, np.int64)
    order = np.argsort(out, kind="stable")  # equal indices stay in file order: the later one is the repeat
    repeats = order[1:][out[order[1:]] == out[order[:-1]]]
    if repeats.size:  # row i is line i + 1: only blank lines after the last row are allowed
        row = int(repeats.min())
        raise DataFormatError(path, row + 1, f"point index {out[row] + 1} of split {split} is given twice: a split "
                              "lists each point once (a repeat would weigh it twice)")
    return out


def _find_ci(d: Path, name: str) -> Path | None:
    """``d/name`` or ``d/name.gz`` matched case-insensitively (the repository's zips mix ``Bibtex``/``bibtex``)."""
    hits = sorted(p for p in d.iterdir() if p.name.lower() in (name.lower(), name.lower() + ".gz"))
    return hits[0] if hits else None


def find_split_files(d: str | Path) -> dict[str, Path] | None:
    """``{"_data.txt": path, "_trSplit.txt": path, "_tstSplit.txt": path}`` of the split layout in ``d``, or None."""
    d = Path(d)
    _need_dir(d, "bag-of-words split", SPLIT_FILES)
    datas = sorted(p for p in d.iterdir() if p.name.lower().endswith(("_data.txt", "_data.txt.gz")))
    found = []
    for data in datas:
        prefix = data.name[: data.name.lower().rindex("_data.txt")]
        files = {s: _find_ci(d, prefix + s) for s in SPLIT_SUFFIXES}
        if None not in files.values():
            found.append(files)
    if len(found) > 1:
        raise DataFormatError(d, None, f"several split-layout datasets: {[f['_data.txt'].name for f in found]}; "
                              "keep one per directory")
    return found[0] if found else None


def load_bow_split(directory: str | Path, name: str | None = None, split: int = 0) -> XMCDataset:
    """Read ``<name>_data.txt`` + column ``split`` of ``<name>_trSplit.txt`` / ``<name>_tstSplit.txt``.

    The dataset is named ``"<name>-split<split>"``; rows keep the split files' order.
    """
    d = Path(directory)
    files = find_split_files(d)
    if files is None:
        raise DataFormatError(d, None, f"split layout needs {SPLIT_FILES}, as in the older bag-of-words "
                              f"downloads (Bibtex, Delicious, Mediamill, ...) of {XC_REPO}")
    X, Y = read_bow(files["_data.txt"])
    require_points(files["_data.txt"], X.shape[0], line=1)  # else read_split blames every index as out of range
    tr = read_split(files["_trSplit.txt"], split, X.shape[0])
    te = read_split(files["_tstSplit.txt"], split, X.shape[0])
    shared = np.flatnonzero(np.isin(te, tr))
    if shared.size:  # a test point seen in training would inflate every metric
        row = int(shared[0])
        raise DataFormatError(files["_tstSplit.txt"], row + 1, f"point index {te[row] + 1} of split {split} is in "
                              f"{files['_trSplit.txt'].name} too: train and test must not share points")
    return XMCDataset(name=f"{name or d.name}-split{split}", Y_train=Y[tr], Y_test=Y[te], X_train=X[tr],
                      X_test=X[te])
