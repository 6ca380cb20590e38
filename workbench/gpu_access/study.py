"""The frozen config of ``notebooks/gpu_data_access.ipynb``: fields are exactly its parameters.

Defaults are the CPU run nbval executes (embedded Cora and a tiny R-MAT graph, CPU stores, small tables);
``notebooks/params/gpu_data_access/gpu.yaml`` sizes a run for one device call on a lent GPU, ``gpu_large.yaml`` the
paper-scale values (several calls).
"""
from __future__ import annotations

import dataclasses
import math

from ..config import ConfigError, at_least, distinct, positive
from ..io import relative_note, user_path
from .catalog import check_graph_spec, graph_files, needs_data_root
from .gather_kernel import KERNELS
from .policy import AutoPolicy
from .sampling import NEIGHBOR_SAMPLERS
from .stores import STORES, StoreOptions
from .train import TrainSettings


@dataclasses.dataclass(frozen=True)
class GPUAccessConfig:
    device: str = "auto"
    graphs: list[str] = dataclasses.field(default_factory=lambda: ["cora", "rmat:0.004"])
    data_root: str = ""
    stores: list[str] = dataclasses.field(default_factory=lambda: ["cpu", "zero_copy", "gpu", "auto"])
    sampler: str = "auto"
    cpu_sampler_baseline: bool = False
    csr: str = "device"
    fanouts: list[int] = dataclasses.field(default_factory=lambda: [10, 5])
    batch_size: int = 64
    hidden: int = 64
    epochs: int = 4
    lr: float = 0.01
    dropout: float = 0.5
    overlap: bool = False
    max_train_nodes: int = 1024
    max_eval_nodes: int = 500
    rmat_num_features: int = 128
    rmat_edge_factor: int = 8
    gpu_memory_gib: float = 0.0
    h2d_mib: int = 64
    bench_stores: list[str] = dataclasses.field(default_factory=lambda: ["cpu", "zero_copy", "gpu", "auto"])
    bench_row_bytes: list[int] = dataclasses.field(default_factory=lambda: [128, 132, 512, 2048])
    bench_table_mib: list[int] = dataclasses.field(default_factory=lambda: [8, 32])
    bench_rows_per_call: list[int] = dataclasses.field(default_factory=lambda: [4096])
    bench_orders: list[str] = dataclasses.field(default_factory=lambda: ["random", "sorted"])
    bench_repeats: int = 5
    bench_warmup: int = 1
    gather_threads: int = 0
    torch_threads: int = 1
    kernel: str = "auto"
    sort_indices: bool = True
    gpu_fit_fraction: float = 0.5
    zero_copy_min_row_bytes: int = 512
    calibrate_auto: bool = True
    min_cora_accuracy: float = 0.6
    seed: int = 0

    def validate(self) -> None:
        self._refuse_empty_lists()
        distinct(self, "graphs", "stores", "bench_stores", "bench_row_bytes", "bench_table_mib", "bench_rows_per_call",
                 "bench_orders")
        for field in ("stores", "bench_stores"):
            if unknown := [n for n in getattr(self, field) if n not in STORES.names()]:
                raise ConfigError(f"{field}: unknown store(s) {unknown}; known: {STORES.names()}")
        for spec in self.graphs:  # here, not after the microbenchmark when the graph is loaded
            try:
                check_graph_spec(spec)
            except ValueError as exc:
                raise ConfigError(f"graphs: {exc}") from None
        if not self.data_root and all(needs_data_root(spec) for spec in self.graphs):
            # each would be skipped, leaving nothing trained (one skipped beside others is fine: the runs table
            # says why)
            raise ConfigError(f"graphs={list(self.graphs)}: each is read from data_root, which is empty, so every one "
                              "would be skipped; set data_root (the folder holding planetoid/, gnn-benchmark-npz/, "
                              "musae/, debian-bookworm/) or add cora or rmat:<GiB>")
        if self.data_root and not user_path(self.data_root).is_dir():  # else its real graphs quietly become unavailable
            raise ConfigError(f"data_root={self.data_root!r} is not an existing directory"
                              f"{relative_note(self.data_root)}; give the folder holding planetoid/, "
                              "gnn-benchmark-npz/, musae/, debian-bookworm/, or leave it empty for the embedded "
                              "cora and rmat graphs only")
        if self.sampler != "auto":
            NEIGHBOR_SAMPLERS.get(self.sampler)
        checks = [
            (self.csr in ("device", "unified"), f"csr must be 'device' or 'unified', got {self.csr!r}"),
            (self.sampler != "cpu" or self.csr == "device",
             f"csr={self.csr!r} places the gpu sampler's graph; sampler 'cpu' never reads it"),
            (self.kernel in KERNELS, f"kernel must be one of {list(KERNELS)}, got {self.kernel!r}"),
            (bool(self.fanouts) and all(f > 0 or f == -1 for f in self.fanouts),
             f"fanouts must be positive (or -1 = all), got {self.fanouts}"),
            (min(self.batch_size, self.hidden, self.epochs, self.bench_repeats) >= 1,
             "batch_size, hidden, epochs, bench_repeats must be >= 1"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (set(self.bench_orders) <= {"random", "sorted"}, f"bench_orders: random/sorted, got {self.bench_orders}"),
            (min(self.bench_row_bytes + self.bench_table_mib + self.bench_rows_per_call, default=1) >= 1,
             "benchmark sizes must be positive"),
            (self.torch_threads >= 0 and self.gather_threads >= 0, "torch_threads, gather_threads must be >= 0"),
            # store_options turns it into bytes with int(): inf would raise OverflowError there, NaN ValueError
            (math.isfinite(self.gpu_memory_gib) and self.gpu_memory_gib >= 0,
             f"gpu_memory_gib must be a finite number >= 0 (0: no cap), got {self.gpu_memory_gib}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)
        at_least(self, 0, "max_train_nodes", "max_eval_nodes", "bench_warmup", "seed",
                 zero_means={"max_train_nodes": "every training node", "max_eval_nodes": "all"})
        at_least(self, 1, "h2d_mib", "rmat_num_features", "rmat_edge_factor")
        positive(self, "lr")
        if not 0 <= self.min_cora_accuracy <= 1:
            raise ConfigError(f"min_cora_accuracy is a fraction in [0, 1], got {self.min_cora_accuracy}")
        AutoPolicy(self.gpu_fit_fraction, self.zero_copy_min_row_bytes)  # its own range checks

    def check_data(self) -> None:
        """When every graph is read from ``data_root``, at least one is there: else each is skipped and nothing is
        trained. (A graph that is missing beside others is skipped, the runs table says why.)"""
        if not self.data_root or not all(needs_data_root(spec) for spec in self.graphs):
            return
        files = [p for spec in self.graphs for p in graph_files(user_path(self.data_root), spec)]
        if not any(p.exists() for p in files):
            raise ConfigError(f"data_root={self.data_root!r} holds none of graphs={list(self.graphs)}, so every one "
                              f"would be skipped (looked for {', '.join(map(str, files))}); give the folder holding "
                              "planetoid/, gnn-benchmark-npz/, musae/, debian-bookworm/")

    def _refuse_empty_lists(self) -> None:
        """No graph or store leaves nothing to train (the notebook's tables fail on it), an empty benchmark grid
        no bench table (its pivot and figures fail): refuse them here, naming the field."""
        for field in ("graphs", "stores", "bench_stores", "bench_row_bytes", "bench_table_mib",
                      "bench_rows_per_call", "bench_orders"):
            if not getattr(self, field):
                raise ConfigError(f"{field} is empty; give at least one (the defaults: "
                                  f"{getattr(GPUAccessConfig(), field)})")

    def store_options(self, policy: AutoPolicy | None = None) -> StoreOptions:
        return StoreOptions(gather_threads=self.gather_threads, sort_indices=self.sort_indices, kernel=self.kernel,
                            policy=policy or AutoPolicy(self.gpu_fit_fraction, self.zero_copy_min_row_bytes,
                                                        int(self.gpu_memory_gib * 2**30)))

    def train_settings(self) -> TrainSettings:
        return TrainSettings(fanouts=tuple(self.fanouts), batch_size=self.batch_size, hidden=self.hidden,
                             epochs=self.epochs, lr=self.lr, dropout=self.dropout, overlap=self.overlap,
                             max_train_nodes=self.max_train_nodes, max_eval_nodes=self.max_eval_nodes,
                             seed=self.seed)
