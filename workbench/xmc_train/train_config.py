"""What the negative-mining trainer is told (:class:`TrainConfig`), the columns of its rows and its step plan."""
from __future__ import annotations

import dataclasses
import math

TIMERS = ("sample_s", "refresh_s", "encode_s", "loss_s", "backward_s")
# columns the trainer writes itself: a tag of the same name would be overwritten in training rows and kept in
# evaluation rows, one column with two meanings (a "loss" tag naming the loss function did exactly that)
ROW_KEYS = frozenset({"step", "epoch", "wall_s", *TIMERS, "steps", "peak_mem_mib", "tokens_per_step", "seqs_per_step",
                      "seqs_per_s",
                      "seq_len", "loss", "lr", "eval_s", "label_staleness_steps", "bare_seqs_per_s"})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping; CPU-sized defaults."""
    epochs: int = 1
    max_steps: int = 0              # stop after this many steps (0 = no limit)
    time_budget_s: float = 0.0      # stop when training wall-clock exceeds this (0 = no limit)
    batch_size: int = 64
    lr: float = 1e-4                # encoder learning rate
    clf_lr: float = 1e-2            # classifier-vector learning rate
    clf_row_sparse: bool = False    # classifier rows updated only on steps that give them a gradient (SparseAdam)
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    clip_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0             # steps between evaluations (0 = at the start and the end only, -1 = never)
    label_cache_steps: int = 0      # >0: samplers with stale_ok score non-positive labels from a cache this old
    checkpoint_minutes: float = 10.0
    checkpoint_steps: int = 0
    device: str = "auto"
    bf16: bool = True               # bf16 autocast in training steps, on GPUs with native bf16 only (embed_all: always)
    bare_probe_every: int = 0       # every that many log windows, time the bare encoder (0 = never; see above)

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.log_every < 1:
            raise ValueError("epochs, batch_size and log_every must be >= 1")
        if not 0 <= self.warmup_frac < 1:
            raise ValueError(f"warmup_frac must be in [0, 1), got {self.warmup_frac}")
        if self.eval_every < -1:
            raise ValueError(f"eval_every must be >= -1 (-1: never, 0: at the start and the end), "
                             f"got {self.eval_every}")
        for name in ("lr", "clf_lr"):
            if not getattr(self, name) > 0:  # NaN fails too
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_steps", "label_cache_steps", "checkpoint_steps", "checkpoint_minutes", "time_budget_s",
                     "clip_norm", "weight_decay", "bare_probe_every"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def steps_per_epoch(n_queries: int, batch_size: int) -> int:
    """Batches in one epoch: what every sampler's ``batches`` yields and the schedule is planned from."""
    return math.ceil(n_queries / batch_size)


def planned_steps(n_queries: int, cfg: TrainConfig) -> int:
    total = cfg.epochs * steps_per_epoch(n_queries, cfg.batch_size)
    return min(total, cfg.max_steps) if cfg.max_steps else total
