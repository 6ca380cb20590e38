"""Mulan's multi-label ARFF (sparse or dense rows) and its XML label list (Bibtex, Delicious, ...).

``<name>.xml`` lists the label attributes (``<label name="TAG_web20"></label>``); every other attribute of the
ARFF header is a feature. Rows after ``@data`` are sparse (``{idx val, idx val}``, 0-based attribute indices,
missing = 0; an index given twice is refused) or dense (``v,v,...``, one value per attribute).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .errors import DataFormatError, iter_lines, parse_float, parse_int, refuse_repeats
from .raw_text import csr_from_rows

_ATTR = re.compile(r"""@attribute\s+('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)\s+(.+)$""", re.IGNORECASE)


def read_mulan_labels(path: str | Path) -> list[str]:
    """The label attribute names listed in a Mulan XML file, in file order."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataFormatError(path, e.position[0], f"malformed XML ({e})") from None
    names = [el.get("name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label"]
    if not names or any(n is None for n in names):
        raise DataFormatError(path, None, "no <label name=...> elements")
    seen: set[str] = set()
    for n in names:  # two label columns would map to one attribute: the first would stay empty for every point
        if n in seen:
            raise DataFormatError(path, None, f"label {n!r} is listed twice: list each label attribute once")
        seen.add(n)
    return names


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _header(path: Path, lines) -> list[str]:
    attrs = []
    for lineno, line in lines:
        s = line.strip()
        if not s or s.startswith("%") or s.lower().startswith("@relation"):
            continue
        if s.lower() == "@data":
            return attrs
        m = _ATTR.match(s)
        if not m:
            raise DataFormatError(path, lineno, f"expected '@attribute name type' or '@data', got {s[:60]!r}")
        attrs.append(_unquote(m.group(1)))
    raise DataFormatError(path, None, "no '@data' line")


def _row(path, lineno: int, s: str, A: int) -> tuple[list[int], list[float]]:
    if s.startswith("{"):
        if not s.endswith("}"):
            raise DataFormatError(path, lineno, "sparse row does not end with '}'")
        idx, val = [], []
        for tok in filter(None, (t.strip() for t in s[1:-1].split(","))):
            parts = tok.split()
            if len(parts) != 2:
                raise DataFormatError(path, lineno, f"sparse entry {tok!r} is not 'index value'")
            idx.append(parse_int(path, lineno, parts[0], "attribute index", 0, A))
            val.append(parse_float(path, lineno, parts[1], "value"))
        refuse_repeats(path, lineno, idx, "attribute index")
        return idx, val
    toks = [t.strip() for t in s.split(",")]
    if len(toks) != A:
        raise DataFormatError(path, lineno, f"dense row has {len(toks)} values, header declares {A} attributes")
    vals = [parse_float(path, lineno, t, "value") for t in toks]
    return [i for i, v in enumerate(vals) if v != 0], [v for v in vals if v != 0]


def read_arff(path: str | Path, label_names: list[str]):
    """One Mulan ARFF file -> ``(X (n, F) float32 CSR, Y (n, L) float32 CSR, feature_names, label_names)``.

    Labels are the attributes named in ``label_names`` (order kept); every other attribute is a feature.
    """
    path = Path(path)
    lines = iter_lines(path)
    attrs = _header(path, lines)
    pos = {a: i for i, a in enumerate(attrs)}
    missing = [n for n in label_names if n not in pos]
    if missing:
        raise DataFormatError(path, None, f"label attributes {missing[:5]} (of {len(missing)}) not in the header")
    col = np.full(len(attrs), -1, np.int64)  # attribute -> feature column (>= 0) or -(label + 2)
    is_label = np.zeros(len(attrs), bool)
    is_label[[pos[n] for n in label_names]] = True
    col[~is_label] = np.arange((~is_label).sum())
    col[[pos[n] for n in label_names]] = -(np.arange(len(label_names)) + 2)
    xi, xv, yi = [], [], []
    for lineno, line in lines:
        s = line.strip()
        if not s or s.startswith("%"):
            continue
        idx, val = _row(path, lineno, s, len(attrs))
        c, v = col[np.asarray(idx, np.int64)], np.asarray(val, np.float32)
        feat = (c >= 0) & (v != 0)  # a sparse row may spell out a zero ("{0 0, ...}"): not a word of the point
        xi.append(c[feat])
        xv.append(v[feat])
        yi.append(-c[(c < 0) & (v != 0)] - 2)
    X = csr_from_rows(xi, xv, int((~is_label).sum()))
    Y = csr_from_rows(yi, [np.ones(len(r), np.float32) for r in yi], len(label_names))
    return X, Y, [a for a, lab in zip(attrs, is_label) if not lab], list(label_names)
