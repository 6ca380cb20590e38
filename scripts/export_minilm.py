"""Write a copy of the bundled all-MiniLM-L6-v2 (weights + tokenizer) to a directory, by default in bf16.

The package's fp32 copy is 88 MB, over what travels to a lent GPU machine (64 MiB with the working tree); the bf16
copy is about 46 MB. Point ``$WORKBENCH_MINILM_DIR`` at it there. The bf16 weights are the fp32 ones rounded
(relative error <= 2^-8 per weight); studies on the GPU train under bf16 autocast anyway, and the run record shows
which directory was used.

    python scripts/export_minilm.py .gpu/model [--dtype bfloat16|float16|float32]
"""
from __future__ import annotations

import argparse

import torch

from workbench.xmc.encoder import load_encoder

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="directory to write (created; overwritten files)")
    ap.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    a = ap.parse_args()
    enc = load_encoder(dtype=DTYPES[a.dtype])
    enc.model.save_pretrained(a.out, safe_serialization=True)
    enc.tokenizer.save_pretrained(a.out)
    print(f"wrote {a.out} ({a.dtype}, {sum(p.numel() for p in enc.model.parameters()) / 1e6:.1f}M parameters)")


if __name__ == "__main__":
    main()
