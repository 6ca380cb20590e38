"""Time the exact top-k backends of ``workbench.xmc.topk.topk_scores`` (faiss against torch's chunked products)
on CPU tensors, at the shapes the studies search, and check they agree.

    python scripts/bench_topk.py [--threads 1 2] [--repeats 3]

Prints one line per (threads, case): the median of ``repeats`` timed calls after one warm-up per backend, the
faiss / torch ratio of the two measured in the same run, and how many top-k ids differ (ties to float rounding).
The numbers in ``_faiss_topk``'s docstring come from this script on the 2-core CPU machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from workbench.xmc.topk import topk_scores

CASES = [("Debian evaluation", 2000, 37_000, 384, 100),
         ("ANCE shortlist, CPU default", 1500, 4_900, 128, 50),
         ("LSH race evaluation", 1000, 1_000_000, 129, 5)]


def median_call_s(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, n, L, d, k in CASES:
            g = torch.Generator().manual_seed(0)
            q, W = torch.randn(n, d, generator=g), torch.randn(L, d, generator=g)
            t = {b: median_call_s(lambda b=b: topk_scores(q, W, k, backend=b), args.repeats)
                 for b in ("torch", "faiss")}
            differ = (topk_scores(q, W, k, backend="torch")[1] != topk_scores(q, W, k, backend="faiss")[1]).sum()
            print(f"{threads} thread(s) | {name} ({n} x {L}, d {d}, k {k}): torch {t['torch']:.3f} s, "
                  f"faiss {t['faiss']:.3f} s, faiss/torch {t['faiss'] / t['torch']:.2f}, "
                  f"{int(differ)} of {n * k} ids differ", flush=True)


if __name__ == "__main__":
    main()
