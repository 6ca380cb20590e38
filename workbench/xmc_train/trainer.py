"""The training loop: GPU-first (bf16 autocast on GPUs with native bf16), CPU-capable, deterministic, resumable.

One step: the sampler picks the pool for a batch of query ids; the model encodes queries (and, for the dual
encoder, the pool's label texts); each head's (B, C) scores are gathered to the sampler's candidates and the
loss applied (averaged over heads: UniDEC's 1/2 L_DE + 1/2 L_CLF). AdamW, linear warm-up then linear decay to 0
over the planned steps, gradient-norm clipping. Under a time budget the schedule runs on whichever is further, the
steps or the share of the budget spent, so a run the budget ends has still warmed up and decayed to 0 (a sampler
with slow steps is not compared mid-schedule, at a high learning rate, with one that finished its epochs). The
plan is ``epochs * ceil(n_train / batch_size)`` steps (or ``max_steps``): every sampler's ``batches`` must yield exactly
``ceil(n_train / batch_size)`` batches an epoch, and an epoch that does not raises, rather than training past the end of
the schedule at learning rate 0.

Determinism: one ``torch.Generator`` drives batching and sampling; dropout is re-seeded from (seed, step) before
each step, so a run resumed from a checkpoint replays the same steps (bit-identical on CPU). Under a time budget
the schedule's position and the stopping step depend on wall-clock time, so a resumed run then continues the same
sequence of batches but may stop at another step than an uninterrupted one would. A checkpoint holds
model, optimiser, schedule, generator states, sampler state, label cache and the rows so far; it is written
atomically every ``checkpoint_minutes`` (and every ``checkpoint_steps``, for tests).

Rows (one per ``log_every`` steps and per evaluation): step, epoch, wall_s (training wall-clock, evaluation
and checkpoint time excluded), sample_s / refresh_s / encode_s / loss_s / backward_s (seconds summed over the
interval; on CUDA measured with synchronisation), peak_mem_mib (CUDA max allocated during the interval's training
steps, the sampler's per-epoch refresh and evaluations excluded: those would set a floor unrelated to the batch;
NaN on CPU), tokens_per_step (real tokens encoded with gradients: the CPU proxy of activation memory),
seqs_per_step (query and label sequences encoded per step), seqs_per_s (sequences encoded per second of encode +
loss + backward time), seq_len (mean padded length of those sequences:
each encoder batch is cut to its longest text, so this is the length a bare-encoder reference should use), loss,
lr (the rate of the interval's last step: the encoder's, or the classifier's when the encoder is frozen), and at
evaluation points the metrics of :mod:`.evaluate` plus eval_s. Every row also states label_staleness_steps: the
label-cache period N when negatives were scored from it (at most N-1 steps stale), else 0.

With ``bare_probe_every`` k > 0, every k-th log window also times one forward + backward of the encoder alone
(:func:`.bench.encoder_throughput`: random ids, ``batch_size`` sequences at the window's ``seq_len``) and writes its
sequences/s as ``bare_seqs_per_s``: the loop's throughput and its bare-encoder reference are then taken minutes
apart at most, in turn, so a change in the machine's load moves both. The probe is outside ``wall_s`` and leaves
the training unchanged (its gradients are cleared; dropout is re-seeded every step).
"""
from __future__ import annotations

import dataclasses
import time
import weakref
from pathlib import Path
from typing import Callable

import torch

from ..device import bf16_autocast, resolve_device
from ..io import atomic_write
from ..progress import close_done, tqdm
from ..resume import note_resumed
from ..samplers.base import mask_excluded
from .bench import encoder_throughput
from .encoders import to_device
from .models import XMCModel
from .optim import build_optimizer, lr_schedule
from .train_config import ROW_KEYS, TIMERS, TrainConfig, planned_steps, steps_per_epoch

class _Clock:
    """Accumulates seconds per phase; synchronises CUDA so GPU work is charged to the right phase."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.t = time.perf_counter()
        self.acc = dict.fromkeys(TIMERS, 0.0)

    def lap(self, name: str) -> None:
        """Add the seconds since the last lap to ``name`` (CUDA synchronised first, so the work is counted)."""
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.acc[name] += now - self.t
        self.t = now


def positive_columns(batch) -> torch.Tensor:
    """(C,) bool on the CPU: the pool columns that are a positive of some query of ``batch`` (the labels a stale
    label cache must not score). For a (B, C) ``targets`` this is ``targets.any(0)``, computed as a uint8 max:
    ``any`` over dim 0 of a bool matrix takes ~25 ms on one CPU core at 512 x 37K (the ``full`` sampler on the
    Debian set), the max ~1.3 ms."""
    if batch.candidates is None:
        t = batch.targets
        return t.view(torch.uint8).amax(0).bool() if len(t) else torch.zeros(t.shape[1], dtype=torch.bool)
    out = torch.zeros(len(batch.pool), dtype=torch.bool)
    out[batch.candidates[batch.targets]] = True
    return out


class Trainer:
    """Trains ``model`` with ``sampler`` and ``loss`` under ``cfg``.

    ``evaluate``: a callable ``() -> dict`` of test metrics (called in no-grad mode at evaluation points);
    ``checkpoint``: a file path to write and, when it exists at start, resume from; ``tags``: constant columns
    added to every row (sampler name, heads, ...); ``train_heads``: the heads whose losses are averaged (default:
    all the model has; NGAME's M-IV stage trains only ``("clf",)``).
    """

    def __init__(self, model: XMCModel, sampler, loss: Callable, cfg: TrainConfig, *,
                 evaluate: Callable[[], dict] | None = None, checkpoint: str | Path | None = None,
                 tags: dict | None = None, progress: bool = True, train_heads: tuple[str, ...] | None = None,
                 on_step: Callable[[int], None] | None = None):
        cfg.validate()
        self.on_step = on_step  # called with the step count after every training step (e.g. a profiler's step)
        self.train_heads = train_heads
        self.cfg, self.sampler, self.loss = cfg, sampler, loss
        self.evaluate = evaluate if cfg.eval_every >= 0 else None  # -1: never
        self.device = resolve_device(cfg.device)
        self.model = model.to(self.device)
        self.model.queries = model.queries.to(self.device)
        self.model.labels = model.labels.to(self.device)
        self.ckpt = Path(checkpoint) if checkpoint else None
        getattr(sampler, "bind", lambda view: None)(self.model)  # the ModelView samplers read between refreshes
        self.tags, self.progress = dict(tags or {}), progress
        if clash := sorted(ROW_KEYS & set(self.tags)):
            raise ValueError(f"tags {clash} would overwrite the trainer's own row columns; rename them")
        self.total = planned_steps(len(model.queries), cfg)
        self.opt = build_optimizer(model, cfg)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.wall = 0.0
        plan, me = lr_schedule(self.total, cfg.warmup_frac), weakref.ref(self)
        # a weak reference: a lambda holding self would make a cycle, and on CUDA a dropped trainer's model and
        # optimizer state would stay allocated until a gc pass (earlier runs counted in later runs' peak memory)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: plan(me()._schedule_step(s)))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.autocast = bf16_autocast(self.device, cfg.bf16)
        self.rows: list[dict] = []
        self.label_cache: torch.Tensor | None = None
        self.gen_epoch_state = self.gen.get_state()
        self._interval = self._new_interval()

    # ----- the loop -------------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        """Train to the end (epochs, max_steps or time budget) and return all rows."""
        resumed = self._load()
        if not resumed and self.evaluate:
            self._eval_row()
        bar = tqdm(total=self.total, initial=self.step, disable=not self.progress,
                   desc=self.tags.get("sampler", "train"))
        last_ckpt = time.perf_counter()
        while self.epoch < self.cfg.epochs and not self._done():
            batches = self._epoch_batches(resumed)
            resumed = False
            while self.batch_in_epoch < len(batches) and not self._done():
                self._train_step(batches[self.batch_in_epoch])
                if self.on_step is not None:
                    self.on_step(self.step)
                self.batch_in_epoch += 1
                bar.update(1)
                if self.cfg.eval_every > 0 and self.step % self.cfg.eval_every == 0 and self.evaluate:
                    self._eval_row()
                if self._ckpt_due(last_ckpt):
                    self._save()
                    last_ckpt = time.perf_counter()
            if self.batch_in_epoch >= len(batches):
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        close_done(bar)  # a time budget or max_steps ends the loop short of its total
        if self._interval["steps"]:
            self._log_row()
        if self.evaluate and not any("P@1" in r and r["step"] == self.step for r in self.rows[-2:]):
            self._eval_row()  # unless this step was just evaluated (the last log row may follow that evaluation)
        if self.ckpt:
            self._save()
        return self.rows

    def _schedule_step(self, s: int) -> float:
        """Where the schedule is at step ``s``: ``s``, or under a time budget the planned steps times the share of
        the budget spent, when that is further (wall-clock dependent, like the budget's stopping point)."""
        if not self.cfg.time_budget_s:
            return s
        return max(s, self.total * self.wall / self.cfg.time_budget_s)

    def _done(self) -> bool:
        return bool((self.cfg.max_steps and self.step >= self.cfg.max_steps)
                    or (self.cfg.time_budget_s and self.wall >= self.cfg.time_budget_s))

    def _ckpt_due(self, last: float) -> bool:
        if not self.ckpt:
            return False
        by_steps = self.cfg.checkpoint_steps and self.step % self.cfg.checkpoint_steps == 0
        return bool(by_steps or time.perf_counter() - last >= 60 * self.cfg.checkpoint_minutes)

    def _epoch_batches(self, resumed: bool) -> list[torch.Tensor]:
        """The epoch's batches; at a fresh epoch start the sampler refreshes first (timed as refresh_s)."""
        now_state = self.gen.get_state()
        if not resumed:
            t0 = time.perf_counter()
            self.model.eval()
            self.sampler.refresh(self.model, self.epoch, self.step)
            self.model.train()
            self._interval["refresh_s"] += time.perf_counter() - t0
            self.wall += time.perf_counter() - t0
            self.gen_epoch_state = now_state
        # the batch list is drawn from the epoch's start state, so a run resumed mid-epoch re-draws the same list
        self.gen.set_state(self.gen_epoch_state)
        batches = list(self.sampler.batches(self.epoch, self.cfg.batch_size, self.gen))
        expected = steps_per_epoch(len(self.model.queries), self.cfg.batch_size)
        if len(batches) != expected:
            raise RuntimeError(f"sampler {getattr(self.sampler, 'name', self.sampler)!r} gave {len(batches)} "
                               f"batches in epoch {self.epoch}, but the learning-rate schedule is planned from "
                               f"ceil(n_train / batch_size) = {expected} per epoch")
        if resumed:  # continue the generator where the checkpoint left it, not at the epoch start
            self.gen.set_state(now_state)
        return batches

    # ----- one step -------------------------------------------------------------------------------------
    def _train_step(self, queries: torch.Tensor) -> None:
        clock, t_start = _Clock(self.device), time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        # dropout masks depend on (seed, step) only, so a resumed run replays them; the prime keeps the seeds of
        # different runs' steps apart (seed 1 step 0 is not seed 0 step 1)
        torch.manual_seed(self.cfg.seed * 1_000_003 + self.step)
        self._refresh_label_cache(clock)
        step_refresh = getattr(self.sampler, "refresh_step", None)  # e.g. lsh's tables, rebuilt every N steps
        if step_refresh is not None and step_refresh():
            clock.lap("refresh_s")
        batch = mask_excluded(self.sampler.sample(queries, self.gen), getattr(self.sampler, "pos", None))
        clock.lap("sample_s")
        fresh = None if self.label_cache is None else positive_columns(batch)
        with torch.autocast("cuda", torch.bfloat16, enabled=self.autocast):
            q = self.model.encode(self.model.queries, batch.queries)
            scores = self.model.scores(q, batch.pool, self.label_cache, fresh, self.train_heads)  # CPU ids: no sync
        clock.lap("encode_s")
        loss = self._loss(scores, batch)
        clock.lap("loss_s")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], self.cfg.clip_norm)
        self.opt.step()
        self._interval["lr"] = self.sched.get_last_lr()[0]  # the rate this step used, before the schedule moves
        self.sched.step()
        clock.lap("backward_s")
        self.step += 1
        self.wall += time.perf_counter() - t_start
        self._account(clock, batch, fresh, float(loss.detach()))
        if self.device.type == "cuda":
            self._interval["peak_mib"] = max(self._interval["peak_mib"],
                                            torch.cuda.max_memory_allocated(self.device) / 2**20)
        if self.step % self.cfg.log_every == 0:
            self._log_row()

    def _loss(self, scores: dict[str, torch.Tensor], batch) -> torch.Tensor:
        targets, valid, log_q, candidates = (None if t is None else to_device(t, self.device)
                                             for t in (batch.targets, batch.valid, batch.log_q, batch.candidates))
        used = list(scores.values())   # only the trained heads were scored
        total = 0.0
        for s in used:
            if candidates is not None:
                s = s.gather(1, candidates)
            total = total + self.loss(s, targets, valid, log_q)
        return total / len(used)

    def _uses_label_cache(self) -> bool:
        """Whether the non-positive labels' embeddings are read from the cache (a period set, a sampler that
        allows it, a trained head that reads label embeddings: the DE, or a residual classifier)."""
        return (bool(self.cfg.label_cache_steps) and getattr(self.sampler, "stale_ok", False)
                and self.model.encodes_labels(self.train_heads))

    def _refresh_label_cache(self, clock: _Clock) -> None:
        n = self.cfg.label_cache_steps
        if not self._uses_label_cache():
            return
        if self.label_cache is None or self.step % n == 0:
            self.label_cache = self.model.embed_all(self.model.labels)
            clock.lap("refresh_s")

    def _account(self, clock: _Clock, batch, fresh, loss: float) -> None:
        iv = self._interval
        for k, v in clock.acc.items():
            iv[k] += v
        iv["steps"] += 1
        iv["loss"] += loss
        if self.model.freeze_encoder:  # nothing is encoded with gradients
            return
        encoded = [(self.model.queries, batch.queries)]
        if self.model.encodes_labels(self.train_heads):
            encoded.append((self.model.labels, batch.pool if fresh is None else batch.pool[fresh]))
        iv["seqs"] += sum(len(rows) for _, rows in encoded)
        iv["tokens"] += sum(table.tokens(rows) for table, rows in encoded)
        iv["padded"] += sum(table.padded_tokens(rows) for table, rows in encoded)

    # ----- rows -----------------------------------------------------------------------------------------
    def _new_interval(self) -> dict:
        return {**dict.fromkeys(TIMERS, 0.0), "steps": 0, "loss": 0.0, "seqs": 0, "tokens": 0, "padded": 0,
                "peak_mib": 0.0 if self.device.type == "cuda" else float("nan")}

    def _base_row(self) -> dict:
        return {**self.tags, "step": self.step, "epoch": self.epoch, "wall_s": round(self.wall, 4),
                "label_staleness_steps": self.cfg.label_cache_steps if self._uses_label_cache() else 0}

    def _log_row(self) -> None:
        iv, n = self._interval, max(self._interval["steps"], 1)
        busy = iv["encode_s"] + iv["loss_s"] + iv["backward_s"]
        self.rows.append({**self._base_row(), **{k: iv[k] for k in TIMERS}, "steps": iv["steps"],
                          "peak_mem_mib": iv["peak_mib"], "tokens_per_step": iv["tokens"] / n,
                          "seqs_per_step": iv["seqs"] / n,
                          "seqs_per_s": iv["seqs"] / busy if busy > 0 else float("nan"),
                          "seq_len": iv["padded"] / iv["seqs"] if iv["seqs"] else float("nan"),
                          "loss": iv["loss"] / n, "lr": iv.get("lr", float("nan")),
                          "bare_seqs_per_s": self._bare_probe(iv)})
        self._interval = self._new_interval()

    def _bare_probe(self, iv: dict) -> float:
        """Sequences/s of one bare encoder step at this window's padded length, on every ``bare_probe_every``-th
        full window that encoded anything (NaN otherwise); called outside ``wall_s``."""
        every = self.cfg.bare_probe_every * self.cfg.log_every
        if not every or self.step % every or not iv["seqs"]:
            return float("nan")
        length = max(1, round(iv["padded"] / iv["seqs"]))
        return encoder_throughput(self.model.encoder, self.cfg.batch_size, length, steps=1, warmup=0,
                                  device=self.device, bf16=self.cfg.bf16)["seqs_per_s"]

    def _eval_row(self) -> None:
        t0 = time.perf_counter()
        self.model.eval()
        with torch.no_grad():
            metrics = self.evaluate()
        self.model.train()
        self.rows.append({**self._base_row(), **metrics, "eval_s": time.perf_counter() - t0})

    # ----- checkpoints ----------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "gen": self.gen.get_state(), "gen_epoch": self.gen_epoch_state, "step": self.step,
                "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "wall": self.wall,
                "rows": self.rows, "interval": self._interval, "label_cache": self.label_cache,
                "sampler": getattr(self.sampler, "state_dict", dict)(), "config": dataclasses.asdict(self.cfg)}

    def _save(self) -> None:
        state = self._state()
        atomic_write(self.ckpt, lambda p: torch.save(state, p))

    def _load(self) -> bool:
        """Resume from ``self.ckpt`` when it exists; True if resumed."""
        if not self.ckpt or not self.ckpt.exists():
            return False
        # CPU first: sampler state (shortlists, clusters) must stay on the CPU where the samplers index it;
        # model and optimiser state are copied to the parameters' device by load_state_dict
        st = torch.load(self.ckpt, map_location="cpu", weights_only=False)
        if st["config"] != dataclasses.asdict(self.cfg):
            raise ValueError(f"checkpoint {self.ckpt} was written with a different TrainConfig; "
                             "delete it or use the same parameters")
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.gen.set_state(st["gen"].cpu())
        self.gen_epoch_state = st["gen_epoch"].cpu()
        self.step, self.epoch, self.batch_in_epoch = st["step"], st["epoch"], st["batch_in_epoch"]
        self.wall, self.rows, self._interval = st["wall"], st["rows"], st["interval"]
        self.label_cache = None if st["label_cache"] is None else st["label_cache"].to(self.device)
        if hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(st["sampler"])
        # a mid-epoch resume skips the epoch-start refresh that puts the model in training mode (encoders are
        # built in eval mode): without this the resumed steps would run without dropout
        self.model.train()
        # said in the run's record (resumed_units): these rows' wall_s goes on from the earlier attempt's clock
        note_resumed(self.ckpt.parent, f"{self.ckpt.stem}: training continued from its checkpoint at step "
                                       f"{self.step}")
        return True
