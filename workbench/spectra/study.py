"""The two studies' frozen configs; fields are exactly the notebooks' parameters (CPU-sized defaults)."""
from __future__ import annotations

import dataclasses

from ..config import ConfigError
from .data import DATASETS
from .hvp import METHODS
from .models import MODELS
from .train import OPTIMIZERS


def _check_common(cfg) -> None:
    if cfg.cpu_threads < 0:
        raise ConfigError(f"cpu_threads must be >= 0 (0 = torch's default), got {cfg.cpu_threads}")
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"dataset must be one of {DATASETS.names()}, got {cfg.dataset!r}")
    if cfg.model not in MODELS:
        raise ConfigError(f"model must be one of {MODELS.names()}, got {cfg.model!r}")
    if not cfg.batch_sizes or any(b < 1 for b in cfg.batch_sizes):
        raise ConfigError(f"batch_sizes must be positive, got {cfg.batch_sizes}")


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
        if any(e < 0 or e > self.epochs for e in self.snapshot_epochs) or not self.snapshot_epochs:
            raise ConfigError(f"snapshot_epochs must lie in [0, epochs={self.epochs}], got {self.snapshot_epochs}")
        if len(set(self.batch_sizes)) < 3:
            raise ConfigError("batch_sizes needs >= 3 distinct sizes for the lambda_full + c/B fit")
        if self.lanczos_steps < 2 or self.probes < 1 or self.batches_per_size < 1:
            raise ConfigError("lanczos_steps >= 2, probes >= 1 and batches_per_size >= 1 are required")
        if self.lambda_tol < 0 or self.peer_tol <= 0 or self.peer_seeds < 1 or self.peer_repeats < 1:
            raise ConfigError(f"need lambda_tol >= 0, peer_tol > 0, peer_seeds >= 1 and peer_repeats >= 1, got "
                              f"{self.lambda_tol}, {self.peer_tol}, {self.peer_seeds}, {self.peer_repeats}")


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
        if bad:
            raise ConfigError(f"optimizers must be among {list(OPTIMIZERS)}, got {bad}")
        if not 0 < self.lr_lo < self.lr_hi:
            raise ConfigError(f"need 0 < lr_lo < lr_hi, got {self.lr_lo}, {self.lr_hi}")
        if len(set(self.batch_sizes)) < 3 or not self.seeds:
            raise ConfigError("need >= 3 distinct batch_sizes (the slope fit and the lambda_max = a + c/B fit) "
                              "and >= 1 seed")
        if not self.tune_lrs or self.learner_epochs < 1:
            raise ConfigError("tune_lrs must be non-empty and learner_epochs >= 1")
        if not 0 < self.learner_scale <= 1:
            raise ConfigError(f"learner_scale must be in (0, 1], got {self.learner_scale}")
        if self.critical_batch_size < 0:
            raise ConfigError(f"critical_batch_size must be >= 0 (0: fitted from the measurements), got "
                              f"{self.critical_batch_size}")
