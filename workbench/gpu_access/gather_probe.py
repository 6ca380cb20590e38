"""Gather implementations side by side, in one call on a lent GPU: why zero-copy reaches what it reaches.

The study's microbenchmark measures each store as configured; this probe sweeps the variants that decide the
zero-copy gather's PCIe efficiency (see :mod:`bench`): the kernel (``triton``, ``triton_wide``,
``triton_narrow``, ``index_select``), sorting the indices first, where the table starts past a page boundary
(0: each 128 B row on one 128 B line; 64, where glibc puts large allocations: across two lines, expected to
cost two smaller PCIe reads) and transparent huge pages (GPU address translation on big tables). Every table
size is written to ``--out`` as soon as it is measured, so a run cut short by its time box still leaves its
tables. Example (defaults: 64 MiB and 1 GiB tables; estimated 2-3 minutes on an H100, not yet measured)::

    python -m workbench.gpu_access.gather_probe --out $OUT/gather_probe.csv

Columns: those of :func:`bench.gather_sweep`, plus h2d_gbps (the pinned copy measured first), fraction_of_h2d
and fraction_unique_of_h2d (``gbps_unique`` over the copy), device and thp (the kernel's THP setting). Beside the
table, ``<out>.json`` records the arguments and the environment (git commit, versions, device), as a study run's
``config.json`` does.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from ..io import atomic_write, write_json
from ..provenance import environment, now
from .bench import PAGES, gather_sweep, h2d_bandwidth
from .gather_kernel import KERNELS
from .policy import asked_table_bytes
from .stores import STORES, StoreOptions


def _thp_mode() -> str:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        return "unknown"


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workbench.gpu_access.gather_probe", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="CSV written after each table size")
    p.add_argument("--device", default="cuda", help="a CUDA device (default: the current one)")
    p.add_argument("--stores", nargs="+", default=["zero_copy", "gpu"], choices=STORES.names())
    p.add_argument("--kernels", nargs="+", default=["triton", "index_select", "triton_wide", "triton_narrow"],
                   choices=[k for k in KERNELS if k != "auto"])
    p.add_argument("--sort", nargs="+", type=_bool, default=[True, False], help="zero_copy: sort indices first")
    p.add_argument("--offsets", nargs="+", type=int, default=[0, 64], help="table start past a page boundary, bytes")
    p.add_argument("--pages", nargs="+", default=["default"], choices=PAGES)
    p.add_argument("--row-bytes", nargs="+", type=int, default=[128, 512, 1024, 4096])
    p.add_argument("--table-mib", nargs="+", type=int, default=[64, 1024])
    p.add_argument("--rows", nargs="+", type=int, default=[4096, 65536, 262144], help="rows per gather call")
    p.add_argument("--orders", nargs="+", default=["random", "sorted"], choices=["random", "sorted"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--h2d-mib", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    return p


_SHORT = {"zero_copy": "zc", "index_select": "isel", "triton": "tri", "triton_wide": "triW",
          "triton_narrow": "triN", "-": "cpu"}


def variant_label(row) -> str:
    """A short column name: store/kernel, +s when zero_copy sorted, @offset, :pages unless default
    (e.g. ``zc/tri+s@64``, ``gpu/isel@0``)."""
    short = lambda x: _SHORT.get(str(x), str(x))  # noqa: E731
    return (f"{short(row['store'])}/{short(row['kernel'])}{'+s' if row['sort'] else ''}@{row['base_offset']}"
            + ("" if row["pages"] == "default" else f":{row['pages']}"))


def record(args: argparse.Namespace, device: torch.device, out: Path) -> Path:
    """Write ``<out>.json``: the probe's arguments, when it started, and :func:`provenance.environment` (git
    commit, versions, device). Returns its path."""
    path = out.with_name(out.name + ".json")
    write_json(path, {"tool": "workbench.gpu_access.gather_probe", "started": now(), "arguments": vars(args),
                      **environment(str(device))})
    return path


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per (table MiB, row size, rows, order), one column per variant (:func:`variant_label`): the
    fraction of the pinned copy reached (``*``: l2_bound, caches may flatter it)."""
    ok = df[df["status"] == "ok"].copy()
    if ok.empty:
        return ok
    ok["variant"] = ok.apply(variant_label, axis=1)
    ok["cell"] = ok["fraction_of_h2d"].map("{:.2f}".format) + ok["l2_bound"].map({True: "*", False: ""})
    ok["table_mib"], ok["rows"] = asked_table_bytes(ok) // 2**20, ok["rows"].astype(int)
    return ok.pivot_table(index=["table_mib", "row_bytes", "rows", "order"], columns="variant", values="cell",
                          aggfunc="first")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not torch.cuda.is_available():
        print("gather_probe measures GPU gathers: it needs a CUDA GPU", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    device = torch.device("cuda", device.index if device.index is not None else torch.cuda.current_device())
    torch.cuda.set_device(device)
    started = time.perf_counter()
    h2d = h2d_bandwidth(args.h2d_mib << 20, device, repeats=max(args.repeats, 5), warmup=args.warmup)
    meta = {"device": torch.cuda.get_device_name(device), "thp": _thp_mode(), "h2d_gbps": h2d["gbps"]}
    print(f"{meta['device']}: pinned H2D copy {h2d['gbps']:.1f} GB/s; THP {meta['thp']}; "
          f"L2 {getattr(torch.cuda.get_device_properties(device), 'L2_cache_size', 0) / 2**20:.0f} MiB", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record(args, device, out)
    frames = []
    for mib in args.table_mib:  # one table size at a time, written as it is done
        rows = gather_sweep(args.stores, args.row_bytes, [mib << 20], args.rows, args.orders, device,
                            StoreOptions(), args.repeats, args.warmup, args.seed, progress=False,
                            kernels=args.kernels, sorts=args.sort, offsets=args.offsets, pages=args.pages)
        df = pd.DataFrame(rows).assign(**meta)
        for col in ("gbps", "gbps_unique"):  # absent when nothing could be measured (status rows only)
            df[f"fraction{col[4:]}_of_h2d"] = df[col] / h2d["gbps"] if col in df else float("nan")
        frames.append(df)
        table = pd.concat(frames, ignore_index=True)
        atomic_write(out, lambda p: table.to_csv(p, index=False))  # a reader never sees a half-written table
        print(f"{mib} MiB table done ({time.perf_counter() - started:.0f} s)", flush=True)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_rows", 500):
        print(summary_table(pd.concat(frames, ignore_index=True)).to_string())
    every = pd.concat(frames, ignore_index=True)
    bad = every[every["status"] != "ok"].reindex(columns=["store", "kernel", "status"]).drop_duplicates()
    if not bad.empty:
        print(bad.to_string(index=False))
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
