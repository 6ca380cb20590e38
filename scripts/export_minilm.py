"""Write a copy of the bundled all-MiniLM-L6-v2 (weights + tokenizer) to a directory, by default in bf16.

The package's fp32 copy is 88 MB, over what travels to a lent GPU machine (64 MiB with the working tree); the bf16
copy is about 46 MB. Point ``$WORKBENCH_MINILM_DIR`` at it there. The bf16 weights are the fp32 ones rounded
(relative error <= 2^-8 per weight); studies on the GPU train under bf16 autocast anyway, and the run record shows
which directory was used.

    python scripts/export_minilm.py .gpu/model [--dtype bfloat16|float16|float32]

The copy is written into a temporary sibling directory and renamed into place when complete, so an interrupted
export never leaves a directory that looks like a model.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch

from workbench.xmc.encoder import load_encoder

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="directory to write (created; an earlier export there is replaced)")
    ap.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    a = ap.parse_args()
    out = Path(a.out)
    if out.exists() and not (out / "config.json").exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not an earlier export (no config.json): pick another directory")
    enc = load_encoder(dtype=DTYPES[a.dtype])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        enc.model.save_pretrained(tmp, safe_serialization=True)
        enc.tokenizer.save_pretrained(tmp)
        if out.exists():  # the earlier export goes aside, then away: `out` is never a half-written model
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            out.replace(old / out.name)
            tmp.replace(out)
            shutil.rmtree(old)
        else:
            tmp.replace(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # left only when saving failed
    print(f"wrote {a.out} ({a.dtype}, {sum(p.numel() for p in enc.model.parameters()) / 1e6:.1f}M parameters)")


if __name__ == "__main__":
    main()
