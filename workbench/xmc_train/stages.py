"""Training in the negative-mining study: a fresh model per sampler, one sampler's training, the classifier stages
after it (NGAME's M-IV, a full-BCE classifier), each model's heads and fusion sweep, NGAME's schedule rows and the
memory sweep; all from a :class:`~.study.NegativeMiningConfig` and the :class:`~.study.Prepared` data."""
from __future__ import annotations

import dataclasses
import math
import statistics
from pathlib import Path

import torch

from ..device import release_cuda_memory, resolve_device
from ..progress import tqdm
from ..samplers import build_sampler
from .evaluate import evaluate, fusion_sweep
from .losses import build_loss
from .models import XMCModel
from .encoders import get_encoder
from .study import NegativeMiningConfig, Prepared
from .train_config import steps_per_epoch
from .trainer import Trainer


def build_model(cfg: NegativeMiningConfig, prep: Prepared, heads: str | None = None) -> XMCModel:
    """A fresh model on ``cfg.device``: every sampler starts from the same encoder weights (same seed)."""
    # on the device before init_classifier: it encodes every label text (37K on the full Debian set), which
    # would otherwise run on the CPU of a GPU run, once per sampler and per memory-sweep batch size
    enc = get_encoder(cfg.encoder, cfg.seed, cfg.max_length).to(resolve_device(cfg.device))
    heads = heads or cfg.heads
    # every classifier head gets cfg.classifier_form (residual by default): free rows on an encoder that trains
    # stop matching its queries (models.py); a residual one encodes its pool's label texts, as a DE does
    model = XMCModel(enc, prep.train, prep.labels, heads=heads, freeze_encoder=cfg.freeze_encoder,
                     classifier_form=cfg.classifier_form)
    model.init_classifier()
    return model


def excluding_filter_pairs(cfg: NegativeMiningConfig, prep: Prepared, sampler):
    """``sampler`` with the training split's filter pairs (on Debian a query's own package: identical text, which
    evaluation removes from the predictions) kept out of its negatives, when ``cfg.exclude_filter_pairs``
    (:meth:`workbench.samplers.positives.Positives.exclude`). Measured on the full Debian set before: 20,149 of
    33,724 training queries have one; it was the top of every ANCE shortlist and UniDEC's first hard negative,
    and masking it moved UniDEC's PSP@1 by +1.5 to +3.1 over three seeds (2 epochs, tiny encoder)."""
    if cfg.exclude_filter_pairs and len(prep.data.filter_train):
        sampler.pos.exclude(prep.data.filter_train)
    return sampler


def train_sampler(cfg: NegativeMiningConfig, prep: Prepared, sampler: str, *, checkpoint: Path | None = None,
                  progress: bool = True, on_step=None, label: str | None = None,
                  **train_over) -> tuple[list[dict], XMCModel, object]:
    """Train one sampler; (rows tagged with sampler / heads / batch size, the trained model, the sampler).
    ``on_step(step)`` is called after every training step; ``label`` tags the rows instead of ``sampler``."""
    if cfg.cpu_threads > 0:  # as prepare() does, for callers that train without it (tests, the memory sweep)
        torch.set_num_threads(cfg.cpu_threads)
    heads = cfg.heads_for(sampler)
    model = build_model(cfg, prep, heads)
    s = excluding_filter_pairs(cfg, prep, build_sampler(sampler, prep.data.Y_train, cfg.sampler_config(sampler),
                                                        **cfg.sampler_options(sampler)))
    tcfg = cfg.train_config(**train_over)
    test = prep.test.to(resolve_device(cfg.device))
    loss = cfg.loss_for(sampler)
    tags = {"sampler": label or sampler, "heads": heads, "loss_fn": loss, "batch_size": tcfg.batch_size}

    def ev() -> dict:  # the trainer never calls it at eval_every -1
        return evaluate(model, prep.data, test, alpha=cfg.fuse_alpha)
    tr = Trainer(model, s, build_loss(loss, **cfg.loss_params(loss)), tcfg, evaluate=ev, checkpoint=checkpoint,
                 tags=tags, progress=progress, on_step=on_step)
    return tr.run(), model, s


def memory_sweep(cfg: NegativeMiningConfig, prep: Prepared, samplers: list[str] | None = None) -> list[dict]:
    """A few steps per (sampler, batch size), no evaluation: peak CUDA memory over the steps (CPU: encoded tokens
    per step as the proxy) and seconds per step, the median of the steps after the first (a fresh model's first
    step pays its warm-up; all steps when there is one). One row per pair; a CUDA out-of-memory gives a row with
    ``oom`` True and ends that sampler's sweep (larger batches would not fit either). Each pair's model and
    sampler are dropped before the next pair's peak is measured."""
    rows, oom = [], set()
    pairs = [(name, bs) for name in samplers or cfg.samplers for bs in sorted(cfg.memory_batch_sizes)]
    for name, bs in tqdm(pairs, desc="memory sweep", leave=False):
        if name in oom:  # larger batches would not fit either
            continue
        release_cuda_memory()  # earlier runs' tensors must not count in this one's peak
        try:  # only the rows are kept: the model (and a sampler bound to it, as lsh's) goes at once
            r = train_sampler(cfg, prep, name, progress=False, batch_size=bs, max_steps=cfg.memory_steps,
                              eval_every=-1, log_every=1, time_budget_s=0.0, bare_probe_every=0)[0]
        except torch.OutOfMemoryError:
            rows.append({"sampler": name, "batch_size": bs, "oom": True})
            oom.add(name)
            continue
        steps = [x for x in r if "loss" in x]
        busy = [sum(x[k] for k in ("sample_s", "encode_s", "loss_s", "backward_s")) / x["steps"] for x in steps]
        peaks = [x["peak_mem_mib"] for x in steps]
        rows.append({"sampler": name, "batch_size": bs, "oom": False,
                     "peak_mem_mib": max(peaks) if all(p == p for p in peaks) else math.nan,
                     "tokens_per_step": sum(x["tokens_per_step"] for x in steps) / len(steps),
                     "step_s": statistics.median(busy[1:] or busy)})
    return rows


# The fusion weights every two-head model is also scored at (on the test split: a sensitivity curve, never used to
# pick the reported alpha, which is ``fuse_alpha``). Frozen zero-shot MiniLM + full-BCE classifier, full Debian,
# scored on a held-out 1/7 of the training queries: P@1 peaks at alpha 0.2-0.3, PSP@5 at 0.4-0.5.
FUSION_ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def head_rows(cfg: NegativeMiningConfig, prep: Prepared, model: XMCModel, sampler: str) -> list[dict]:
    """For a two-head model, the test metrics of ``alpha * DE + (1 - alpha) * CLF`` for each alpha of
    :data:`FUSION_ALPHAS` and ``cfg.fuse_alpha``, ascending. ``head`` is ``"clf"`` at alpha 0, ``"de"`` at 1 and
    ``"fused"`` between; ``headline`` marks the three rows the study reports (classifier, DE, fusion at
    ``fuse_alpha``); the others are the sweep. Empty for a one-head model."""
    if model.heads != "de+clf":
        return []
    sweep = fusion_sweep(model, prep.data, prep.test.to(model.device), sorted({*FUSION_ALPHAS, cfg.fuse_alpha}))
    return [{"sampler": sampler, "head": "clf" if r["alpha"] == 0 else "de" if r["alpha"] == 1 else "fused", **r,
             "headline": r["alpha"] in (0.0, 1.0, cfg.fuse_alpha)} for r in sweep]


def classifier_stage(cfg: NegativeMiningConfig, prep: Prepared, trained: XMCModel, sampler, loss: str,
                     loss_params: dict, epochs: int, tag: str, wall_offset: float = 0.0,
                     progress: bool = True, **train_over) -> tuple[list[dict], XMCModel]:
    """One-vs-all classifiers on the frozen encoder of a ``trained`` dual encoder, initialised from its label
    embeddings, trained ``epochs`` with ``sampler`` and the ``loss`` named (classifier head only), evaluated fused
    (``fuse_alpha`` DE + rest classifier). Rows are tagged ``tag``, their ``wall_s`` shifted by ``wall_offset``
    (the encoder's training time) so the curve continues the encoder's, and carry it as ``stage_start_s`` (their
    step counts and timers are the stage's own). ``train_over`` overrides
    :class:`TrainConfig` fields (NGAME M-IV: its own learning rate, row-sparse Adam)."""
    model = XMCModel(trained.encoder, prep.train, prep.labels, heads="de+clf", freeze_encoder=True)
    model.init_classifier()
    tcfg = cfg.train_config(**{"epochs": epochs, **train_over})
    test = prep.test.to(resolve_device(cfg.device))
    tags = {"sampler": tag, "heads": "de+clf", "loss_fn": loss, "batch_size": tcfg.batch_size}
    tr = Trainer(model, sampler, build_loss(loss, **loss_params), tcfg, tags=tags, progress=progress,
                 evaluate=lambda: evaluate(model, prep.data, test, alpha=cfg.fuse_alpha), train_heads=("clf",))
    return [{**r, "wall_s": r["wall_s"] + wall_offset, "stage_start_s": wall_offset} for r in tr.run()], model


# NGAME M-IV's optimiser, as the official code's "extreme" stage: SparseAdam (only the pool's rows move) at lr 1e-3.
# Not ``clf_lr``: that is the full-BCE stage's (dense gradients, every row every step), and at its 0.01 with dense
# AdamW M-IV lowered P@1 below its initialisation (H100, Debian: 40.7 -> 31.5 classifier alone; frozen MiniLM on
# a CPU: 32.0 -> 27.3). Frozen MiniLM, 5 epochs: lr 1e-3 row-sparse 33.4, 3e-3 33.4, 1e-2 30.6; dense 1e-3 33.2.
M4_LR = 1e-3


def ngame_classifier_stage(cfg: NegativeMiningConfig, prep: Prepared, m1: XMCModel, wall_offset: float = 0.0,
                           progress: bool = True) -> tuple[list[dict], XMCModel]:
    """NGAME M-IV (tagged ``ngame M-IV``): the classifier stage on clustered batches with the 3 least similar
    positives and 5 hardest in-pool negatives per query (triplet, margin 0.2), ``ngame_m4_epochs`` epochs, with
    row-sparse Adam at :data:`M4_LR` (not ``clf_lr``)."""
    from ..samplers.ngame import NgameSampler
    # up to 3 sampled positives per query in the pool, so that the loss has 3 to pick the least similar from
    scfg = cfg.sampler_config("ngame")
    s = excluding_filter_pairs(cfg, prep, NgameSampler(
        prep.data.Y_train, dataclasses.replace(scfg, cluster_start=0, positives_per_query=3),
        fixed_size=scfg.cluster_size_max))
    params = {"margin": 0.2, "hardest": 5, "weight_temperature": 0.0, "positives": 3}
    return classifier_stage(cfg, prep, m1, s, "triplet", params, cfg.ngame_m4_epochs, "ngame M-IV", wall_offset,
                            progress, clf_lr=M4_LR, clf_row_sparse=True)


def full_bce_stage(cfg: NegativeMiningConfig, prep: Prepared, trained: XMCModel, name: str,
                   wall_offset: float = 0.0, progress: bool = True) -> tuple[list[dict], XMCModel]:
    """The issue's strongest simple recipe after a dual encoder (tagged ``<name> +BCE clf``): the classifier
    stage with the full BCE over every label (``full`` sampler, prior logit), ``bce_stage_epochs`` epochs."""
    s = excluding_filter_pairs(cfg, prep, build_sampler("full", prep.data.Y_train, cfg.sampler_config("full")))
    return classifier_stage(cfg, prep, trained, s, "bce", cfg.loss_params("bce"), cfg.bce_stage_epochs,
                            f"{name} +BCE clf", wall_offset, progress)


def schedule_rows(sampler, epochs: int) -> list[dict]:
    """NGAME's cluster size per epoch (``cluster_size``, the schedule's bound) and the mean points of the clusters
    in use (``mean_points``: balanced 2-means halves until each fits, so between about half the bound and all of
    it; NaN while batches are random), with the re-clustering cost where one happened (0 elsewhere), for the
    ``epochs`` the run trained (a time budget or ``max_steps`` can stop it before the configured count)."""
    cost = {c["epoch"]: c for c in getattr(sampler, "costs", [])}
    rows, mean = [], math.nan
    for e in range(epochs):
        c = cost.get(e, {})
        if "clusters" in c:
            mean = sampler.pos.num_queries / c["clusters"]
        rows.append({"epoch": e, "cluster_size": sampler.cluster_size(e),
                     "mean_points": mean if sampler.cluster_size(e) > 1 else math.nan,
                     "refresh_s": c.get("refresh_s", 0.0), "encode_s": c.get("encode_s", 0.0),
                     "cluster_s": c.get("cluster_s", 0.0)})
    return rows


def epochs_trained(rows: list[dict], n_queries: int, batch_size: int) -> int:
    """Epochs a run's training steps reached into (0 when it took none)."""
    last = max((r["step"] for r in rows), default=0)
    return math.ceil(last / steps_per_epoch(n_queries, batch_size))
