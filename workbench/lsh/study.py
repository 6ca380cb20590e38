"""The frozen config of ``notebooks/lsh_sampling.ipynb``: fields are exactly the notebook's parameters.

Defaults are the small CPU run (nbval, about a minute on 2 cores); ``notebooks/params/lsh_sampling/gpu.yaml``
holds the paper-scale values.
"""
from __future__ import annotations

import dataclasses

from ..config import at_least, distinct, positive
from ..device import check_device_spec
from ..io import relative_note, user_path
from .bowdata import SOURCES, WORDS_PER_POINT
from .drawers import DRAWERS
from .params import LSHParams
from .race import KS, parse_method


@dataclasses.dataclass(frozen=True)
class LSHStudyConfig:
    device: str = "auto"
    seed: int = 0
    family: str = "simhash"
    K: int = 6
    L: int = 8
    cap: int = 32
    bin_size: int = 8
    budget: int = 64
    rehash_every: int = 10
    redraw_every: int = 0
    center: bool = False
    bench_sizes: list[int] = dataclasses.field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    bench_K: int = 10
    bench_dim: int = 32
    bench_batch: int = 16
    bench_repeats: int = 3
    bench_labels: str = "synthetic"
    cpu_threads: int = 1
    bench_devices: list[str] = dataclasses.field(default_factory=lambda: ["auto"])
    dataset: str = "synthetic"
    data_dir: str = ""
    data_variant: str = ""
    num_labels: int = 2000
    num_points: int = 3000
    num_features: int = 1000
    hidden: int = 128
    batch_size: int = 128
    lr: float = 0.01
    methods: list[str] = dataclasses.field(default_factory=lambda: [
        "full", "uniform", "loguniform", "lsh-embedding", "lsh-embedding:nologq", "lsh-label"])
    time_budget_s: float = 1.5
    max_steps: int = 300
    eval_every: int = 10
    eval_every_s: float = 0.0
    eval_points: int = 400
    adaptivity_method: str = "lsh-embedding"
    adaptivity_samplers: list[str] = dataclasses.field(default_factory=lambda: [
        "uniform", "loguniform", "lsh-embedding", "lsh-label", "exact"])
    adaptivity_queries: int = 64
    adaptivity_repeats: int = 4

    def lsh(self, bench: bool = False) -> LSHParams:
        """The hashing parameters (``bench``: codes of at most ``bench_K`` bits per table, for the constant-time
        curve: SimHash ``bench_K`` bits; DWTA ``bench_K // log2(bin_size)`` hashes of ``log2(bin_size)`` bits each,
        e.g. 3 x 3 = 9 bits for bench_K 10)."""
        K = self.K
        if bench:
            bits = max(1, self.bin_size.bit_length() - 1) if self.family == "dwta" else 1
            K = max(1, self.bench_K // bits)
        return LSHParams(family=self.family, K=K, L=self.L, cap=self.cap,
                         bin_size=self.bin_size, rehash_every=self.rehash_every, redraw_every=self.redraw_every,
                         center=self.center, seed=self.seed)

    def validate(self) -> None:
        at_least(self, 0, "seed")  # numpy's generators, seeded from it, reject negative seeds
        if self.family != "dwta" and self.bin_size != LSHStudyConfig.bin_size:
            raise ValueError(f"bin_size is DWTA's bin width; family {self.family!r} never reads it")
        self.lsh().validate()
        self.lsh(bench=True).validate()
        if self.dataset not in SOURCES:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {list(SOURCES)}")
        if self.dataset in ("mulan", "dir") and not self.data_dir:
            raise ValueError(f"dataset {self.dataset!r} needs data_dir (a local directory)")
        if self.data_dir and self.dataset not in ("mulan", "dir"):  # else the run would quietly use other data
            raise ValueError(f"data_dir is read only with dataset 'mulan' or 'dir'; dataset {self.dataset!r} "
                             "ignores it: add -p dataset=mulan (or dir) or drop data_dir")
        if self.data_variant and self.dataset not in ("debian", "dir"):  # as data_dir: else quietly ignored
            raise ValueError(f"data_variant is read only with dataset 'debian' or 'dir'; dataset {self.dataset!r} "
                             "ignores it: drop data_variant")
        from ..xmc.debian import VARIANTS
        if self.dataset == "debian" and self.data_variant not in ("", *VARIANTS):
            raise ValueError(f"dataset 'debian' has data_variant {list(VARIANTS)} ('' = titles), "
                             f"got {self.data_variant!r}")
        if self.cpu_threads < 0:
            raise ValueError(f"cpu_threads must be >= 0 (0 = leave torch's setting), got {self.cpu_threads}")
        if self.bench_labels not in ("synthetic", "gaussian"):
            raise ValueError(f"bench_labels must be 'synthetic' or 'gaussian', got {self.bench_labels!r}")
        for m in self.methods:
            parse_method(m)
        if self.adaptivity_method not in self.methods:
            raise ValueError(f"adaptivity_method {self.adaptivity_method!r} must be one of methods {self.methods}")
        if not self.adaptivity_samplers:
            raise ValueError("adaptivity_samplers is empty; name at least one (the defaults: "
                             f"{LSHStudyConfig().adaptivity_samplers})")
        for s in self.adaptivity_samplers:
            DRAWERS.get(s)
        distinct(self, "methods", "adaptivity_samplers", "bench_sizes", "bench_devices")
        for spec in self.bench_devices:
            check_device_spec(spec, "bench_devices")
        at_least(self, 1, "budget", "bench_dim", "bench_batch", "bench_repeats", "num_points",
                 "num_features", "hidden", "batch_size", "max_steps", "eval_every", "eval_points",
                 "adaptivity_queries", "adaptivity_repeats", "bench_sizes")
        at_least(self, max(KS), "num_labels")  # P@5 ranks 5 labels (a loaded dataset's count: load_data)
        if self.dataset == "synthetic" and self.num_features < WORDS_PER_POINT:  # else topk fails in the run
            raise ValueError(f"num_features must be >= {WORDS_PER_POINT} with dataset 'synthetic' (each point keeps "
                             f"its {WORDS_PER_POINT} top features as words), got {self.num_features}")
        self._check_dwta_dims()
        at_least(self, 2, "num_points")  # a synthetic test split (30%) of at least one point
        # more negatives per query than labels draws labels again; an unbounded budget is a huge allocation
        # (bench_batch x budget ids per call)
        cap = min([*self.bench_sizes, *([self.num_labels] if self.dataset == "synthetic" else [])])
        if self.budget > cap:
            raise ValueError(f"budget must be <= {cap} (the fewest labels it is drawn from: bench_sizes"
                             f"{' and num_labels' if self.dataset == 'synthetic' else ''}), got {self.budget}")
        positive(self, "lr", "time_budget_s")
        if not self.eval_every_s >= 0:  # NaN fails too
            raise ValueError(f"eval_every_s must be >= 0 (0 = evaluate by steps only), got {self.eval_every_s}")

    def _check_dwta_dims(self) -> None:
        """DWTA's bins are bin_size coordinates of the hashed vectors: the bench's labels (bench_dim wide) and the
        race's label vectors (hidden + 1 wide: BowSoftmax folds the output bias into them)."""
        if self.family != "dwta":
            return
        for name, dim in (("bench_dim", self.bench_dim), ("hidden + 1", self.hidden + 1)):
            if self.bin_size > dim:
                raise ValueError(f"bin_size ({self.bin_size}) must be <= {name} ({dim}), the width of the vectors "
                                 "DWTA hashes")

    def check_data(self) -> None:
        """The local data ``dataset`` reads exists here: Mulan's three files, a ``dir`` dataset's directory in a
        layout :func:`workbench.xmc.load.load_dataset` reads (their contents are checked on reading)."""
        from ..xmc.errors import find_file
        from ..xmc.load import MULAN, detect_layout
        if self.dataset not in ("mulan", "dir"):
            return
        d = user_path(self.data_dir)  # as the loaders read it
        where = f"data_dir={self.data_dir!r}{relative_note(d)}"
        if not d.is_dir():
            fetch = (f"fetch {MULAN} (e.g. into data/mulan-bibtex, where the bibtex profile reads it)"
                     if self.dataset == "mulan" else "give the local folder of an XMC dataset")
            raise ValueError(f"{where} is not a directory: {fetch}, or pass -p data_dir=<its folder>")
        if self.dataset == "mulan":
            trains = sorted(d.glob("*-train.arff")) + sorted(d.glob("*-train.arff.gz"))
            name = trains[0].name.split("-train.arff")[0] if trains else "<name>"
            if not trains or find_file(d, f"{name}-test.arff") is None or not (d / f"{name}.xml").exists():
                raise ValueError(f"{where} needs {name}-train.arff[.gz], {name}-test.arff[.gz] and {name}.xml: "
                                 f"fetch {MULAN}")
        elif not self.data_variant and detect_layout(d) is None:
            raise ValueError(f"{where} holds no XMC dataset layout (lbl.json, trn_X_Y.txt, train.txt, *_data.txt + "
                             "splits, *.arff); for a folder of variants set data_variant")
