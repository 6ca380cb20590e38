"""The study's comparison runs: every sampler in turn (plus NGAME's classifier stage), and the GPU
memory-capped largest-batch comparison of ANCE-style explicit negatives against NGAME's in-batch ones."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import torch

from ..device import release_cuda_memory
from ..resume import Memo, config_key, no_memo
from .stages import (epochs_trained, full_bce_stage, head_rows, ngame_classifier_stage, schedule_rows,
                     train_sampler)
from .study import NegativeMiningConfig, Prepared
from .variants import Variant, file_name, variant_config


@dataclasses.dataclass
class Comparison:
    """Rows of every training run, per-head metrics of two-head models, NGAME's cluster schedule."""
    rows: list[dict]
    heads: list[dict]
    schedule: list[dict]


def compare_samplers(cfg: NegativeMiningConfig, prep: Prepared, on_rows: Callable[[list[dict]], object] | None = None,
                     progress: bool = True, checkpoint_dir: str | Path | None = None,
                     memo: Memo = no_memo) -> Comparison:
    """Train each of ``cfg.samplers`` from the same start; ``on_rows`` gets each run's rows as it finishes.
    After ``ngame`` (M1), its M-IV classifier stage runs when ``ngame_m4_epochs`` > 0; after each sampler in
    ``bce_stage_after``, a full-BCE classifier stage on its frozen encoder. Then each of ``cfg.variants``
    (:mod:`.variants`), its rows tagged with its label.

    Two levels of resuming. ``memo`` units are a sampler with its stages (rows, head rows, schedule). With
    ``checkpoint_dir`` every sampler's training also checkpoints there (every ``checkpoint_minutes``) under a
    name keyed by sampler and config, so a re-run after a crash resumes an unfinished training where it stopped
    (a finished one returns its rows at once); the checkpoints are deleted when the whole comparison is done.
    """
    out = Comparison([], [], [])
    ckpts = []
    for name in cfg.samplers:
        ckpt = Path(checkpoint_dir) / f"{name}-{config_key(cfg)}.pt" if checkpoint_dir else None
        ckpts += [ckpt] if ckpt else []
        batches, heads, schedule = memo(f"sampler-{name}", lambda name=name, ckpt=ckpt: _one_sampler(
            cfg, prep, name, ckpt, progress))
        out.heads += heads
        out.schedule = schedule or out.schedule
        for b in batches:
            out.rows += b
            if on_rows:
                on_rows(b)
    for v in cfg.variant_runs():
        vcfg = variant_config(cfg, v)
        ckpt = Path(checkpoint_dir) / f"{file_name(v.label)}-{config_key(vcfg)}.pt" if checkpoint_dir else None
        ckpts += [ckpt] if ckpt else []
        rows, heads = memo(f"variant-{file_name(v.label)}", lambda v=v, vcfg=vcfg, ckpt=ckpt: _one_variant(
            vcfg, prep, v, ckpt, progress))
        out.rows += rows
        out.heads += heads
        if on_rows:
            on_rows(rows)
    for ckpt in ckpts:
        ckpt.unlink(missing_ok=True)
    if checkpoint_dir and Path(checkpoint_dir).is_dir() and not any(Path(checkpoint_dir).iterdir()):
        Path(checkpoint_dir).rmdir()
    return out


def _one_sampler(cfg: NegativeMiningConfig, prep: Prepared, name: str, ckpt: Path | None,
                 progress: bool) -> tuple[list[list[dict]], list[dict], list[dict]]:
    """One sampler's training and stages: (row batches, head rows, NGAME's schedule rows or [])."""
    rows, model, sampler = train_sampler(cfg, prep, name, progress=progress, checkpoint=ckpt)
    batches, heads, schedule = [rows], head_rows(cfg, prep, model, name), []
    if name == "ngame":
        schedule = schedule_rows(sampler, epochs_trained(rows, len(prep.train), cfg.batch_size))
        if cfg.ngame_m4_epochs > 0:
            m4_rows, m4 = ngame_classifier_stage(cfg, prep, model, wall_offset=rows[-1]["wall_s"], progress=progress)
            batches.append(m4_rows)
            heads += head_rows(cfg, prep, m4, "ngame M-IV")
    if name in cfg.bce_stage_after:
        bce_rows, bce = full_bce_stage(cfg, prep, model, name, wall_offset=rows[-1]["wall_s"], progress=progress)
        batches.append(bce_rows)
        heads += head_rows(cfg, prep, bce, f"{name} +BCE clf")
    return batches, heads, schedule


def _one_variant(cfg: NegativeMiningConfig, prep: Prepared, v: Variant, ckpt: Path | None,
                 progress: bool) -> tuple[list[dict], list[dict]]:
    """One variant's training (``cfg`` already its :func:`variant_config`): rows and head rows under its label."""
    rows, model, _ = train_sampler(cfg, prep, v.sampler, progress=progress, checkpoint=ckpt, label=v.label)
    return rows, head_rows(cfg, prep, model, v.label)


def capped_comparison(cfg: NegativeMiningConfig, prep: Prepared, samplers: tuple[str, ...] = ("ance", "ngame"),
                      sizes: list[int] | None = None) -> tuple[list[dict], list[dict]]:
    """Under ``memory_cap_fraction`` of the GPU: the largest batch (of ``sizes``, default powers of two from
    64 to 16384, then bisected twice: within 25%) each sampler trains at, then a full training run at that batch.
    Returns (one row per sampler: largest batch, the smallest that ran out of memory in the trials (NaN: none did)
    and cap, and for ngame its run's largest cluster bound and mean cluster size (of :func:`stages.schedule_rows`;
    NaN when it never clustered); the training rows, sampler tagged ``<name>@cap``). Every run keeps ``cfg.lr``:
    not rescaled with its batch, which leaves the larger batch at a disadvantage if anything. CUDA only."""
    from .capacity import largest_batch
    sizes = sizes or [2 ** i for i in range(6, 15)]
    caps, rows = [], []
    for name in samplers:
        # no time budget in the trial: its two steps always run (a first refresh longer than the budget would
        # leave none, and the size would count as fitting untested)
        def attempt(bs: int, name=name) -> None:
            train_sampler(cfg, prep, name, progress=False, batch_size=bs, max_steps=2, eval_every=-1,
                          bare_probe_every=0, time_budget_s=0.0)
        res = largest_batch(attempt, sizes, cfg.memory_cap_fraction, refine=2)
        cap = {"sampler": name, "largest_batch": res["largest_batch"],
               "fit": ("none fits" if not res["largest_batch"] else "largest that fits" if res["bounded"]
                       else "at least (no size tried ran out of memory)"),
               "first_oom": min((b for b, ok in res["tried"] if not ok), default=float("nan")),
               "cap_mib": res["cap_mib"], "full_run": "ok"}
        caps.append(cap)
        if not res["largest_batch"]:
            cap["full_run"] = "skipped: no batch size fits under the cap"
            continue
        # the 2-step trial saw neither clustered batches nor a refresh, which can need more: an OOM in the full
        # run is a result (recorded), not a reason to lose the whole study
        release_cuda_memory()  # the trials' models and their out-of-memory tracebacks
        torch.cuda.set_per_process_memory_fraction(cfg.memory_cap_fraction)
        # evaluated every as many training queries as the comparison runs are (eval_every steps of batch_size):
        # at its own steps' count a larger batch would be evaluated less often in time, and read later to target
        every = (max(1, round(cfg.eval_every * cfg.batch_size / res["largest_batch"])) if cfg.eval_every > 0
                 else cfg.eval_every)
        try:
            r, _, sampler = train_sampler(cfg, prep, name, batch_size=res["largest_batch"], bare_probe_every=0,
                                          eval_every=every)
            if name == "ngame":  # how much clustering shaped batches this large (verdicts.capped_schedule_lines)
                sched = schedule_rows(sampler, epochs_trained(r, len(prep.train), res["largest_batch"]))
                means = [x["mean_points"] for x in sched if x["mean_points"] == x["mean_points"]]
                cap.update(cluster_bound=max((x["cluster_size"] for x in sched), default=1),
                           mean_cluster_points=max(means, default=float("nan")))
            del sampler
        except torch.OutOfMemoryError:
            cap["full_run"] = "out of memory after the trial steps"
            continue
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0)
            release_cuda_memory()
        rows += [{**x, "sampler": f"{name}@cap"} for x in r]
    return caps, rows
