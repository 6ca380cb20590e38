"""Published reference results on the Extreme Classification Repository's LF datasets, as a tidy table.

One row per (dataset, method): P@1/3/5 and PSP@1/3/5 in percent, with the source (page and table) they were
read from. Only numbers read in a source are recorded; a method or metric that could not be confirmed is left out
rather than filled from memory or from another paper's re-run.

Sources:
- the Extreme Classification Repository's results page (manikvarma.org/downloads/XC/XMLRepository.html, read in
  its GitHub copy manikvarma/manikvarma.github.io at commit 92e7077, 2023), the table captioned with the dataset's
  name: NGAME, Renee, DEXA, SiameseXML and Parabel where that page lists them (its LF-WikiSeeAlsoTitles-320K
  table has no NGAME, Renee or DEXA row; its LF-WikiTitles-500K table only Parabel among these);
- the DEXML authors' repository (github.com/nilesh2797/DEXML, README, table "Download pretrained models"): P@1
  and P@5 of the released checkpoints (no P@3 or PSP there).
UniDEC (Kharbanda et al., arXiv:2405.03714) has no row: its result tables could not be read in a searchable copy.
A third-party re-run can differ from the page (LEVER, ICLR 2024, Tables 5 and 7, gives other PSP@k for Renee and
other values for NGAME): rows are not mixed across sources. Add a row only with its ``source`` naming where it
was read.
"""
from __future__ import annotations

import os

import pandas as pd

METRICS = ("P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5")
COLUMNS = ("dataset", "method", *METRICS, "source")

# Each: {"dataset": "LF-AmazonTitles-131K", "method": "NGAME", "P@1": ..., ..., "source": "paper, Table n"}
_DEXML_README = "DEXML repository README (github.com/nilesh2797/DEXML), table 'Download pretrained models'"
_XC_PAGE = ("Extreme Classification Repository results page (manikvarma.github.io commit 92e7077, "
            "downloads/XC/XMLRepository.html), table '{}'")


def _xc(dataset: str, method: str, *values: float, table: str | None = None) -> dict:
    """A row read from the repository page's table for ``dataset``: P@1, P@3, P@5, PSP@1, PSP@3, PSP@5."""
    return {"dataset": dataset, "method": method, **dict(zip(METRICS, values, strict=True)),
            "source": _XC_PAGE.format(table or dataset)}


_WIKI500 = "LF-Wikipedia-500K / Wikipedia-500K"
ROWS: tuple[dict, ...] = (
    _xc("LF-AmazonTitles-131K", "NGAME", 46.01, 30.28, 21.47, 38.81, 44.40, 49.43),
    _xc("LF-AmazonTitles-131K", "Renee", 46.05, 30.81, 22.04, 39.08, 45.12, 50.48),
    _xc("LF-AmazonTitles-131K", "DEXA", 46.42, 30.50, 21.59, 39.11, 44.69, 49.65),
    _xc("LF-AmazonTitles-131K", "SiameseXML", 41.42, 27.92, 21.21, 35.80, 40.96, 46.19),
    _xc("LF-AmazonTitles-131K", "Parabel", 32.60, 21.80, 15.61, 23.27, 28.21, 32.14),
    _xc("LF-Amazon-131K", "NGAME", 46.53, 30.89, 22.02, 38.53, 44.95, 50.45),
    _xc("LF-Amazon-131K", "Renee", 48.05, 32.33, 23.26, 40.11, 47.39, 53.67),
    _xc("LF-Amazon-131K", "DEXA", 47.16, 31.45, 22.42, 38.70, 45.43, 50.97),
    _xc("LF-Amazon-131K", "SiameseXML", 44.81, 30.19, 21.94, 37.56, 43.69, 49.75),
    _xc("LF-Amazon-131K", "Parabel", 39.57, 26.64, 19.26, 28.99, 35.36, 40.69),
    _xc("LF-WikiSeeAlso-320K", "NGAME", 47.65, 31.56, 23.68, 33.83, 37.79, 41.03),
    _xc("LF-WikiSeeAlso-320K", "Renee", 47.86, 31.91, 24.05, 32.02, 37.07, 40.90),
    _xc("LF-WikiSeeAlso-320K", "DEXA", 47.11, 30.48, 22.71, 31.81, 35.50, 38.78),
    _xc("LF-WikiSeeAlso-320K", "SiameseXML", 42.16, 28.14, 21.39, 29.02, 32.68, 36.03),
    _xc("LF-WikiSeeAlso-320K", "Parabel", 33.46, 22.03, 16.61, 17.10, 20.73, 23.53),
    _xc("LF-WikiSeeAlsoTitles-320K", "SiameseXML", 31.97, 21.43, 16.24, 26.82, 28.42, 30.36),
    _xc("LF-WikiSeeAlsoTitles-320K", "Parabel", 17.68, 11.48, 8.59, 9.24, 10.65, 11.80),
    _xc("LF-WikiTitles-500K", "Parabel", 40.41, 21.98, 15.42, 15.55, 15.32, 15.35),
    _xc("LF-AmazonTitles-1.3M", "NGAME", 56.75, 49.19, 44.09, 29.18, 33.01, 35.36),
    _xc("LF-AmazonTitles-1.3M", "Renee", 56.04, 49.91, 45.32, 28.54, 33.38, 36.14),
    _xc("LF-AmazonTitles-1.3M", "DEXA", 56.63, 49.05, 43.90, 29.12, 32.69, 34.86),
    _xc("LF-AmazonTitles-1.3M", "SiameseXML", 49.02, 42.72, 38.52, 27.12, 30.43, 32.52),
    _xc("LF-AmazonTitles-1.3M", "Parabel", 46.79, 41.36, 37.65, 16.94, 21.31, 24.13),
    _xc("LF-Wikipedia-500K", "NGAME", 84.01, 64.69, 49.97, 41.25, 52.57, 57.04, table=_WIKI500),
    _xc("LF-Wikipedia-500K", "Renee", 84.95, 66.25, 51.68, 39.89, 51.77, 56.70, table=_WIKI500),
    _xc("LF-Wikipedia-500K", "DEXA", 84.92, 65.50, 50.51, 42.59, 53.93, 58.33, table=_WIKI500),
    _xc("LF-Wikipedia-500K", "SiameseXML", 67.26, 44.82, 33.73, 33.95, 35.46, 37.07, table=_WIKI500),
    _xc("LF-Wikipedia-500K", "Parabel", 68.70, 49.57, 38.64, 26.88, 31.96, 35.26, table=_WIKI500),
    {"dataset": "LF-AmazonTitles-131K", "method": "DEXML (released model)", "P@1": 42.52, "P@5": 20.64,
     "source": _DEXML_README},
    {"dataset": "LF-AmazonTitles-1.3M", "method": "DEXML (released model)", "P@1": 58.40, "P@5": 45.46,
     "source": _DEXML_README},
    {"dataset": "LF-Wikipedia-500K", "method": "DEXML (released model)", "P@1": 85.78, "P@5": 50.53,
     "source": _DEXML_README},
)

# The LF datasets of the Extreme Classification Repository this table is meant for (names as the repository
# spells them); the notebook shows published rows only for these.
LF_DATASETS = ("LF-AmazonTitles-131K", "LF-WikiSeeAlso-320K", "LF-AmazonTitles-1.3M", "LF-Wikipedia-500K",
               "LF-WikiTitles-500K", "LF-Amazon-131K", "LF-WikiSeeAlsoTitles-320K")


def lf_dataset_name(dataset: str) -> str | None:
    """The repository name of ``dataset`` (a name or a local directory whose last part is the name, any case),
    or None when it is not one of :data:`LF_DATASETS`."""
    base = os.path.basename(os.path.normpath(str(dataset))).lower()
    return next((d for d in LF_DATASETS if d.lower() == base), None)


def published_rows(dataset: str) -> pd.DataFrame:
    """The recorded rows for ``dataset`` (empty, with the columns, when none or not an LF dataset)."""
    name = lf_dataset_name(dataset)
    rows = [r for r in ROWS if name is not None and r["dataset"] == name]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def check_rows(rows=ROWS) -> None:
    """Raise ValueError on a malformed row: unknown dataset, metric outside [0, 100], no source, or a (dataset,
    method) pair recorded twice."""
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(rows):
        key = (r.get("dataset"), r.get("method"))
        if key in seen:
            raise ValueError(f"published row {i}: {key} is recorded twice (one source per dataset and method)")
        seen.add(key)
        if r.get("dataset") not in LF_DATASETS or not r.get("method") or not r.get("source"):
            raise ValueError(f"published row {i}: needs a known dataset, a method and a source: {r}")
        bad = [m for m in METRICS if m in r and not 0 <= r[m] <= 100]
        if bad or set(r) - set(COLUMNS):
            raise ValueError(f"published row {i}: metrics out of [0, 100] {bad} "
                             f"or unknown keys {set(r) - set(COLUMNS)}")
