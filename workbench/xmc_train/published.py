"""Published reference results on the Extreme Classification Repository's LF datasets, as a tidy table.

One row per (dataset, method): P@1/3/5 and PSP@1/3/5 in percent as printed in the method's paper, with the
source (paper and table) it was read from. Only numbers read in a source are recorded; a method or metric that
could not be confirmed is left out rather than filled from memory or from another paper's re-run.

Status: the only rows confirmed so far come from the DEXML authors' own repository (github.com/nilesh2797/DEXML,
README, table "Download pretrained models": P@1 and P@5 of the released checkpoints; no P@3 or PSP there). The
searchable copies of the NGAME (Dahiya et al., WSDM 2023), Renee (Jain et al., MLSys 2023), DEXML paper (Gupta et
al., ICLR 2024, arXiv:2310.10636) and UniDEC (Kharbanda et al., arXiv:2405.03714) reached only their abstracts and
set-up sections, not their result tables, so those methods have no row yet. Add a row only with its ``source``
naming the paper and table (or repository file) it was read from.
"""
from __future__ import annotations

import os

import pandas as pd

METRICS = ("P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5")
COLUMNS = ("dataset", "method", *METRICS, "source")

# Each: {"dataset": "LF-AmazonTitles-131K", "method": "NGAME", "P@1": ..., ..., "source": "paper, Table n"}
_DEXML_README = "DEXML repository README (github.com/nilesh2797/DEXML), table 'Download pretrained models'"
ROWS: tuple[dict, ...] = (
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
    """Raise ValueError on a malformed row: unknown dataset, metric outside [0, 100], or no source."""
    for i, r in enumerate(rows):
        if r.get("dataset") not in LF_DATASETS or not r.get("method") or not r.get("source"):
            raise ValueError(f"published row {i}: needs a known dataset, a method and a source: {r}")
        bad = [m for m in METRICS if m in r and not 0 <= r[m] <= 100]
        if bad or set(r) - set(COLUMNS):
            raise ValueError(f"published row {i}: metrics out of [0, 100] {bad} "
                             f"or unknown keys {set(r) - set(COLUMNS)}")
