"""Build data/cora/ (the embedded default graph of the GPU data access study) from Planetoid's raw files.

Usage: python scripts/build_cora.py [RAW_DIR] [OUT_DIR]
RAW_DIR defaults to ../shared/data/planetoid/raw beside the checkout, OUT_DIR to data/cora.
"""
import sys
from pathlib import Path

from workbench.gpu_access.cora_data import build_cora

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "planetoid" / "raw"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "data" / "cora"
    print(build_cora(raw, out))
