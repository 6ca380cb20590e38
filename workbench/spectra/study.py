"""The two studies' frozen configs; fields are exactly the notebooks' parameters (CPU-sized defaults)."""
from __future__ import annotations

import dataclasses
import math

from ..config import ConfigError, at_least, distinct, positive
from ..io import relative_note, user_path
from .data import CIFAR10_FETCH, DATASETS, EMBEDDED_TRAIN_SIZE, FASHION_MNIST_FETCH, FASHION_MNIST_FILES
from .hvp import METHODS
from .models import MODELS
from .train import OPTIMIZERS


# What 0 means for fields where it is allowed (quoted in the error message).
_ZERO_MEANS = {"n_train": "all training examples", "width": "the model's default", "cpu_threads": "torch's default",
               "bisection_iters": "the bracket only", "critical_batch_size": "fitted from the measurements"}


# The datasets read from data_path, with what it must hold (see the loaders in .data).
_LOCAL_DATA = {"cifar10": "the CIFAR-10-images.tar.gz file or the folder holding it",
               "fashion_mnist": "the folder with train-images-idx3-ubyte.gz etc."}


def _at_least(cfg, lo: int, *names: str) -> None:
    at_least(cfg, lo, *names, zero_means=_ZERO_MEANS)


def _train_size(cfg) -> int:
    """Training examples the run will have, where known before loading: an embedded set's (at most n_train of it) or
    n_train; 0 for a local set read whole (as large as its files)."""
    full = EMBEDDED_TRAIN_SIZE.get(cfg.dataset)
    return min(cfg.n_train or full or 0, full or cfg.n_train)


def _train_set(cfg, n: int) -> str:
    """The training set of :func:`_train_size` ``n`` in an error message: the parameter that sets it, or the data."""
    return f"n_train ({n})" if cfg.n_train == n else f"the training set ({cfg.dataset}: {n} examples)"


def _check_common(cfg) -> None:
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"dataset must be one of {DATASETS.names()}, got {cfg.dataset!r}")
    if cfg.dataset in _LOCAL_DATA and not cfg.data_path:
        raise ConfigError(f"dataset {cfg.dataset!r} is read from local files: set data_path "
                          f"({_LOCAL_DATA[cfg.dataset]})")
    if cfg.data_path and cfg.dataset not in _LOCAL_DATA:  # else the run would quietly train on the built-in set
        raise ConfigError(f"data_path is read only with dataset {' or '.join(_LOCAL_DATA)}; dataset "
                          f"{cfg.dataset!r} ignores it: add -p dataset=<one of those> or drop data_path")
    if cfg.model not in MODELS:
        raise ConfigError(f"model must be one of {MODELS.names()}, got {cfg.model!r}")
    # seed also seeds numpy (the digits split, the n_train subset), which rejects negative seeds
    _at_least(cfg, 0, "cpu_threads", "n_train", "width", "seed")
    _at_least(cfg, 1, "batch_sizes")
    distinct(cfg, "batch_sizes")
    # spectra() measures the full operator apart and leaves out batch sizes >= the training set
    n = _train_size(cfg)
    if n and sum(b < n for b in cfg.batch_sizes) < 3:
        raise ConfigError(f"batch_sizes needs >= 3 sizes below {_train_set(cfg, n)} for the c/B fits (a size >= it "
                          f"is the full operator, measured anyway), got {cfg.batch_sizes}")
    # one Lanczos step is a Rayleigh quotient: no spectrum, and no lambda_min for the SLQ learner
    _at_least(cfg, 2, "lanczos_steps")


def _check_data_path(cfg) -> None:
    """The files ``cfg.dataset``'s loader reads from ``cfg.data_path`` exist here (as :mod:`.data` looks for them:
    CIFAR-10's tarball, the four Fashion-MNIST IDX files, gzipped or not); their contents are checked on reading."""
    if cfg.dataset not in _LOCAL_DATA:
        return
    path = user_path(cfg.data_path)
    if cfg.dataset == "cifar10":
        tar = path / "CIFAR-10-images.tar.gz" if path.is_dir() else path
        missing = [] if tar.is_file() else [tar]
        fetch = CIFAR10_FETCH
    else:
        if path.is_file():
            raise ConfigError(f"dataset {cfg.dataset!r}: data_path={cfg.data_path!r} is a file; give the folder "
                              f"holding the four IDX files ({path.parent})")
        missing = [path / f"{stem}[.gz]" for stem in FASHION_MNIST_FILES.values()
                   if not any((path / (stem + s)).is_file() for s in (".gz", ""))] if path.is_dir() else [path]
        fetch = FASHION_MNIST_FETCH
    if missing:
        raise ConfigError(f"dataset {cfg.dataset!r}: {', '.join(map(str, missing))} not found (data_path="
                          f"{cfg.data_path!r}{relative_note(path)}). {fetch}; or pass -p data_path=<a folder that "
                          "holds them>")


@dataclasses.dataclass(frozen=True)
class BatchSizeSpectraConfig:
    """Study 1: batch vs full Hessian/GGN spectra. See notebooks/batch_size_spectra.ipynb for each field's help."""
    dataset: str = "digits"
    data_path: str = ""
    n_train: int = 0
    model: str = "mlp"
    width: int = 0
    bn_model: str = "small_cnn"
    epochs: int = 6
    train_batch_size: int = 64
    train_lr: float = 0.05
    snapshot_epochs: list[int] = dataclasses.field(default_factory=lambda: [0, 3, 6])
    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [16, 32, 64, 128, 256, 512, 1024])
    batches_per_size: int = 16
    lanczos_steps: int = 20
    probes: int = 2
    lambda_tol: float = 0.0001
    full_chunk: int = 512
    peer_batch_size: int = 256
    peer_seeds: int = 5
    peer_tol: float = 0.0001
    peer_repeats: int = 10
    reference_steps: int = 80
    bench_batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [64, 256])
    bench_repeats: int = 10
    hvp_method: str = "auto"
    seed: int = 0
    device: str = "auto"
    cpu_threads: int = 1

    def validate(self) -> None:
        _check_common(self)
        if self.bn_model not in MODELS:
            raise ConfigError(f"bn_model must be one of {MODELS.names()}, got {self.bn_model!r}")
        if self.hvp_method not in ("auto", *METHODS):
            raise ConfigError(f"hvp_method must be 'auto' or one of {list(METHODS)}, got {self.hvp_method!r}")
        # epochs >= 1: the notebook checks that the model learnt before reading trained-checkpoint spectra
        _at_least(self, 1, "epochs", "train_batch_size", "batches_per_size", "probes", "full_chunk", "peer_batch_size",
                  "peer_seeds", "peer_repeats", "reference_steps", "bench_batch_sizes", "bench_repeats")
        positive(self, "train_lr", "peer_tol")
        if any(e < 0 or e > self.epochs for e in self.snapshot_epochs) or not self.snapshot_epochs:
            raise ConfigError(f"snapshot_epochs must lie in [0, epochs={self.epochs}], got {self.snapshot_epochs}")
        if len(set(self.batch_sizes)) < 3:
            raise ConfigError("batch_sizes needs >= 3 distinct sizes for the lambda_full + c/B fit")
        if min(self.batch_sizes) < 2:  # BatchNorm1d refuses one example in train mode; BN2d averages one image
            raise ConfigError(f"batch_sizes must be >= 2: the BN train-mode comparison ({self.bn_model}) has no batch "
                              f"statistics over one example, got {self.batch_sizes}")
        n = _train_size(self)
        if n and n < self.train_batch_size:  # training drops the last partial batch: train_epochs raises mid-run
            raise ConfigError(f"{_train_set(self, n)} is below train_batch_size ({self.train_batch_size}): "
                              "training would take no step")
        # peer_batch_size and bench_batch_sizes above n are left alone: their batches are cut to the n examples
        # there are and the rows record the size measured (tiny n_train runs keep the defaults 256 that way)
        if not (math.isfinite(self.lambda_tol) and self.lambda_tol >= 0):
            raise ConfigError(f"lambda_tol must be >= 0 (0: fixed Lanczos steps), got {self.lambda_tol}")
        distinct(self, "snapshot_epochs", "bench_batch_sizes")

    def check_data(self) -> None:
        _check_data_path(self)


@dataclasses.dataclass(frozen=True)
class LrScalingConfig:
    """Study 2: max stable learning rate vs batch size, and the SLQ learner. See notebooks/lr_scaling.ipynb."""
    dataset: str = "digits"
    data_path: str = ""
    n_train: int = 0
    model: str = "mlp"
    width: int = 0
    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [8, 32, 128])
    optimizers: list[str] = dataclasses.field(default_factory=lambda: ["sgd", "adam"])
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0, 1])
    steps: int = 20
    bisection_iters: int = 4
    lr_lo: float = 0.001
    lr_hi: float = 1.0
    momentum: float = 0.9
    critical_batch_size: int = 100000
    lanczos_steps: int = 15
    batches_per_size: int = 4
    learner_epochs: int = 5
    learner_batch_size: int = 64
    learner_period: int = 10
    learner_kappa_max: float = 100.0
    learner_scale: float = 1.0
    tune_lrs: list[float] = dataclasses.field(default_factory=lambda: [0.01, 0.03, 0.1, 0.3])
    seed: int = 0
    device: str = "auto"
    cpu_threads: int = 1

    def validate(self) -> None:
        _check_common(self)
        bad = [o for o in self.optimizers if o not in OPTIMIZERS]
        if bad or not self.optimizers:
            raise ConfigError(f"optimizers must be a non-empty list among {list(OPTIMIZERS)}, got {self.optimizers}")
        _at_least(self, 0, "bisection_iters", "critical_batch_size")
        _at_least(self, 1, "steps", "learner_epochs", "learner_batch_size", "learner_period")
        _at_least(self, 2, "batches_per_size")  # their spread is the c/B fit's error bars
        positive(self, "lr_lo", "lr_hi", "tune_lrs")
        if not self.lr_lo < self.lr_hi:
            raise ConfigError(f"need 0 < lr_lo < lr_hi, got lr_lo={self.lr_lo}, lr_hi={self.lr_hi}")
        if len(set(self.batch_sizes)) < 3:
            raise ConfigError("need >= 3 distinct batch_sizes (the slope fit and the lambda_max = a + c/B fit), got "
                              f"{self.batch_sizes}")
        if not self.seeds:
            raise ConfigError("seeds must list >= 1 seed, got []")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 1 < self.learner_kappa_max < math.inf:  # at <= 1 no Ritz value would be left in the bulk
            raise ConfigError(f"learner_kappa_max must be a finite number > 1, got {self.learner_kappa_max}")
        if not 0 < self.learner_scale <= 1:
            raise ConfigError(f"learner_scale must be in (0, 1], got {self.learner_scale}")
        n = _train_size(self)  # the embedded set's size too: else train_epochs raises mid-run
        if n and (n < 5 or n - n // 5 < self.learner_batch_size):
            raise ConfigError(f"{_train_set(self, n)} is too small for the learner comparison, which holds out "
                              f"a fifth for validation and trains on the rest ({n - n // 5}) in batches of "
                              f"learner_batch_size ({self.learner_batch_size}): it needs >= 5 examples and "
                              "n - n // 5 >= learner_batch_size")
        distinct(self, "optimizers", "seeds", "tune_lrs")

    def check_data(self) -> None:
        _check_data_path(self)
