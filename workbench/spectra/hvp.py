"""Hessian- and GGN-vector products of a model's mean loss, as a matvec over one flat parameter vector.

Everything downstream (Lanczos, power iteration, Hutchinson) only sees an :class:`Operator`: a callable
``v -> A v`` on 1-D tensors of length ``dim`` (the number of trainable parameters), plus what it is.

The curvature is of the *mean* loss over the examples given: one chunk is the batch Hessian of size B; several
chunks are averaged with weights ``len(chunk) / N``, which is the full (empirical) Hessian of the mean loss over
N examples -- exact when BatchNorm is in ``"eval"`` mode. In ``"train"`` mode each chunk normalises with its own
batch statistics, so the "full" operator is the average of chunk Hessians (recorded as such).

BatchNorm mode is explicit: ``"eval"`` uses the running statistics (refresh them first with
:func:`refresh_bn_stats`); ``"train"`` uses batch statistics. Running buffers are never changed by a matvec.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp

BN_MODES = ("eval", "train")
METHODS = ("double_backward", "func")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor]


@dataclasses.dataclass
class Operator:
    """A symmetric linear operator ``v -> A v`` on flat vectors of length ``dim``.

    ``__call__`` accepts any float dtype (e.g. the float64 Lanczos basis) and returns that dtype; the model
    itself runs in its own dtype.
    """
    matvec: Callable[[torch.Tensor], torch.Tensor]
    dim: int
    curvature: str  # "hessian" or "ggn"
    bn_mode: str
    n_examples: int
    method: str

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matvec(v)

    def info(self) -> dict:
        """What this operator is, for every result row."""
        return {"curvature": self.curvature, "bn_mode": self.bn_mode, "n_examples": self.n_examples,
                "hvp_method": self.method, "dim": self.dim}


def trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vec: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out, i = [], 0
    for t in like:
        out.append(vec[i:i + t.numel()].view_as(t).to(t.dtype))
        i += t.numel()
    return out


def has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@contextlib.contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Put the model in ``mode`` ("eval"/"train") and restore mode and all buffers afterwards."""
    if mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {mode!r}")
    was_training = model.training
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    model.train(mode == "train")
    try:
        yield model
    finally:
        model.train(was_training)
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n])


@torch.no_grad()
def refresh_bn_stats(model: nn.Module, batches: Sequence[Batch]) -> None:
    """Recompute BatchNorm running statistics as exact averages over ``batches`` (momentum=None)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training, momenta = model.training, [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x, _ in batches:
        model(x)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)


def _chunk_hvp_double_backward(model, loss_fn, x, y, params):
    """Keep one gradient graph per chunk; each matvec is one more backward through it."""
    loss = loss_fn(model(x), y)
    g = torch.autograd.grad(loss, params, create_graph=True)

    def mv(vs: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(torch.autograd.grad(g, params, grad_outputs=vs, retain_graph=True))
    return mv


def _chunk_hvp_func(model, loss_fn, x, y, names, params, buffers):
    """Forward-over-reverse: jvp of the gradient function (no graph kept between matvecs)."""
    def loss_of(p):
        return loss_fn(functional_call(model, ({**dict(zip(names, p)), **buffers}), (x,)), y)

    def mv(vs: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(jvp(grad(loss_of), (tuple(params),), (tuple(vs),))[1])
    return mv


def _chunk_ggn(model, loss_fn, x, y, names, params, buffers):
    """GGN v = J^T H_out J v: forward-mode J v, Hessian of the loss in the outputs, reverse-mode J^T."""
    def net(p):
        return functional_call(model, ({**dict(zip(names, p)), **buffers}), (x,))

    out, vjp_fn = vjp(net, tuple(params))
    out = out.detach()

    def mv(vs: list[torch.Tensor]) -> list[torch.Tensor]:
        jv = jvp(net, (tuple(params),), (tuple(vs),))[1]
        h_jv = jvp(grad(lambda o: loss_fn(o, y)), (out,), (jv,))[1]
        return list(vjp_fn(h_jv)[0])
    return mv


def curvature_operator(model: nn.Module, loss_fn: LossFn, chunks: Sequence[Batch], *, curvature: str = "hessian",
                       bn: str = "eval", method: str = "double_backward") -> Operator:
    """Matvec with the Hessian or GGN of the mean loss over ``chunks`` (list of ``(x, y)``).

    ``loss_fn(outputs, targets)`` must be a mean over the examples (e.g. ``F.cross_entropy``). ``method`` picks
    double backward (gradient graph kept for every chunk: fast, memory grows with chunks) or ``torch.func``
    forward-over-reverse. The GGN always uses ``torch.func``. The model is left in its mode with its buffers.
    """
    if curvature not in ("hessian", "ggn"):
        raise ValueError(f"curvature must be 'hessian' or 'ggn', got {curvature!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not chunks:
        raise ValueError("curvature_operator needs at least one (x, y) chunk")
    named = trainable(model)
    names, params = list(named), list(named.values())
    n_total = sum(len(x) for x, _ in chunks)
    with bn_mode(model, bn):
        buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
        mvs = []
        for x, y in chunks:
            if curvature == "ggn":
                mvs.append(_chunk_ggn(model, loss_fn, x, y, names, params, buffers))
            elif method == "double_backward":
                mvs.append(_chunk_hvp_double_backward(model, loss_fn, x, y, params))
            else:
                mvs.append(_chunk_hvp_func(model, loss_fn, x, y, names, params, buffers))
    weights = [len(x) / n_total for x, _ in chunks]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        # functorch paths run BN in the mode captured in the buffers; put the module in the mode again
        with bn_mode(model, bn):
            vs = unflatten(v.to(params[0].device), params)
            acc = None
            for w, mv in zip(weights, mvs):
                hv = flatten(mv(vs)).detach()
                acc = hv * w if acc is None else acc.add_(hv, alpha=w)
        return acc.to(v.dtype)

    dim = sum(p.numel() for p in params)
    return Operator(matvec, dim, curvature, bn, n_total, "func" if curvature == "ggn" else method)


def chunked(x: torch.Tensor, y: torch.Tensor, chunk: int) -> list[Batch]:
    """Split a dataset into chunks of at most ``chunk`` examples (for the full Hessian)."""
    return [(x[i:i + chunk], y[i:i + chunk]) for i in range(0, len(x), chunk)]
