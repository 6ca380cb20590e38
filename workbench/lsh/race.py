"""Wall-clock-to-accuracy race: train :class:`BowSoftmax` with one negative-sampling method under a time budget,
evaluating P@1 / P@5 on held-out points every few steps (evaluation time is not counted).

Methods: ``"full"`` (full softmax) or a drawer name of :data:`workbench.lsh.drawers.DRAWERS`, optionally with
variant flags after colons (:data:`VARIANTS`): ``"lsh-embedding:nologq"``, ``"lsh-embedding:center"``. LSH methods
keep an index over the output layer, rehashed every ``rehash_every`` steps and redrawn every ``redraw_every``
(0 = never); both count as training time.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np
import torch

from ..progress import close_done, tqdm
from ..timing import sync
from ..xmc.metrics import xmc_metrics
from .bowdata import BowData, bag_tensors, padded_positives
from .drawers import DRAWERS
from .params import LSHParams, build_index
from .softmax_model import BowSoftmax, full_loss, optimizers, predict_topk, sampled_loss
from .tables import crowding

KS = (1, 5)  # the precisions evaluate reports: a dataset needs at least max(KS) labels to rank
# (step, training seconds, model, LSH index or None, steps since the index last hashed the weights (NaN: none))
OnEval = Callable[[int, float, BowSoftmax, object, float], None]


VARIANTS = {"nologq": "sampled softmax without the logQ correction",
            "center": "LSH only: the tables hash the label vectors minus their mean (LSHParams.center)"}


@dataclasses.dataclass(frozen=True)
class Method:
    """A race entrant parsed: its sampler (a drawer name or ``"full"``) and its variant flags."""
    sampler: str
    logq: bool = True
    center: bool = False


def parse_method(method: str) -> Method:
    """``"lsh-label:nologq"`` -> ``Method("lsh-label", logq=False)``; flags of :data:`VARIANTS`, each at most once,
    ``center`` on LSH samplers only; unknown names raise, listing the known ones. Racing ``m`` beside ``m:center``
    compares plain and centred hashing in one run (``center=true`` centres every LSH method instead)."""
    name, *flags = method.split(":")
    unknown = sorted(set(flags) - set(VARIANTS))
    if unknown or len(set(flags)) < len(flags):
        raise ValueError(f"method variants are ':' + one of {list(VARIANTS)}, each at most once; got {method!r}")
    if name != "full" and name not in DRAWERS.names():
        raise ValueError(f"unknown method {name!r} in {method!r}; methods: {['full', *DRAWERS.names()]}, each "
                         f"optionally with {', '.join(':' + v for v in VARIANTS)}")
    if "center" in flags and not name.startswith("lsh"):
        raise ValueError(f"':center' changes how LSH tables hash; {name!r} has none (in {method!r})")
    return Method(name, logq="nologq" not in flags, center="center" in flags)


def evaluate(model: BowSoftmax, data: BowData, n: int, device: torch.device) -> dict[str, float]:
    """P@1, P@5 (percent) on the first ``n`` test points, and ``top1_share``: the share of those points whose top
    label is the most often predicted one (1/n: all different; 1.0: one label predicted for every point).

    ``top1_share`` tells a collapse onto a few labels from learning. Measured at 10^6 synthetic (Zipf) labels, 2 CPU
    cores, 1000 test points: early on, uniform and log-uniform negatives both predict a head label for most points
    (share 0.67 at step 50, a label of ~20K training points; P@1 24). Log-uniform negatives, which draw head labels
    often, then spread their predictions (share 0.46, P@1 36 at step 200). Uniform ones, which almost never draw a
    given label, moved the collapse onto ever rarer labels (train frequency 834, then 416) that one point in a
    hundred or fewer has: a share of 0.98-0.99 and P@1 1.4, then 0.2, at steps 150-200, before the predictions
    spread (share 0.26, P@1 18.6 at step 300). These are the swings of uniform's curve in that race, with and
    without the logQ correction alike."""
    rows = np.arange(min(n, data.X_test.shape[0]))
    with torch.no_grad():
        h = model.hidden(*bag_tensors(data.X_test, rows, device))
        top = predict_topk(model, h, max(KS))
    m = xmc_metrics(top.cpu(), data.Y_test[rows], ks=KS)
    share = torch.unique(top[:, 0], return_counts=True)[1].max().item() / len(rows) if len(rows) else 0.0
    return {"P@1": m["P@1"], "P@5": m["P@5"], "top1_share": share}


def train_one(data: BowData, method: str, *, params: LSHParams, budget: int, batch_size: int, lr: float,
              hidden: int, time_budget_s: float, max_steps: int, eval_every: int, eval_points: int,
              device: torch.device, seed: int = 0, on_eval: OnEval | None = None,
              eval_every_s: float = 0.0) -> list[dict]:
    """Tidy rows ``{method, step, train_s, P@1, P@5, top1_share, loss, rehash_s, ...}`` at every evaluation: every
    ``eval_every`` steps, and also each time another ``eval_every_s`` seconds of training have passed (0: off),
    so that a method with slow steps (the full softmax over 10^6 labels) still draws a curve, and at the end.
    Rows of LSH methods also hold their tables' ``largest_bucket`` and ``over_cap_share``
    (:func:`workbench.lsh.tables.crowding`) and ``table_age``: the steps taken since the tables last hashed the
    weights (with ``eval_every`` a multiple of ``rehash_every``, every evaluation sees the oldest tables of the
    cycle)."""
    m = parse_method(method)
    name, logq = m.sampler, m.logq
    if m.center:
        params = dataclasses.replace(params, center=True)
    model = BowSoftmax(data.num_features, data.num_labels, hidden, seed).to(device)
    opts = optimizers(model, lr, dense_output=name == "full")
    gen = torch.Generator(device=device).manual_seed(seed)
    index = build_index(params, model.W.shape[1], device) if name.startswith("lsh") else None
    draw = None if name == "full" else DRAWERS.get(name)(
        data.num_labels, budget, index=index, label_order=data.label_order().to(device), log_q=logq)
    rng = np.random.default_rng(seed)
    rows, clock, rehash_s, step, loss = [], 0.0, 0.0, 0, float("nan")
    last = {"rehash": None, "redraw": None}   # steps of the index's last rehash / redraw (params.due reads them)
    next_eval_s = eval_every_s if eval_every_s > 0 else float("inf")
    order = rng.permutation(data.X_train.shape[0])
    bar = tqdm(total=max_steps, desc=method, leave=False)
    while step < max_steps and clock < time_budget_s:
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(data.X_train.shape[0])])
        batch, order = order[:batch_size], order[batch_size:]
        t0 = time.perf_counter()
        rehash_s += _maintain(index, params, model, step, last)
        loss = _step(model, opts, data, batch, draw, logq, gen, device)
        sync(device)
        clock += time.perf_counter() - t0
        step += 1
        bar.update(1)
        if step % eval_every == 0 or clock >= next_eval_s or step >= max_steps or clock >= time_budget_s:
            while next_eval_s <= clock:
                next_eval_s += eval_every_s
            crowd = crowding(index.tables.full, index.cap, data.num_labels) if index is not None else {}
            age = float(step - last["rehash"]) if index is not None else float("nan")
            rows.append({"method": method, "sampler": name, "logq": logq, "center": bool(index and index.center),
                         "step": step, "train_s": clock, "loss": loss, "rehash_s": rehash_s,
                         **evaluate(model, data, eval_points, device), **crowd,
                         **({"table_age": age} if index is not None else {})})
            if on_eval is not None:
                on_eval(step, clock, model, index, age)
    close_done(bar)  # a time budget ends the loop short of max_steps
    return rows


def _maintain(index, params: LSHParams, model: BowSoftmax, step: int, last: dict) -> float:
    """Build / rehash / redraw the LSH index when :meth:`LSHParams.due` says so (step 0 builds it), updating
    ``last``; seconds spent."""
    what = None if index is None else params.due(step, last["rehash"], last["redraw"])
    if what is None:
        return 0.0   # no copy of W here: an (N, hidden + 1) clone every step would make the step O(N)
    W = model.W.detach().clone()   # a snapshot: log_q must describe what was hashed, not the moving weights
    last["rehash"] = step
    if what != "rehash":
        last["redraw"] = step   # a build draws the index's first functions
    return index.redraw(W) if what == "redraw" else index.rehash(W)


def _step(model, opts, data: BowData, batch: np.ndarray, draw, logq: bool, gen, device) -> float:
    h = model.hidden(*bag_tensors(data.X_train, batch, device))
    pos = padded_positives(data.Y_train, batch, device)
    if draw is None:
        loss = full_loss(model, h, pos)
    else:
        neg = draw(model.query(h.detach()), pos, model.W.detach(), gen)
        loss = sampled_loss(model, h, pos, neg, logq)
    for o in opts:
        o.zero_grad(set_to_none=True)
    loss.backward()
    for o in opts:
        o.step()
    return float(loss.detach())
