"""GPU-centric data access for GNN training (PyTorch-Direct, Min et al. 2021) in plain PyTorch.

unified.py       pin a host tensor in place and map it for CUDA kernels (zero-copy "unified tensor")
gather_kernel.py row gather on the GPU: index_select or a small Triton kernel in three tile shapes (lazily imported)
stores.py        feature stores behind one protocol + registry: cpu, zero_copy, gpu, auto
policy.py        the auto store's explicit rule and its calibration from the microbenchmark
sampling.py      uniform neighbour sampling with fan-outs (CPU and GPU) -> blocks
sage.py          GraphSAGE (mean aggregator) over blocks
graphs.py        Graph type; Planetoid, gnn-benchmark npz, MUSAE Facebook readers
cora_data.py     the embedded Cora in data/cora: builder and loader
rmat.py          R-MAT synthetic graphs (Graph500 a=0.57, b=c=0.19) with random features
catalog.py       graphs by name for the study
bench.py         pinned H2D ceiling and gather microbenchmarks (kernel/sort/offset/page variants, cache flags)
gather_probe.py  command line: gather variants side by side on a lent GPU, one CSV
meters.py        process CPU time (psutil), GPU energy (NVML handle found by PCI bus id)
threads.py       the CPU thread split: torch intra-op threads + cpu-store gather threads <= cores
train.py         GraphSAGE epoch loop timing sampling / gather / compute
experiments.py   the study's steps; study.py its config; figures.py its figures
"""
from .stores import STORES, FeatureStore, StoreOptions, make_store
from .unified import UnifiedTensor, pin_in_place, to_unified

__all__ = ["STORES", "FeatureStore", "StoreOptions", "make_store", "UnifiedTensor", "pin_in_place", "to_unified"]
