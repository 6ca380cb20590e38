"""The embedded default graph: Cora (Planetoid split) in ``data/cora/``, built by :func:`build_cora`.

``data/cora/cora.npz`` holds the CSR graph (int32), the sparse binary features as CSR (int16 column ids),
labels and the split; ``PROVENANCE.json`` the source files' sha256, the builder and statistics. Rebuild with
``python scripts/build_cora.py <planetoid raw dir>``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write, write_json
from ..provenance import now
from .graphs import Graph, npz_arrays, read_planetoid

PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
ARRAYS = ("indptr", "indices", "feat_indptr", "feat_indices", "num_features", "labels", "train_idx", "val_idx",
          "test_idx", "num_classes")  # what build_cora writes to cora.npz


def default_dir() -> Path:
    """``data/cora`` of the checkout this package lives in."""
    return Path(__file__).resolve().parents[2] / "data" / "cora"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_cora(raw_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Read Planetoid's ``ind.cora.*`` in ``raw_dir``, write ``cora.npz`` + ``PROVENANCE.json`` to ``out_dir``."""
    raw_dir, out = Path(raw_dir), Path(out_dir) if out_dir else default_dir()
    g = read_planetoid(raw_dir, "cora")
    feats = g.features.numpy()
    rows, cols = np.nonzero(feats)
    if not np.all(feats[rows, cols] == 1.0) or np.count_nonzero(feats) != rows.size:
        raise ValueError("Cora features are expected to be binary")
    feat_indptr = np.zeros(g.num_nodes + 1, np.int32)
    np.cumsum(np.bincount(rows, minlength=g.num_nodes), out=feat_indptr[1:])
    arrays = {"indptr": g.indptr.numpy().astype(np.int32), "indices": g.indices.numpy().astype(np.int32),
              "feat_indptr": feat_indptr, "feat_indices": cols.astype(np.int16),
              "num_features": np.int32(feats.shape[1]), "labels": g.labels.numpy().astype(np.int8),
              "train_idx": g.train_idx.numpy().astype(np.int16), "val_idx": g.val_idx.numpy().astype(np.int16),
              "test_idx": g.test_idx.numpy().astype(np.int16), "num_classes": np.int32(g.num_classes)}

    def write_npz(p: Path) -> None:
        with p.open("wb") as f:  # a file object: given a path, numpy would append ".npz" to the temporary name
            np.savez_compressed(f, **arrays)
    atomic_write(out / "cora.npz", write_npz)
    write_json(out / "PROVENANCE.json", {
        "dataset": "Cora (Planetoid split: 140 train / 500 val / 1000 test)",
        "source": "kimiyoung/planetoid @ af6abf468a772cc055bec88c52e4d6f51b7c37e3 data/ind.cora.* (MIT; data: "
                  "LINQS, Sen et al. 2008)",
        "source_sha256": {f"ind.cora.{p}": _sha256(raw_dir / f"ind.cora.{p}") for p in PARTS},
        "builder": "workbench.gpu_access.cora_data.build_cora (scripts/build_cora.py)",
        "built": now(),
        "processing": "symmetrized, self-loops and duplicate edges dropped; test rows reordered as in GCN",
        "stats": g.stats(), "output_sha256": _sha256(out / "cora.npz")})
    for f in ("cora.npz", "PROVENANCE.json"):
        (out / f).chmod(0o644)  # atomic_write's temporary files are private; data files are not
    return out


def load_cora(data_dir: str | Path | None = None) -> Graph:
    """The embedded Cora as a :class:`Graph` (dense float32 features, 2708 x 1433). A truncated or incomplete
    ``cora.npz`` raises DataFormatError naming it."""
    path = Path(data_dir or default_dir()) / "cora.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; build it with scripts/build_cora.py from Planetoid's raw files")
    z = npz_arrays(path, ARRAYS, "the embedded Cora (rebuild it with scripts/build_cora.py)")
    n, width = len(z["indptr"]) - 1, int(z["num_features"])
    feats = np.zeros((n, width), np.float32)
    rows = np.repeat(np.arange(n), np.diff(z["feat_indptr"]))
    feats[rows, z["feat_indices"].astype(np.int64)] = 1.0
    t = lambda k: torch.from_numpy(z[k].astype(np.int64))  # noqa: E731
    return Graph("cora", t("indptr"), t("indices"), torch.from_numpy(feats), t("labels"),
                 t("train_idx"), t("val_idx"), t("test_idx"), int(z["num_classes"]))
