"""The study's three experiments as functions of its config: constant-time bench, race, adaptivity probes.

Each returns tidy rows; the notebook appends them to the run's tables and draws them. A ``memo``
(:data:`workbench.resume.Memo`) makes a run resumable: units are a device's bench and a method's race.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..device import cpu_threads, release_cuda_memory, resolve_device, with_index
from ..resume import Memo, no_memo

from .adaptivity import adaptivity_rows
from .bench import bench_sizes
from .bowdata import BowData, bag_tensors, load_bow, padded_positives
from .drawers import DRAWERS
from .params import build_index
from .race import KS, train_one
from .study import LSHStudyConfig
from .tables import crowding


def run_bench(cfg: LSHStudyConfig, memo: Memo = no_memo) -> list[dict]:
    """Constant-time rows on every device of ``cfg.bench_devices`` (see :func:`workbench.lsh.bench.bench_sizes`),
    each device once: a spec that resolves to a device already measured (``auto`` beside ``cpu`` on a machine
    without CUDA, ``cuda`` beside ``cuda:0``) is skipped with a warning, as its rows would mix into one curve."""
    rows, seen = [], {}
    for spec in cfg.bench_devices:
        dev = resolve_device(spec)
        key = with_index(dev)
        if key in seen:
            warnings.warn(f"bench_devices: {spec!r} is {key} here, as {seen[key]!r} is: measured once")
            continue
        seen[key] = spec
        rows += memo(f"bench-{spec}", lambda dev=dev: bench_sizes(
            cfg.bench_sizes, cfg.lsh(bench=True), cfg.bench_dim, cfg.bench_batch, cfg.budget, cfg.bench_repeats, 1,
            dev, cfg.bench_labels, cfg.seed, threads=cfg.cpu_threads))
    return rows


def load_data(cfg: LSHStudyConfig) -> BowData:
    """The study's data, checked against what ``cfg.validate`` could bound only for synthetic data: a loaded
    dataset's label count is known here, before anything trains (else its evaluation fails after training)."""
    data = load_bow(cfg.dataset, cfg.data_dir, cfg.data_variant, num_labels=cfg.num_labels,
                    num_points=cfg.num_points, num_features=cfg.num_features, seed=cfg.seed)
    where = f"dataset={cfg.dataset!r} ({data.name})"
    if data.num_labels < max(KS):
        raise ValueError(f"{where} has {data.num_labels} labels; the race reports P@{max(KS)}, which ranks "
                         f"{max(KS)}: give a dataset with at least {max(KS)} labels")
    if cfg.budget > data.num_labels:  # more negatives per query than labels would draw labels again
        raise ValueError(f"budget must be <= {data.num_labels} (the labels of {where}), got {cfg.budget}")
    return data


def _probe(cfg: LSHStudyConfig, data: BowData, device: torch.device, rows: list[dict]):
    """An ``on_eval`` callback that measures every adaptivity sampler against the model being trained."""
    held = np.arange(min(cfg.adaptivity_queries, data.X_test.shape[0]))
    pos = padded_positives(data.Y_test, held, device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 11)
    order = data.label_order().to(device)
    reference: dict = {}

    def on_eval(step, train_s, model, index, age):
        W = model.W.detach()
        if index is None and any(s.startswith("lsh") for s in cfg.adaptivity_samplers):
            index = build_index(cfg.lsh(), W.shape[1], device)
            index.rehash(W)
            age = 0.0  # hashed from the weights being probed
        drawers = {s: DRAWERS.get(s)(data.num_labels, cfg.budget, index=index, label_order=order)
                   for s in cfg.adaptivity_samplers}
        with torch.no_grad():
            q = model.query(model.hidden(*bag_tensors(data.X_test, held, device)))
        crowd = {**bucket_crowding(index), "table_age": age} if index is not None else {}
        if index is not None:  # the i.i.d. reference: once per race (hashing N random vectors costs a rehash)
            if not reference:
                reference.update(iid_crowding(index.family, data.num_labels, index.cap,
                                              torch.Generator(device=device).manual_seed(cfg.seed + 12)))
            crowd.update(reference)
        for r in adaptivity_rows(q, W, pos, drawers, cfg.adaptivity_repeats, gen):
            lsh = r["sampler"].startswith("lsh")
            rows.append({"dataset": data.name, "probed": cfg.adaptivity_method, "step": step, "train_s": train_s, **r,
                         **{k: (v if lsh else float("nan")) for k, v in crowd.items()}})
    return on_eval


def bucket_crowding(index) -> dict:
    """How crowded an index's tables are (:func:`workbench.lsh.tables.crowding`)."""
    return crowding(index.tables.full, index.cap, index.tables.num_labels)


def iid_crowding(family, num_labels: int, cap: int, generator: torch.Generator, chunk: int = 1 << 18) -> dict:
    """:func:`bucket_crowding` of ``num_labels`` i.i.d. standard Gaussian vectors hashed by ``family``: the
    crowding that the load (``num_labels`` over the buckets, against ``cap``) and the hash functions give
    without any structure in the vectors, the reference for the trained ones (``*_iid`` keys). Counted in
    chunks, no tables built. Measured (SimHash, K=13, L=16, cap 128, 10^6 vectors of width 129): over-cap share
    0.58 and largest bucket ~630 (122 per bucket on average: random hyperplanes do not cut equal cells)."""
    full = torch.zeros(family.L, family.num_buckets, dtype=torch.int64, device=family.device)
    for start in range(0, num_labels, chunk):
        n = min(chunk, num_labels - start)
        x = torch.randn(n, family.dim, generator=generator, device=generator.device).to(family.device)
        full.scatter_add_(1, family.codes(x).T.contiguous(), torch.ones(family.L, n, dtype=torch.int64,
                                                                          device=family.device))
    return {f"{k}_iid": v for k, v in crowding(full, cap, num_labels).items()}


def run_race(cfg: LSHStudyConfig, data: BowData, device: torch.device, memo: Memo = no_memo,
             skipped: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    """Race rows (one per evaluation per method) and adaptivity rows (probes of ``adaptivity_method``), with
    ``cfg.cpu_threads`` torch threads on CPU (restored after). A method other than ``adaptivity_method`` that
    runs out of device memory (the full softmax at 10^7 labels on a GPU under 80 GB) is left out with a warning
    and appended to ``skipped``; the others race."""
    race, adapt, warm, too_big = [], [], [], set()

    def raced(method: str):
        if not warm:  # before the first method timed here (none when every one is read back from a resume)
            too_big.update(_warm_up(cfg, data, device))
            warm.append(True)
        if method in too_big:
            raise torch.OutOfMemoryError(f"{method} ran out of memory in its warm-up")
        return _race_one(cfg, data, device, method)
    with cpu_threads(cfg.cpu_threads):
        for method in cfg.methods:
            try:
                rows, probes = memo(f"race-{data.name}-{method}", lambda method=method: raced(method))
            except torch.OutOfMemoryError:
                if method == cfg.adaptivity_method:  # the probes need its model: nothing to race without it
                    raise
                release_cuda_memory()
                warnings.warn(f"{method} ran out of {device.type} memory at {data.num_labels:,} labels and is left "
                              "out of the race (a GPU smaller than the profile was sized for: the README's 'On a "
                              "smaller GPU')", RuntimeWarning, stacklevel=2)
                if skipped is not None:
                    skipped.append(method)
                continue
            race += rows
            adapt += probes
    return race, adapt


def _warm_up(cfg: LSHStudyConfig, data: BowData, device: torch.device, steps: int = 2) -> set[str]:
    """A few untimed steps of every method, thrown away: the first calls of each kind of kernel (CUDA: module
    loads and cuBLAS handles; CPU: the allocator's growth and oneDNN's primitives) would otherwise be charged to
    the first method raced (all of them, when the benchmark before was read back from a resumed run instead of
    warming the device). Returns the methods that ran out of memory doing so."""
    too_big = set()
    for method in cfg.methods:
        try:
            _train(cfg, data, device, method, time_budget_s=float("inf"), max_steps=steps, eval_every=steps,
                   eval_points=min(cfg.eval_points, 64), eval_every_s=0.0)
        except torch.OutOfMemoryError:
            release_cuda_memory()
            too_big.add(method)
    return too_big


def _train(cfg: LSHStudyConfig, data: BowData, device: torch.device, method: str, **over) -> list[dict]:
    """:func:`train_one` of ``method`` with the study's settings, ``over`` replacing some."""
    settings = dict(params=cfg.lsh(), budget=cfg.budget, batch_size=cfg.batch_size, lr=cfg.lr, hidden=cfg.hidden,
                    time_budget_s=cfg.time_budget_s, max_steps=cfg.max_steps, eval_every=cfg.eval_every,
                    eval_points=cfg.eval_points, seed=cfg.seed, eval_every_s=cfg.eval_every_s)
    return train_one(data, method, device=device, **{**settings, **over})


def _race_one(cfg: LSHStudyConfig, data: BowData, device: torch.device, method: str) -> tuple[list[dict], list[dict]]:
    """One method's race rows, and its adaptivity rows when it is ``adaptivity_method``."""
    adapt: list[dict] = []
    probe = _probe(cfg, data, device, adapt) if method == cfg.adaptivity_method else None
    rows = _train(cfg, data, device, method, on_eval=probe)
    return [{"dataset": data.name, "num_labels": data.num_labels, "device": device.type, **r} for r in rows], adapt
