"""The Extreme Classification Repository's label-feature JSON layout (LF-AmazonTitles-131K, LF-WikiSeeAlso...).

``trn.json.gz`` / ``tst.json.gz``: one JSON object per line with ``uid``, ``title``, ``content``, ``target_ind``
(0-based label ids; a repeat is kept once, with a warning) and ``target_rel`` (finite relevance > 0, same length;
optional, default 1); each must hold at least one. ``lbl.json.gz``: one object per label with ``uid``,
``title``, ``content``. Every record needs a ``title`` (``content`` may be left out). Filter files
``filter_labels_train.txt`` / ``filter_labels_test.txt`` hold ``"doc_idx label_idx"`` pairs (may be empty or
absent).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .dataset import XMCDataset
from .errors import DataFormatError, find_file, iter_lines
from .metrics import propensity_ab
from .raw_text import csr_from_rows, read_filter, require_points, unique_labels

TEXT_MODES = ("title", "full")  # full = title + " " + content


def _records(path: Path) -> list[tuple[int, dict]]:
    out = []
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, lineno, f"not a JSON object ({e.msg})") from None
        if not isinstance(rec, dict):
            raise DataFormatError(path, lineno, f"expected a JSON object, got {type(rec).__name__}")
        out.append((lineno, rec))
    return out


def _text(path, lineno: int, rec: dict, mode: str) -> str:
    if "title" not in rec:  # a misspelt key would give the record an empty text, which loads and trains silently
        raise DataFormatError(path, lineno, f"no 'title' key (got keys {sorted(rec)[:8]}): every record needs one")
    title, content = rec["title"], rec.get("content", "")
    if not isinstance(title, str) or not isinstance(content, str):
        raise DataFormatError(path, lineno, "'title' and 'content' must be strings")
    return " ".join(f"{title} {content}".split()) if mode == "full" else title


def _targets(path, lineno: int, rec: dict, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    ind, rel = rec.get("target_ind"), rec.get("target_rel")
    if not isinstance(ind, list):
        raise DataFormatError(path, lineno, "'target_ind' must be a list of label ids")
    rel = [1.0] * len(ind) if rel is None else rel
    if not isinstance(rel, list) or len(rel) != len(ind):
        raise DataFormatError(path, lineno, "'target_rel' must be a list as long as 'target_ind'")
    for j in ind:
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < num_labels:
            raise DataFormatError(path, lineno, f"label id {j!r} is not an integer in [0, {num_labels})")
    for v in rel:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise DataFormatError(path, lineno, f"relevance {v!r} is not a number")
        if isinstance(v, float) and math.isinf(v):  # JSON's Infinity: one label would outweigh all others
            raise DataFormatError(path, lineno, f"relevance {v!r} is not finite")
        if v <= 0:
            raise DataFormatError(path, lineno, f"relevance {v!r}: values must be > 0 (leave a label that does not "
                                  "apply out of 'target_ind')")
    ind, rel = unique_labels(path, lineno, ind, rel)
    return np.asarray(ind, np.int64), np.asarray(rel, np.float32)


def _split(path: Path, num_labels: int, mode: str):
    texts, indices, values = [], [], []
    for lineno, rec in _records(path):
        texts.append(_text(path, lineno, rec, mode))
        i, v = _targets(path, lineno, rec, num_labels)
        indices.append(i)
        values.append(v)
    return texts, csr_from_rows(indices, values, num_labels)


def load_lf_json(directory: str | Path, text: str = "title", name: str | None = None) -> XMCDataset:
    """Read an LF JSON directory; ``text`` picks the query/label text: ``"title"`` or ``"full"`` (title+content)."""
    if text not in TEXT_MODES:
        raise ValueError(f"text must be one of {TEXT_MODES}, got {text!r}")
    d = Path(directory)
    files = {f: find_file(d, f) for f in ("trn.json", "tst.json", "lbl.json")}
    missing = [f + ".gz" for f, p in files.items() if p is None]
    if missing:
        raise DataFormatError(d, None, f"label-feature JSON layout is missing {missing}")
    labels = [_text(files["lbl.json"], ln, rec, text) for ln, rec in _records(files["lbl.json"])]
    if not labels:
        raise DataFormatError(files["lbl.json"], None, "no label records: expected one JSON object per label")
    L = len(labels)
    trn_texts, Y_tr = _split(files["trn.json"], L, text)
    require_points(files["trn.json"], Y_tr.shape[0])
    tst_texts, Y_te = _split(files["tst.json"], L, text)
    require_points(files["tst.json"], Y_te.shape[0], split="test")  # before its filter file blames an empty split
    name = name or d.name
    return XMCDataset(
        name=name, Y_train=Y_tr, Y_test=Y_te,
        train_texts=trn_texts, test_texts=tst_texts, label_texts=labels,
        filter_train=read_filter(find_file(d, "filter_labels_train.txt"), Y_tr.shape[0], L),
        filter_test=read_filter(find_file(d, "filter_labels_test.txt"), Y_te.shape[0], L),
        propensity_ab=propensity_ab(name))
