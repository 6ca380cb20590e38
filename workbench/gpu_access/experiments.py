"""The study's steps as functions of its config: device setup, microbenchmark, end-to-end training, summary.

A ``memo`` (:data:`workbench.resume.Memo`) makes a run resumable: its units are the microbenchmark and each
store's training on each graph.
"""
from __future__ import annotations

import dataclasses
import warnings

import pandas as pd
import torch

from ..config import ConfigError
from ..device import release_cuda_memory, resolve_device, usable_cores, with_index
from ..resume import Memo, no_memo
from .bench import gather_sweep, h2d_bandwidth
from .catalog import GraphUnavailable, load_graph
from .graphs import Graph
from .policy import AutoPolicy, asked_table_bytes
from .sampling import make_sampler
from .stores import STORES, make_store, runnable_stores
from .study import GPUAccessConfig
from .threads import split_threads
from .train import train_graphsage
from .verdicts import BASELINE


def staging_rows(cfg: GPUAccessConfig, device: torch.device) -> int:
    """Most input rows of one batch (``batch_size`` times the product of 1 + each fan-out; unbounded with a -1
    fan-out) when a ``cpu`` store (or ``auto``, which may pick it) runs on a GPU, staging each batch's rows in
    pinned host memory; else 0."""
    if device.type != "cuda" or not ({"cpu", "auto"} & set(cfg.stores) or cfg.cpu_sampler_baseline):
        return 0
    rows = cfg.batch_size
    for f in cfg.fanouts:
        rows = 2**62 if f < 0 else rows * (1 + f)
    return min(rows, 2**62)


def thread_budget(cfg: GPUAccessConfig, cores: int | None = None) -> dict:
    """The run's CPU thread split (see :mod:`threads`): usable cores, torch's intra-op threads, the ``cpu``
    store's gather threads. Raises when ``torch_threads`` and ``gather_threads`` together exceed the cores."""
    cores = cores or usable_cores()
    try:
        torch_threads, gather_threads = split_threads(cores, cfg.torch_threads, cfg.gather_threads)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return {"cores": cores, "torch_threads": torch_threads, "gather_threads": gather_threads}


def setup_device(cfg: GPUAccessConfig) -> torch.device:
    """Resolve ``cfg.device`` once (a CUDA device becomes the current one, with an explicit index, so that
    kernels launched without a device argument -- Triton, synchronize() -- go to it); set torch's CPU threads
    to the run's thread budget; cap GPU memory to emulate a smaller GPU. Refuses a store list with nothing that
    runs on the device (e.g. only CUDA stores on a CPU run), and a ``gpu`` sampler on a CPU run (e.g. a GPU profile
    where CUDA is not visible), before any work: not after the microbenchmark."""
    device = resolve_device(cfg.device)
    here = runnable_stores(device)
    for field in ("stores", "bench_stores"):
        if not set(getattr(cfg, field)) & set(here):
            raise ConfigError(f"{field}={list(getattr(cfg, field))}: none of them runs on this run's device "
                              f"({device}); add one of {here}")
    try:
        _sampler_name(cfg, device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    torch.set_num_threads(thread_budget(cfg)["torch_threads"])
    device = with_index(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if device.type == "cuda" and cfg.gpu_memory_gib > 0:
        total = torch.cuda.get_device_properties(device).total_memory
        if cfg.gpu_memory_gib * 2**30 > total:  # the cap cannot emulate a larger GPU: the fits are this one's
            warnings.warn(f"gpu_memory_gib {cfg.gpu_memory_gib:g} is more than this GPU's {total / 2**30:.1f} GiB: "
                          "the runs see the whole GPU, so what fits in GPU memory is judged for this GPU, not for "
                          f"a {cfg.gpu_memory_gib:g} GiB one", RuntimeWarning, stacklevel=2)
        torch.cuda.set_per_process_memory_fraction(min(1.0, cfg.gpu_memory_gib * 2**30 / total), device)
    return device


def microbenchmark(cfg: GPUAccessConfig, device: torch.device, progress: bool = True,
                   memo: Memo = no_memo) -> tuple[dict | None, pd.DataFrame]:
    """(pinned H2D copy row or None on CPU, gather sweep table with ``fraction_of_h2d`` where measurable); one
    ``memo`` unit (the ceiling and the sweep are compared with each other, so they are measured together)."""
    return memo("microbenchmark", lambda: _microbenchmark(cfg, device, progress))


def _microbenchmark(cfg: GPUAccessConfig, device: torch.device, progress: bool) -> tuple[dict | None, pd.DataFrame]:
    h2d = h2d_bandwidth(cfg.h2d_mib << 20, device, repeats=max(cfg.bench_repeats, 5), warmup=cfg.bench_warmup + 1)
    options = dataclasses.replace(cfg.store_options(), gather_threads=thread_budget(cfg)["gather_threads"])
    rows = gather_sweep(cfg.bench_stores, cfg.bench_row_bytes, [m << 20 for m in cfg.bench_table_mib],
                        cfg.bench_rows_per_call, cfg.bench_orders, device, options,
                        cfg.bench_repeats, cfg.bench_warmup, cfg.seed, progress)
    df = pd.DataFrame(rows)
    df["fraction_of_h2d"] = df["gbps"] / h2d["gbps"] if h2d else float("nan")
    # each distinct row once: what must cross the link (indices drawn with replacement repeat rows)
    df["fraction_unique_of_h2d"] = df["gbps_unique"] / h2d["gbps"] if h2d else float("nan")
    if "chosen" in df:  # rows already in GPU memory cross no link: the copy's ceiling does not bound them
        df.loc[df["chosen"] == "gpu", ["fraction_of_h2d", "fraction_unique_of_h2d"]] = float("nan")
    return h2d, df


def throughput_table(bench: pd.DataFrame, col: str) -> pd.DataFrame:
    """The microbenchmark's ``col`` (e.g. ``gbps``, ``fraction_unique_of_h2d``) as a table for the report: one line per
    table size (and rows per call where several), row size; one column per (store, order); two decimals, ``*``
    marking calls that caches can flatter (``l2_bound``), ``-`` no value (a GPU-resident row has no fraction of
    the link) and a blank where the call did not run (its ``status`` in the table, e.g. a table too large for the
    GPU store). Several rows of one cell (variants of a :func:`~.bench.gather_sweep`) give their median, starred
    when any of them is l2_bound."""
    ok = bench[bench["status"] == "ok"]
    size = asked_table_bytes(ok)
    view = ok.assign(**{"table (MiB)": (size / 2**20).round(1), "row (B)": ok["row_bytes"],
                        "rows per call": ok["rows"].astype(int),
                        "l2": ok["l2_bound"].astype(bool) if "l2_bound" in ok else False})
    index = (["table (MiB)", "rows per call", "row (B)"] if view["rows per call"].nunique() > 1
             else ["table (MiB)", "row (B)"])
    cells = view.groupby(index + ["store", "order"]).agg(value=(col, "median"), l2=("l2", "any"))
    text = cells["value"].map(lambda v: "-" if v != v else f"{v:.2f}") + cells["l2"].map({True: "*", False: ""})
    return text.unstack(["store", "order"]).fillna("")


def _sampler_name(cfg: GPUAccessConfig, device: torch.device) -> str:
    """The neighbour sampler of a run: ``cfg.sampler``, or for ``auto`` the one on the run's device. A ``gpu``
    sampler on a CPU run is refused here, before any graph is loaded."""
    if cfg.sampler == "gpu" and device.type != "cuda":
        raise ValueError(f"sampler='gpu' samples on a CUDA device, but this run's device is {device}; "
                         "use sampler='auto' (the device's own) or 'cpu'")
    if cfg.sampler != "auto":
        return cfg.sampler
    return "gpu" if device.type == "cuda" else "cpu"


def end_to_end(cfg: GPUAccessConfig, device: torch.device, policy: AutoPolicy | None = None,
               progress: bool = True, memo: Memo = no_memo) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train GraphSAGE on every graph with every store. Returns (per-epoch rows, per-(graph, store) status
    rows: ran / needs CUDA / does not fit in GPU memory (the features) / graph structure does not fit / out of
    GPU memory while training / unavailable (the graph could not be loaded, or the store could not be built, e.g.
    its host memory could not be registered: the other stores still run), with the graph's statistics).
    ``gather_threads`` of 0 becomes the thread budget's gather threads (:func:`thread_budget`). With
    ``cpu_sampler_baseline`` and a sampler other than ``cpu``, each graph also trains the ``cpu`` store with the
    CPU sampler, rows labelled :data:`BASELINE` (the paper's baseline: the CPU samples and gathers). ``memo``
    units: one store on one graph (a graph is loaded only when one of its units is to run)."""
    epochs, status = [], []
    sampler_name = _sampler_name(cfg, device)
    gather_threads = thread_budget(cfg)["gather_threads"]
    for spec in cfg.graphs:
        loaded: list[Graph] = []

        def graph(spec=spec, loaded=loaded) -> Graph:
            if not loaded:
                loaded.append(load_graph(spec, cfg.data_root, cfg.rmat_num_features, cfg.rmat_edge_factor, cfg.seed,
                                         staging_rows=staging_rows(cfg, device)))
            return loaded[0]
        try:
            for name in cfg.stores:
                rows, row = memo(f"epochs-{spec}-{name}", lambda name=name, graph=graph: _train_store(
                    cfg, device, spec, graph(), name, sampler_name, gather_threads, policy, progress))
                epochs += rows
                status.append(row)
            if cfg.cpu_sampler_baseline and sampler_name != "cpu":
                rows, row = memo(f"epochs-{spec}-{BASELINE}", lambda graph=graph: _train_store(
                    cfg, device, spec, graph(), "cpu", "cpu", gather_threads, policy, progress))
                epochs += [{**r, "store": BASELINE} for r in rows]
                status.append({**row, "store": BASELINE})
        except GraphUnavailable as exc:
            status.append({"graph": spec, "status": f"unavailable: {exc}"})
        loaded.clear()  # the graph's features go before the next graph is loaded
    return pd.DataFrame(epochs), pd.DataFrame(status)


def _train_store(cfg: GPUAccessConfig, device: torch.device, spec: str, graph: Graph, name: str, sampler_name: str,
                 gather_threads: int, policy: AutoPolicy | None, progress: bool) -> tuple[list[dict], dict]:
    """One store's epoch rows on one graph and its status row (see :func:`end_to_end`)."""
    base = {**graph.stats(), "store": name, "sampler": sampler_name}
    if STORES.get(name).needs_cuda and device.type != "cuda":
        return [], {**base, "status": "needs CUDA"}
    options = dataclasses.replace(cfg.store_options(policy), gather_threads=gather_threads)
    try:
        store = make_store(name, graph.features, device, options)
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return [], {**base, "status": "does not fit in GPU memory"}
    except RuntimeError as exc:  # e.g. host registration refused (locked-memory limit): this store only, as the sweep
        return [], {**base, "status": f"unavailable: {exc}"}
    chosen = getattr(store, "chosen", name)
    sampler, csr = None, cfg.csr
    try:
        try:
            sampler = make_sampler(sampler_name, graph.indptr, graph.indices, list(cfg.fanouts), device,
                                   cfg.seed, csr)
        except torch.OutOfMemoryError:  # the CSR beside this store's table: in unified memory then, as the issue asks
            if sampler_name != "gpu" or csr != "device":
                raise
            release_cuda_memory()
            csr = "unified"
            sampler = make_sampler(sampler_name, graph.indptr, graph.indices, list(cfg.fanouts), device,
                                   cfg.seed, csr)
    except torch.OutOfMemoryError:  # not even then
        pass
    finally:
        if sampler is None:  # out of memory, or any other failure: the store's memory goes now
            store.close()
    if sampler is None:
        torch.cuda.empty_cache()
        return [], {**base, "chosen": chosen, "status": "graph structure does not fit in GPU memory"}
    try:
        rows = train_graphsage(graph, sampler, store, cfg.train_settings(), device, progress)
    except torch.OutOfMemoryError:  # the batches (not the table) outgrew the GPU: say so, go on
        rows = None
    finally:
        chosen = getattr(store, "chosen", name)  # auto: the stores its calls went to ("cpu+zero_copy")
        try:
            store.close()
        finally:
            sampler.close()
    if rows is None:
        torch.cuda.empty_cache()
        return [], {**base, "chosen": chosen, "status": "out of GPU memory while training"}
    fell_back = csr != cfg.csr
    return ([{"graph": spec, "store": name, "chosen": chosen, "sampler": sampler_name, "csr": csr, **r} for r in rows],
            {**base, "chosen": chosen, "csr": csr,
             "status": "ran (CSR in unified memory: too large for the GPU beside the table)" if fell_back else "ran"})


def summarize(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per (graph, store): medians over epochs after the first (warm-up; all epochs if only one), but the mean
    for ``cpu_s`` (process CPU time comes in clock ticks, 10 ms on Linux: a median of short epochs is a whole number of
    ticks, a mean over N epochs resolves tick / N), final accuracy, and ratios to the ``cpu`` store of the same
    graph (speedup = cpu epoch s / this epoch s)."""
    if epochs.empty:
        return pd.DataFrame()
    warm = epochs[(epochs["epoch"] > 0) | (epochs.groupby(["graph", "store"])["epoch"].transform("max") == 0)]
    cols = ["epoch_s", "sample_s", "gather_s", "compute_s", "energy_j"]
    keys = ["graph", "store", "chosen"]
    med = warm.groupby(keys, as_index=False)[cols].median().merge(
        warm.groupby(keys, as_index=False)["cpu_s"].mean(), on=keys)
    last = epochs.sort_values("epoch").groupby(["graph", "store"], as_index=False)[["val_acc", "test_acc"]].last()
    out = med.merge(last, on=["graph", "store"])
    out["transfer_share"] = out["gather_s"] / (out["sample_s"] + out["gather_s"] + out["compute_s"])
    ref = out[out["store"] == "cpu"].set_index("graph")
    for col, name in (("epoch_s", "speedup_vs_cpu"), ("cpu_s", "cpu_time_ratio"), ("energy_j", "energy_ratio")):
        base = out["graph"].map(ref[col]) if not ref.empty else float("nan")
        out[name] = base / out[col] if col == "epoch_s" else out[col] / base
    return out


def _target(name: str, value, threshold: float, higher_is_better: bool = True) -> dict:
    if value is None or pd.isna(value):
        ok = None
    else:
        ok = bool(value >= threshold) if higher_is_better else bool(value <= threshold)
    return {"target": name, "value": None if ok is None else float(value), "threshold": threshold, "met": ok}


def _zero_copy_fraction(bench: pd.DataFrame, h2d: dict | None, table: str, row_min: int, row_max: int | None):
    """Worst zero-copy / pinned-copy ratio over row sizes in [row_min, row_max], random order, on the smallest or
    largest table, each row size at its largest call; measurements caches can flatter (``l2_bound``) left out.
    "Smallest" is the smallest table with such a measurement (one held in L2 says nothing of the link); "largest"
    is the largest table of the whole sweep, so a zero_copy refused or failed there gives None (not measured),
    not the ratio of a smaller, easier table.
    Throughput counts each distinct row once (``gbps_unique`` where measured): indices drawn with replacement repeat
    21-37% of the rows at the kept calls of the gpu profile, and a repeat costs the link nothing, so ``gbps`` read
    1.13 where distinct rows crossed at exactly the copy's speed."""
    col = "gbps_unique" if "gbps_unique" in bench else "gbps"
    if not h2d or bench.empty or col not in bench:
        return None
    largest = asked_table_bytes(bench).max()
    df = bench[(bench["store"] == "zero_copy") & (bench["status"] == "ok") & (bench["order"] == "random")]
    if df.empty:
        return None
    if "l2_bound" in df:  # more bytes asked for than the table holds, or a table in L2: not PCIe throughput
        df = df[~df["l2_bound"].eq(True)]
    size = asked_table_bytes(df)
    df = df[size == (size.min() if table == "small" else largest)]
    df = df[(df["rows"] == df.groupby("row_bytes")["rows"].transform("max")) & (df["row_bytes"] >= row_min)]
    if row_max is not None:
        df = df[df["row_bytes"] <= row_max]
    return None if df.empty else df.groupby("row_bytes")[col].median().min() / h2d["gbps"]


def _auto_vs_best(summary: pd.DataFrame):
    """Worst ratio over graphs of auto's epoch time to the better of cpu and zero_copy (<= 1: never slower)."""
    wide = summary.pivot_table(index="graph", columns="store", values="epoch_s") if not summary.empty else None
    if wide is None or not {"auto", "cpu", "zero_copy"} <= set(wide.columns):
        return None
    return (wide["auto"] / wide[["cpu", "zero_copy"]].min(axis=1)).max()


def check_targets(h2d: dict | None, bench: pd.DataFrame, summary: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """The issue's targets, measured: value, threshold, met (None where this run could not measure it, e.g.
    without CUDA, or no graph whose features exceed / fit the GPU memory)."""
    rows = [_target("zero-copy / pinned copy, rows >= 128 B, smallest table",
                    _zero_copy_fraction(bench, h2d, "small", 128, None), 0.9),
            _target("zero-copy / pinned copy, 512 B rows, largest table",
                    _zero_copy_fraction(bench, h2d, "large", 512, 512), 0.8),
            _target("auto epoch time / best of cpu and zero_copy (1.1 = noise allowance)", _auto_vs_best(summary),
                    1.1, higher_is_better=False)]
    zc = summary[summary["store"] == "zero_copy"] if not summary.empty else summary
    too_big = set(status.loc[status["status"] == "does not fit in GPU memory", "graph"]) if not status.empty else set()
    over = zc[zc["graph"].isin(too_big)] if not zc.empty else zc
    fits = set(summary.loc[summary["store"] == "gpu", "graph"]) if not summary.empty else set()
    rows += [_target("zero_copy speedup vs cpu, features over GPU memory",
                     over["speedup_vs_cpu"].min() if not over.empty else None, 2.0),
             _target("zero_copy CPU time / cpu store's, features over GPU memory",
                     over["cpu_time_ratio"].max() if not over.empty else None, 0.5, higher_is_better=False),
             _target("zero_copy GPU energy / cpu store's, features over GPU memory",
                     over["energy_ratio"].max() if not over.empty else None, 0.999, higher_is_better=False)]
    if fits and not zc.empty:
        gpu_t = summary[summary["store"] == "gpu"].set_index("graph")["epoch_s"]
        ratio = (zc.set_index("graph")["epoch_s"] / gpu_t).dropna()
        rows.append(_target("zero_copy epoch time / gpu store's, features fit", ratio.max() if len(ratio) else None,
                            1.3, higher_is_better=False))
    else:
        rows.append(_target("zero_copy epoch time / gpu store's, features fit", None, 1.3, higher_is_better=False))
    return pd.DataFrame(rows)
