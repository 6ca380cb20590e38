"""GraphSAGE training's clocks and accuracy by hand: on a faked clock that moves only in sampling (1 s a
batch), gathering (2 s) and between batches (0.25 s), each phase gets its own seconds and the epoch its wall
clock; a capped accuracy is over a fixed random subset and divided by that subset's size. CPU, Cora.
Not proven: anything about real timings or CUDA streams (the overlap path is not exercised here)."""

from __future__ import annotations

import types

import pytest
import torch

from workbench.gpu_access import train as tr
from workbench.gpu_access.cora_data import load_cora
from workbench.gpu_access.sampling import make_sampler
from workbench.gpu_access.stores import make_store
from workbench.gpu_access.train import TrainSettings, _Batch, accuracy


@pytest.fixture
def faked(monkeypatch):
    """Cora, a cpu sampler and store whose calls move a fake clock (1 s per sample, 2 s per gather)."""
    now = [0.0]
    monkeypatch.setattr(tr, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    g = load_cora()
    dev = torch.device("cpu")
    store = make_store("cpu", g.features, dev)
    sampler = make_sampler("cpu", g.indptr, g.indices, [5, 5], dev, seed=0)
    sample, gather = sampler.sample, store.gather

    def slow_sample(seeds):
        now[0] += 1.0
        return sample(seeds)

    def slow_gather(ids):
        now[0] += 2.0
        return gather(ids)
    monkeypatch.setattr(sampler, "sample", slow_sample)
    monkeypatch.setattr(store, "gather", slow_gather)
    yield g, sampler, store, now
    store.close()


def test_a_batch_carries_its_sampling_and_gathering_seconds_apart(faked):
    g, sampler, store, _ = faked
    b = tr._loader(sampler, store, g.labels)(g.train_idx[:8], lambda: None)
    assert (b.sample_s, b.gather_s) == (1.0, 2.0)
    assert torch.equal(b.x, g.features[b.blocks[0].src_nodes])


def test_epoch_row_sums_each_phase_and_times_the_whole_epoch(faked, monkeypatch):
    """2 batches: sampling 2 s, gathering 4 s, compute 0 s on this clock, and 0.25 s a batch spent in the
    pipeline outside any phase (as waiting on a producer thread): epoch_s is the wall clock, 6.5 s, not the
    phases' sum (6 s). Catches gathering charged with the sampling seconds and an epoch time summed from phases."""
    g, sampler, store, now = faked

    class WaitingPipeline(tr._Pipeline):
        def __call__(self, batches):
            for b in super().__call__(batches):
                now[0] += 0.25
                yield b
    monkeypatch.setattr(tr, "_Pipeline", WaitingPipeline)
    (row,) = tr.train_graphsage(g, sampler, store, TrainSettings(epochs=1, batch_size=64, max_train_nodes=128,
                                                                  max_eval_nodes=64), torch.device("cpu"),
                                progress=False)
    assert (row["sample_s"], row["gather_s"], row["compute_s"], row["epoch_s"]) == (2.0, 4.0, 0.0, 6.5)


class _EvenIsRight(torch.nn.Module):
    """Predicts class 0 for every node: right exactly for the nodes whose label (here: id % 2) is 0."""

    def forward(self, blocks, x):
        return torch.tensor([[1.0, 0.0]]).expand(len(x), 2)


def _pipeline(seen):
    def run(batches):
        for s in batches:
            seen.append(s.tolist())
            yield _Batch([], torch.zeros(len(s), 1), s % 2, 0.0, 0.0)
    return run


def test_capped_accuracy_is_over_a_fixed_random_subset_and_its_own_size():
    """cap 4 of 20 nodes (ids 100-119): the scored nodes are the first 4 of a seed-0 permutation, the same at every
    call, not ids 100-103; the accuracy is the share of even ids among those 4 (over 4, not over 20)."""
    nodes, seen = torch.arange(100, 120), []
    acc = accuracy(_EvenIsRight(), _pipeline(seen), nodes, batch_size=3, cap=4)
    picked = nodes[torch.randperm(20, generator=torch.Generator().manual_seed(0))][:4].tolist()
    assert sum(seen, []) == picked and picked != [100, 101, 102, 103]
    assert acc == sum(1 for i in picked if i % 2 == 0) / 4
    again = []
    accuracy(_EvenIsRight(), _pipeline(again), nodes, batch_size=3, cap=4)
    assert again == seen
    uncapped = []
    assert accuracy(_EvenIsRight(), _pipeline(uncapped), nodes, batch_size=8, cap=0) == 0.5
    assert sum(uncapped, []) == nodes.tolist()  # every node once, in order
