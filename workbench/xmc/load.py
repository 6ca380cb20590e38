"""Detect which published layout a directory holds and read it into an :class:`XMCDataset`.

Layouts (see each reader's module): label-feature JSON (:mod:`.lf_json`), raw text (:mod:`.raw_text`),
bag-of-words (:mod:`.bow`: ``train.txt``/``test.txt`` or ``*_data.txt`` + ``*_trSplit.txt`` /
``*_tstSplit.txt``), Mulan ARFF (:mod:`.arff`). No loader downloads anything: a missing directory
raises :class:`FileNotFoundError` saying what to fetch.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..io import user_path
from .arff import read_arff, read_mulan_labels
from .bow import XC_REPO, find_split_files, load_bow, load_bow_split
from .dataset import XMCDataset
from .errors import DataFormatError, find_file
from .lf_json import load_lf_json
from .metrics import propensity_ab
from .raw_text import load_raw_text, require_points

MULAN = "Mulan's data/multi-label/<name>/ (https://github.com/tsoumakas/mulan)"
VARIANT_NAMES = ("titles", "fulltext", "title", "full")  # sub-folders of one dataset, named by text mode


def detect_layout(d: Path) -> str | None:
    """``"lf_json"``, ``"raw_text"``, ``"bow"``, ``"bow_split"``, ``"mulan"`` or None."""
    if find_file(d, "lbl.json") and find_file(d, "trn.json"):
        return "lf_json"
    if find_file(d, "trn_X_Y.txt"):
        return "raw_text"
    if find_file(d, "train.txt") and find_file(d, "test.txt"):
        return "bow"
    if find_split_files(d):
        return "bow_split"
    if list(d.glob("*-train.arff")) + list(d.glob("*-train.arff.gz")):
        return "mulan"
    return None


def _variants(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.is_dir() and detect_layout(p))


def load_dataset(path: str | Path, variant: str | None = None, split: int = 0) -> XMCDataset:
    """Read the dataset in ``path`` (or its sub-directory ``variant``, e.g. ``"titles"``) in whatever layout.

    For the LF JSON layout, ``variant`` may instead be the text mode: ``"title"`` / ``"titles"`` or ``"full"`` /
    ``"fulltext"`` (the Debian variants' names). ``split`` picks
    the column of ``*_trSplit.txt`` / ``*_tstSplit.txt`` (0-based) and must stay 0 for the other layouts.
    """
    # absolute, '.' and '..' resolved (links kept): the folder's own name picks PSP's (A, B) and names the data,
    # and load_dataset(".") from inside a dataset folder would otherwise see the name ""
    d = Path(os.path.abspath(user_path(path)))
    if not d.is_dir():
        raise FileNotFoundError(f"{d} is not a directory: fetch the dataset from {XC_REPO} (or build it, e.g. "
                                "`python -m workbench data build debian`) and pass its local directory")
    layout = detect_layout(d)
    if split != 0 and layout not in (None, "bow_split"):
        raise ValueError(f"split={split} needs the *_trSplit.txt/*_tstSplit.txt layout; {d} holds {layout}")
    if layout == "lf_json" and variant in (None, "title", "titles", "full", "fulltext"):
        data = load_lf_json(d, text="full" if variant in ("full", "fulltext") else "title")
    elif variant is not None:
        if not (d / variant).is_dir():
            raise ValueError(f"{d} has no variant {variant!r}; variants: {_variants(d)}")
        return dataclasses.replace(load_dataset(d / variant, None, split), propensity_ab=propensity_ab(d.name))
    elif layout is None:
        found = _variants(d)
        hint = f"; it has variants {found}: pass variant=" if found else ""
        raise DataFormatError(d, None, "no known XMC layout (lbl.json.gz, trn_X_Y.txt, train.txt, *_data.txt + "
                              f"*_trSplit.txt + *_tstSplit.txt, *.arff){hint}")
    else:
        name = d.parent.name + "-" + d.name if d.parent.name else d.name
        data = {"raw_text": lambda: load_raw_text(d, name), "bow": lambda: load_bow(d, name),
                "bow_split": lambda: load_bow_split(d, name, split),
                "mulan": lambda: load_mulan(d)}[layout]()
    # PSP's A, B by the dataset's own folder name in every layout (not its parent's: ~/amazon-work/Wiki10-31K
    # is no Amazon dataset); a variant sub-folder (titles, fulltext: no dataset name) takes its dataset's
    return dataclasses.replace(data, propensity_ab=propensity_ab(d.parent.name if d.name in VARIANT_NAMES else d.name))


def _words(X: sp.csr_matrix, vocab: list[str]) -> list[str]:
    v = np.asarray(vocab, dtype=object)
    return [" ".join(v[X.indices[X.indptr[r]:X.indptr[r + 1]]]) for r in range(X.shape[0])]


def load_mulan(name_or_dir: str | Path) -> XMCDataset:
    """A Mulan dataset directory holding ``<name>-train.arff[.gz]``, ``<name>-test.arff[.gz]``, ``<name>.xml``.

    Query texts are the words present (Mulan's Bibtex/Delicious feature attributes are words); label texts are
    the label attribute names without their ``TAG_`` prefix. ``X_*`` hold the binary word features.
    """
    d = user_path(name_or_dir)
    trains = sorted(d.glob("*-train.arff")) + sorted(d.glob("*-train.arff.gz")) if d.is_dir() else []
    if not trains:
        raise FileNotFoundError(f"{d} holds no <name>-train.arff[.gz]: fetch {MULAN} (bibtex, delicious: the "
                                "-train.arff, -test.arff and .xml files) and pass that local directory")
    name = trains[0].name.split("-train.arff")[0]
    test, xml = find_file(d, f"{name}-test.arff"), d / f"{name}.xml"
    if test is None or not xml.exists():
        raise FileNotFoundError(f"{d} needs {name}-test.arff[.gz] and {name}.xml beside {trains[0].name}")
    labels = read_mulan_labels(xml)
    X_tr, Y_tr, feats, _ = read_arff(trains[0], labels)
    require_points(trains[0], X_tr.shape[0])
    X_te, Y_te, feats_te, _ = read_arff(test, labels)
    require_points(test, X_te.shape[0], split="test")
    if feats != feats_te:
        raise DataFormatError(test, None, "feature attributes differ from the train file's")
    return XMCDataset(name=name, Y_train=Y_tr, Y_test=Y_te, X_train=X_tr, X_test=X_te,
                      train_texts=_words(X_tr, feats), test_texts=_words(X_te, feats),
                      label_texts=[n[4:] if n.startswith("TAG_") else n for n in labels])
