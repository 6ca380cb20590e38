"""A label-feature XMC dataset built from the Debian package index (``Packages`` + ``Translation-en``).

Query = a package (name + one-line summary: ``titles``; + long description: ``fulltext``); labels = the real
packages it Depends / Pre-Depends / Recommends on (every alternative of ``a | b``, version constraints, arch
qualifiers and build profiles stripped, virtual packages and itself dropped); label text = name + summary.
Labels on more than ``head_share`` of all points are dropped (they drown method comparisons in the head), then
points left without labels. Split: train iff ``int(md5(name), 16) % 10 < train_mod``. Filter pairs: every point
whose own package is a label (a model would rank it first by identical text).

Rebuild: ``python -m workbench data build debian --packages PATH --translations PATH --out data/debian``.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import lzma
import gzip
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..io import write_json
from .dataset import XMCDataset
from .deb822 import iter_stanzas, long_description
from .errors import DataFormatError
from .raw_text import csr_from_rows, write_raw_text
from .stats import dataset_stats

BUILDER_VERSION = "1.0"
DEP_FIELDS = ("Depends", "Pre-Depends", "Recommends")
VARIANTS = ("titles", "fulltext")
DEFAULT_HEAD_SHARE = 0.01
DEFAULT_TRAIN_MOD = 7  # md5(name) % 10 < 7: a 70 / 30 train / test split, stable as packages come and go
DEFAULT_MAX_CHARS = 500  # a long description's first 500 characters: the summary and its first paragraph or two
_STRIP = re.compile(r"\(.*?\)|\[.*?\]|<.*?>", re.S)  # version, arch, profile restrictions (may wrap a line)


def default_path() -> Path:
    """``data/debian`` of the checkout this package lives in."""
    return Path(__file__).resolve().parents[2] / "data" / "debian"


DEFAULT_PATH = default_path()


def default_dataset(variant: str = "titles") -> XMCDataset:
    """The committed Debian dataset (``"titles"`` or ``"fulltext"``), read offline from ``data/debian``."""
    from .load import load_dataset
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    d = DEFAULT_PATH / variant
    if not d.is_dir():
        raise FileNotFoundError(f"{d} is missing: rebuild it with `python -m workbench data build debian "
                                "--packages .../Packages.xz --translations .../Translation-en.xz --out data/debian`")
    ds = load_dataset(d)
    ds.name = f"debian-{variant}"
    return ds


# -- parsing ----------------------------------------------------------------------------------------------------

def read_packages(path: str | Path) -> dict[str, dict[str, str]]:
    """Package name -> its first stanza in the ``Packages`` file."""
    out: dict[str, dict[str, str]] = {}
    for _, st in iter_stanzas(path):
        if "Package" in st:
            out.setdefault(st["Package"].strip(), st)
    return out


def read_translations(path: str | Path) -> dict[tuple[str, str], str]:
    """(package, Description-md5) -> ``Description-en`` (summary line + long description)."""
    return {(st.get("Package", ""), st.get("Description-md5", "")): st.get("Description-en", "")
            for _, st in iter_stanzas(path)}


def dependency_names(value: str) -> list[str]:
    """Package names in a Depends-style field: every alternative, constraints/arch/profiles removed."""
    names = []
    for alt in re.split(r"[,|]", _STRIP.sub("", value)):
        name = alt.strip().split(":")[0].strip()
        if name:
            names.append(name)
    return names


def package_labels(packages: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Package -> sorted real packages it depends on (Depends, Pre-Depends, Recommends); empty ones omitted."""
    out = {}
    for name, st in packages.items():
        deps = {d for f in DEP_FIELDS if f in st for d in dependency_names(st[f])}
        deps = sorted(d for d in deps if d in packages and d != name)
        if deps:
            out[name] = deps
    return out


def is_train(name: str, train_mod: int = DEFAULT_TRAIN_MOD) -> bool:
    return int(hashlib.md5(name.encode("utf-8")).hexdigest(), 16) % 10 < train_mod


# -- building ---------------------------------------------------------------------------------------------------

def _title(name: str, st: dict[str, str]) -> str:
    return " ".join(f"{name}: {st.get('Description', '').split(chr(10))[0]}".split())


def _fulltext(name: str, st: dict[str, str], tr: dict[tuple[str, str], str], max_chars: int) -> str:
    desc = tr.get((name, st.get("Description-md5", "")), st.get("Description", ""))
    return f"{_title(name, st)} {long_description(desc)[:max_chars]}".strip()


def build(packages: dict[str, dict[str, str]], translations: dict[tuple[str, str], str],
          head_share: float = DEFAULT_HEAD_SHARE, train_mod: int = DEFAULT_TRAIN_MOD, max_chars: int = DEFAULT_MAX_CHARS
          ) -> tuple[dict[str, XMCDataset], dict]:
    """Both variants and a record of what was dropped. ``max_chars`` caps each long description."""
    labels_of = package_labels(packages)
    counts = collections.Counter(d for deps in labels_of.values() for d in deps)
    limit = head_share * len(labels_of)
    head = sorted(d for d, c in counts.items() if c > limit)
    head_set = set(head)
    kept = {p: [d for d in deps if d not in head_set] for p, deps in labels_of.items()}
    kept = {p: deps for p, deps in kept.items() if deps}
    label_names = sorted({d for deps in kept.values() for d in deps})
    lid = {n: i for i, n in enumerate(label_names)}
    splits = {s: sorted(p for p in kept if is_train(p, train_mod) == (s == "train")) for s in ("train", "test")}
    Y, filt = {}, {}
    for s, pts in splits.items():
        rows = [np.asarray([lid[d] for d in kept[p]], np.int64) for p in pts]
        Y[s] = csr_from_rows(rows, [np.ones(len(r), np.float32) for r in rows], len(label_names))
        filt[s] = np.asarray([(i, lid[p]) for i, p in enumerate(pts) if p in lid], np.int64).reshape(-1, 2)
    label_texts = [_title(n, packages[n]) for n in label_names]
    out = {}
    for v in VARIANTS:
        text = (lambda p: _title(p, packages[p])) if v == "titles" else \
            (lambda p: _fulltext(p, packages[p], translations, max_chars))
        out[v] = XMCDataset(f"debian-{v}", Y["train"], Y["test"], [text(p) for p in splits["train"]],
                            [text(p) for p in splits["test"]], label_texts,
                            filter_train=filt["train"], filter_test=filt["test"])
    info = {"packages": len(packages), "points_with_labels_before_cut": len(labels_of),
            "labels_before_cut": len(counts), "head_labels_dropped": head,
            "head_share_of_positives": round(sum(counts[h] for h in head) / max(sum(counts.values()), 1), 4),
            "points_dropped_without_labels": len(labels_of) - len(kept)}
    return out, info


# -- dependency graph (GNN study) -------------------------------------------------------------------------------

def dependency_graph(packages_path: str | Path) -> tuple[list[str], np.ndarray]:
    """All packages (sorted names) and (E, 2) int64 edges ``(package, dependency)`` over Depends, Pre-Depends,
    Recommends (no head cut)."""
    packages = read_packages(packages_path)
    if not packages:  # an empty graph fails far away (torch.cat of no rows), naming no file
        raise DataFormatError(packages_path, None, "no 'Package:' stanzas: expected a Debian Packages index")
    names = sorted(packages)
    idx = {n: i for i, n in enumerate(names)}
    edges = [(idx[p], idx[d]) for p, deps in package_labels(packages).items() for d in deps]
    return names, np.asarray(sorted(edges), np.int64).reshape(-1, 2)


# -- provenance and command line --------------------------------------------------------------------------------

def _sha256(path: Path, unpack: bool = False) -> str:
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(path.suffix, open) if unpack else open
    h = hashlib.sha256()
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _release_date(path: Path | None) -> str | None:
    if path is None:
        return None
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():  # -sig: drop a BOM
        if line.startswith("Date:"):
            return line.split(":", 1)[1].strip()
    return None


def write_dataset(out: Path, datasets: dict[str, XMCDataset], info: dict, sources: dict[str, Path],
                  release_date: str | None, options: dict) -> dict:
    """Write each variant in the gzipped raw-text layout under ``out/<variant>/`` and ``out/PROVENANCE.json``."""
    files = {}
    for v, ds in datasets.items():
        for p in write_raw_text(ds, out / v, gz=True):
            files[str(p.relative_to(out))] = {"bytes": p.stat().st_size, "sha256": _sha256(p)}
    prov = {
        "dataset": "debian", "layout": "raw-text (Extreme Classification Repository), gzipped",
        "builder": "workbench.xmc.debian", "builder_version": BUILDER_VERSION,
        "command": "python -m workbench data build debian --packages P --translations T --out DIR "
                   + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items()),
        "options": options, "release_date": release_date,
        "sources": {k: {"file": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p),
                        "sha256_unpacked": _sha256(p, unpack=True)} for k, p in sources.items()},
        "build_info": info, "stats": {v: dataset_stats(ds) for v, ds in datasets.items()}, "files": files,
    }
    write_json(out / "PROVENANCE.json", prov)
    return prov


def _check_built(packages: Path, translations: Path, descriptions: dict, ds: XMCDataset, info: dict) -> None:
    """Raise DataFormatError naming the input files unless they gave a dataset worth writing: a ``Package:``
    stanza, a ``Translation-en`` stanza, and training and test points (else the builder would write an empty
    dataset over ``--out``, by default the committed ``data/debian``, or one the readers refuse)."""
    inputs = f"--packages {packages}, --translations {translations}"
    if not info["packages"]:
        raise DataFormatError(packages, None, f"no 'Package:' stanzas: expected a Debian Packages index ({inputs}); "
                              "nothing written")
    if not descriptions:
        raise DataFormatError(translations, None, "no stanzas: expected a Debian Translation-en index "
                              f"('Package:', 'Description-md5:', 'Description-en:') ({inputs}); nothing written")
    n_train, n_test = ds.Y_train.shape[0], ds.Y_test.shape[0]
    if not (n_train and n_test):  # the readers refuse a split without points
        raise DataFormatError(packages, None, f"{info['packages']} packages give {n_train} train / {n_test} test "
                              f"points ({info['points_with_labels_before_cut']} with dependencies before the head cut, "
                              f"{len(info['head_labels_dropped'])} head labels dropped): need "
                              f"{'training' if not n_train else 'test'} points "
                              f"({inputs}); nothing written")


def _check_translations(translations: Path, descriptions: dict[tuple[str, str], str],
                        packages: dict[str, dict[str, str]]) -> None:
    """Raise DataFormatError naming ``translations`` unless it has ``Description-en`` fields and one of them
    belongs to a package (same ``Package`` and ``Description-md5``): else the fulltext variant would silently be
    the titles (e.g. the Packages file passed twice, or another release's Translation-en)."""
    if not any(descriptions.values()):
        raise DataFormatError(translations, None, f"none of its {len(descriptions)} stanzas has a 'Description-en:' "
                              "field: expected a Debian Translation-en index; nothing written")
    if not any(descriptions.get((n, st.get("Description-md5", ""))) for n, st in packages.items()):
        raise DataFormatError(translations, None, "no (Package, Description-md5) of its stanzas matches a package "
                              "of --packages: expected the Translation-en of the same release; nothing written")


def _release(release: Path | None, packages: Path) -> Path | None:
    """The file to take the release date from: ``--release`` (which must be a file) or an InRelease / Release
    beside ``--packages``, if any. Checked before anything is written."""
    if release is None:
        return next((p for p in (packages.parent / "InRelease", packages.parent / "Release") if p.is_file()), None)
    if not release.is_file():
        raise FileNotFoundError(f"--release {release} is not a file: pass the InRelease or Release file of the "
                                "index (or leave --release out); nothing written")
    return release


def _write_beside(out: Path, write: Callable[[Path], dict]) -> dict:
    """``write(tmp)`` into a temporary folder beside ``out``, then move what it wrote into ``out`` (replacing the
    variants and PROVENANCE.json there, last; other files such as README.md stay): a failed build leaves ``out``
    as it was, not half rewritten."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        prov = write(tmp)
        out.mkdir(exist_ok=True)
        for src in sorted(tmp.iterdir(), key=lambda p: p.name == "PROVENANCE.json"):
            if (out / src.name).is_dir():
                shutil.rmtree(out / src.name)
            src.replace(out / src.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return prov


def cli_main(argv: list[str]) -> int:
    """``python -m workbench data build debian --packages P --translations T --out DIR [options]``.

    Input that yields no dataset (no stanzas, no points in a split, no long description for any package)
    raises DataFormatError, a ``--release`` that is no file FileNotFoundError; either writes nothing."""
    ap = argparse.ArgumentParser(prog="python -m workbench data build debian", description=__doc__.split("\n")[0])
    ap.add_argument("--packages", required=True, type=Path, help="Packages index (plain, .xz or .gz)")
    ap.add_argument("--translations", required=True, type=Path, help="Translation-en index (plain, .xz or .gz)")
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH, help="output directory (default: data/debian)")
    ap.add_argument("--release", type=Path, default=None, help="InRelease/Release file for the date "
                    "(default: InRelease beside --packages, if present)")
    ap.add_argument("--head-share", type=float, default=DEFAULT_HEAD_SHARE,
                    help="drop labels on more than this share of points (default 0.01)")
    ap.add_argument("--train-mod", type=int, default=DEFAULT_TRAIN_MOD,
                    help=f"train iff md5(name) %% 10 < this (default {DEFAULT_TRAIN_MOD})")
    ap.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                    help=f"cap on each long description (fulltext; default {DEFAULT_MAX_CHARS})")
    a = ap.parse_args(argv)
    if not 0 < a.head_share <= 1 or not 1 <= a.train_mod <= 9 or a.max_chars < 0:
        ap.error("need 0 < --head-share <= 1, 1 <= --train-mod <= 9, --max-chars >= 0")
    release = _release(a.release, a.packages)
    packages, translations = read_packages(a.packages), read_translations(a.translations)
    datasets, info = build(packages, translations, a.head_share, a.train_mod, a.max_chars)
    _check_built(a.packages, a.translations, translations, datasets["titles"], info)
    _check_translations(a.translations, translations, packages)
    date, sources = _release_date(release), {"packages": a.packages, "translations": a.translations}
    options = {"head_share": a.head_share, "train_mod": a.train_mod, "max_chars": a.max_chars}
    prov = _write_beside(a.out, lambda tmp: write_dataset(tmp, datasets, info, sources, date, options))
    s = prov["stats"]["titles"]
    print(f"wrote {a.out}: {s['train_points']} train / {s['test_points']} test points, {s['labels']} labels, "
          f"{s['labels_per_train_point']} labels per train point, {len(info['head_labels_dropped'])} head labels "
          "dropped")
    return 0
