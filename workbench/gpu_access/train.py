"""GraphSAGE mini-batch training with the neighbour sampler and the feature store as parameters.

Each epoch yields one tidy row: wall seconds and its parts -- sampling, gathering/transfer (the store), compute
(forward, backward, step) -- process CPU seconds, GPU energy (NVML; None without it, ``energy_note`` says why),
the CPU threads used (torch's intra-op pool, the store's gather threads), loss, validation accuracy, and test
accuracy on the last epoch only.

Phases are timed with the device synchronized at their ends. With ``overlap=True`` a producer thread (its own
CUDA stream) samples and gathers the next batch while the current one computes, as a real input pipeline
would: then sampling + gathering + compute exceed the epoch time by what was hidden.
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch
from torch import nn

from ..progress import tqdm
from .graphs import Graph
from .meters import EnergyMeter, cpu_seconds
from .sage import GraphSAGE
from .sampling import Block


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """One GraphSAGE training's settings. The defaults are for the library used on its own; the study builds its
    settings from its parameters (``GPUAccessConfig``), whose CPU-sized defaults differ (batch 64, 4 epochs, capped
    nodes)."""
    fanouts: tuple[int, ...] = (10, 5)  # neighbours per layer, input layer first
    batch_size: int = 256  # seed nodes per mini-batch
    hidden: int = 64  # hidden width of GraphSAGE
    epochs: int = 3  # passes over the (capped) training nodes
    lr: float = 0.01  # Adam learning rate
    dropout: float = 0.5  # between layers
    overlap: bool = False  # prefetch the next batch in a producer thread
    max_train_nodes: int = 0  # cap on seeds per epoch (0 = every training node)
    max_eval_nodes: int = 0  # cap on validation/test nodes scored per epoch (0 = all)
    seed: int = 0


@dataclasses.dataclass
class _Batch:
    blocks: list[Block]
    x: torch.Tensor
    y: torch.Tensor
    sample_s: float
    gather_s: float


def _loader(sampler, store, labels: torch.Tensor) -> Callable[[torch.Tensor, Callable[[], None]], _Batch]:
    """seeds -> sampled blocks (moved to the labels' device: part of a CPU sampler's cost), their input
    features (via the store, from the sampler's own copy of the input ids) and the seeds' labels, timed."""
    def load(seeds: torch.Tensor, sync: Callable[[], None]) -> _Batch:
        t0 = time.perf_counter()
        blocks = sampler.sample(seeds)
        input_nodes = blocks[0].src_nodes
        blocks = [b.to(labels.device) for b in blocks]
        # before a sync: on the producer's stream (overlap) a kernel queued after the last sync could still be
        # running when the consumer reads y on its own stream
        y = labels[blocks[-1].dst_nodes.to(labels.device)]
        sync()
        t1 = time.perf_counter()
        x = store.gather(input_nodes)
        sync()
        t2 = time.perf_counter()
        return _Batch(blocks, x, y, t1 - t0, t2 - t1)
    return load


class _Pipeline:
    """Batches in order; with overlap, batch i+1 is loaded by one producer thread while batch i computes."""

    def __init__(self, load, device: torch.device, overlap: bool):
        self.load, self.device, self.overlap = load, device, overlap
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda and overlap else None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch") if overlap else None

    def _produce(self, seeds: torch.Tensor) -> _Batch:
        if self.stream is None:  # synchronize *this* device (the current one may be another GPU)
            return self.load(seeds, (lambda: torch.cuda.synchronize(self.device)) if self.cuda else (lambda: None))
        with torch.cuda.stream(self.stream):
            return self.load(seeds, self.stream.synchronize)

    def __call__(self, batches: list[torch.Tensor]):
        if self.pool is None:
            yield from (self._produce(s) for s in batches)
            return
        nxt = self.pool.submit(self._produce, batches[0]) if batches else None
        for i in range(len(batches)):
            batch = nxt.result()
            nxt = self.pool.submit(self._produce, batches[i + 1]) if i + 1 < len(batches) else None
            if self.stream is not None:  # made on the producer's stream (finished): used on ours from now on
                cur = torch.cuda.current_stream(self.device)
                for t in [batch.x, batch.y] + [t for b in batch.blocks for t in b.tensors()]:
                    if t.is_cuda:
                        t.record_stream(cur)
            yield batch

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _seed_batches(nodes: torch.Tensor, batch_size: int, cap: int, gen: torch.Generator | None) -> list[torch.Tensor]:
    if gen is not None:
        nodes = nodes[torch.randperm(nodes.numel(), generator=gen)]
    if cap > 0:
        nodes = nodes[:cap]
    return list(nodes.split(batch_size))


@torch.no_grad()
def accuracy(model: nn.Module, pipeline: _Pipeline, nodes: torch.Tensor, batch_size: int, cap: int) -> float:
    """Share of ``nodes`` whose predicted class is right, with sampled neighbourhoods: all of them, or with ``cap``
    below their number a fixed random subset of ``cap`` (the same at every call: the first ``cap`` by index would
    be a biased sample of a split stored in some order). NaN for an empty ``nodes``."""
    model.eval()
    right = total = 0
    gen = torch.Generator().manual_seed(0) if 0 < cap < nodes.numel() else None
    for b in pipeline(_seed_batches(nodes, batch_size, cap, gen)):
        pred = model(b.blocks, b.x.float()).argmax(1)
        right += int((pred == b.y).sum())
        total += b.y.numel()
    model.train()
    return right / total if total else float("nan")  # an empty split has no accuracy (0.0 would read as a result)


def train_graphsage(graph: Graph, sampler, store, settings: TrainSettings, device: torch.device,
                    progress: bool = True) -> list[dict]:
    """Train a fresh GraphSAGE; return one row per epoch (times in seconds, energy in joules, accuracies)."""
    torch.manual_seed(settings.seed)
    model = GraphSAGE(graph.features.shape[1], settings.hidden, graph.num_classes, len(settings.fanouts),
                      settings.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    labels = graph.labels.to(device)
    pipe = _Pipeline(_loader(sampler, store, labels), device, settings.overlap)
    sync = torch.cuda.current_stream(device).synchronize if device.type == "cuda" else (lambda: None)
    energy, gen = EnergyMeter(device), torch.Generator().manual_seed(settings.seed)
    rows = []
    try:
        for epoch in tqdm(range(settings.epochs), desc=f"{graph.name}/{getattr(store, 'name', '?')}",
                          disable=not progress, leave=False):
            batches = _seed_batches(graph.train_idx, settings.batch_size, settings.max_train_nodes, gen)
            row = {"sample_s": 0.0, "gather_s": 0.0, "compute_s": 0.0, "gathered_bytes": 0, "input_nodes": 0}
            loss_sum = torch.zeros((), device=device)
            sync()
            e0, c0, t0 = energy.read(), cpu_seconds(), time.perf_counter()
            for b in pipe(batches):
                t1 = time.perf_counter()
                loss = nn.functional.cross_entropy(model(b.blocks, b.x.float()), b.y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach()
                sync()
                row["compute_s"] += time.perf_counter() - t1
                row["sample_s"] += b.sample_s
                row["gather_s"] += b.gather_s
                row["gathered_bytes"] += b.x.numel() * b.x.element_size()
                row["input_nodes"] += b.x.shape[0]
            row["epoch_s"] = time.perf_counter() - t0
            row["cpu_s"] = cpu_seconds() - c0
            e1 = energy.read()
            row["energy_j"] = None if e0 is None or e1 is None else e1 - e0
            row["energy_note"] = energy.reason or energy.source
            # the CPU thread budget this epoch ran with (torch's intra-op pool; the store's own gather threads)
            row.update(torch_threads=torch.get_num_threads(), gather_threads=getattr(store, "threads", 0))
            row.update(epoch=epoch, batches=len(batches), loss=float(loss_sum) / max(len(batches), 1))
            row["val_acc"] = accuracy(model, pipe, graph.val_idx, settings.batch_size, settings.max_eval_nodes)
            last = epoch == settings.epochs - 1  # test once, at the end: evaluation is not what is timed
            row["test_acc"] = (accuracy(model, pipe, graph.test_idx, settings.batch_size, settings.max_eval_nodes)
                               if last else None)
            cap, n_test = settings.max_eval_nodes, graph.test_idx.numel()
            row["test_nodes"] = min(cap, n_test) if cap > 0 else n_test  # how many the accuracy is over
            rows.append(row)
    finally:
        pipe.close()
    return rows
