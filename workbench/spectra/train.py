"""Minimal full-tensor training loop for the spectra studies: optimisers by name, epochs over shuffled batches.

Data are whole tensors already on the device (digits, CIFAR-10 fit in memory), so there is no DataLoader.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..progress import tqdm
from ..timing import sync

OPTIMIZERS = ("sgd", "adam")
OnStep = Callable[[int, nn.Module, torch.Tensor, torch.Tensor, torch.optim.Optimizer], None]


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """``"sgd"``: SGD with heavy-ball ``momentum``; ``"adam"``: Adam with default betas."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"Unrecognized optimizer: {name!r}; known: {list(OPTIMIZERS)}")


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors ``(batch_size,)`` of one shuffled epoch (last partial batch dropped)."""
    perm = torch.randperm(n, generator=generator)
    for i in range(0, n - batch_size + 1, batch_size):
        yield perm[i:i + batch_size]


def sample_batch(x: torch.Tensor, y: torch.Tensor, size: int, generator: torch.Generator):
    """``size`` examples without replacement (the whole set if ``size >= len(x)``)."""
    if size >= len(x):
        return x, y
    idx = torch.randperm(len(x), generator=generator)[:size].to(x.device)
    return x[idx], y[idx]


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` in eval mode, in chunks of ``chunk`` examples."""
    if len(x) == 0:
        raise ValueError("evaluate: no examples to evaluate on")
    was = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), chunk):
        out = model(x[i:i + chunk])
        loss += float(F.cross_entropy(out, y[i:i + chunk], reduction="sum"))
        correct += int((out.argmax(1) == y[i:i + chunk]).sum())
    model.train(was)
    return loss / len(x), correct / len(x)


def cosine(base_lr: float, total_steps: int) -> Callable[[int], float]:
    return lambda step: 0.5 * base_lr * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))


def train_epochs(model: nn.Module, x, y, x_eval, y_eval, *, epochs: int, batch_size: int, lr: float,
                 optimizer: str = "sgd", momentum: float = 0.9, schedule: str = "constant", seed: int = 0,
                 on_step: OnStep | None = None,
                 on_epoch: Callable[[int, nn.Module], None] | None = None, desc: str = "training") -> list[dict]:
    """Train, return one row per epoch: epoch, wall_s (cumulative training seconds up to the epoch's end,
    ``on_step`` included, evaluation not), train_loss, eval_loss, eval_acc, lr, momentum (NaN for Adam).

    ``schedule`` is ``"constant"`` or ``"cosine"`` (to zero over all steps). ``on_step(step, model, xb, yb, opt)``
    runs before each step (the SLQ learner sets the learning rate and momentum there); ``on_epoch(epoch,
    model)`` after each epoch (e.g. to keep snapshots: one optimizer throughout, so momentum carries over).
    ``desc`` labels the progress bar over epochs.
    """
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if batch_size < 1 or epochs < 0:
        raise ValueError(f"need batch_size >= 1 and epochs >= 0, got batch_size={batch_size}, epochs={epochs}")
    if epochs and len(x) < batch_size:  # minibatches drops the last partial batch: no step at all
        raise ValueError(f"{len(x)} training examples are fewer than one batch of {batch_size}: no step to take")
    g = torch.Generator().manual_seed(seed)
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum)
    total = epochs * (len(x) // batch_size)
    lr_at = cosine(lr, total) if schedule == "cosine" else (lambda s: lr)
    rows, step, wall = [], 0, 0.0
    # counted by hand: tqdm's iterator syncs its count only when it redraws, so set_postfix below showed 0/epochs
    bar = tqdm(total=epochs, desc=desc, unit="epoch", leave=False)
    for epoch in range(1, epochs + 1):
        model.train()
        t0, losses = time.perf_counter(), []
        for idx in minibatches(len(x), batch_size, g):
            idx = idx.to(x.device)
            xb, yb = x[idx], y[idx]
            if on_step is not None:
                on_step(step, model, xb, yb, opt)
            else:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())  # no .item() per step; summed at the epoch's end
            step += 1
        sync(x.device)  # the epoch's queued GPU work belongs to its time
        wall += time.perf_counter() - t0
        ev_loss, ev_acc = evaluate(model, x_eval, y_eval)
        train_loss = float(torch.stack(losses).mean()) if losses else float("nan")
        rows.append({"epoch": epoch, "wall_s": wall, "train_loss": train_loss,
                     "eval_loss": ev_loss, "eval_acc": ev_acc, "lr": opt.param_groups[0]["lr"],
                     "momentum": opt.param_groups[0].get("momentum", float("nan"))})
        bar.update(1)
        bar.set_postfix(train_loss=f"{train_loss:.3g}", eval_acc=f"{ev_acc:.3f}")
        if on_epoch is not None:
            on_epoch(epoch, model)
    bar.close()
    return rows
