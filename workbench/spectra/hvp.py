"""Hessian- and GGN-vector products of a model's mean loss, as a matvec over one flat parameter vector.

Everything downstream (Lanczos, power iteration, Hutchinson) only sees an :class:`Operator`: a callable
``v -> A v`` on 1-D tensors of length ``dim`` (the number of trainable parameters), plus what it is.

The curvature is of the *mean* loss over the examples given: one chunk is the batch Hessian of size B; several
chunks are averaged with weights ``len(chunk) / N``, which is the full (empirical) Hessian of the mean loss over
N examples -- exact when BatchNorm is in ``"eval"`` mode. In ``"train"`` mode each chunk normalises with its own
batch statistics, so the "full" operator is the average of chunk Hessians (recorded as such).

BatchNorm mode is explicit: ``"eval"`` uses the running statistics (refresh them first with
:func:`refresh_bn_stats`); ``"train"`` uses batch statistics. Running buffers are never changed by a matvec.
Every operator records the mode and which statistics it used (:func:`bn_stats`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp

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
    bn_stats: str = "none"  # see bn_stats(): "none", "batch", "refreshed" or "not refreshed"

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matvec(v)

    def info(self) -> dict:
        """What this operator is, for every result row."""
        return {"curvature": self.curvature, "bn_mode": self.bn_mode, "bn_stats": self.bn_stats,
                "n_examples": self.n_examples, "hvp_method": self.method, "dim": self.dim}


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


def _splitter(params: Sequence[torch.Tensor]) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A flat vector -> per-parameter views, with one dtype conversion for the whole vector (the Lanczos basis
    is float64; the model usually float32) instead of one per parameter."""
    sizes, shapes = [p.numel() for p in params], [p.shape for p in params]
    if len({p.dtype for p in params}) > 1:
        return lambda v: unflatten(v, params)

    def split(v: torch.Tensor) -> list[torch.Tensor]:
        return [t.view(s) for t, s in zip(v.to(params[0].dtype).split(sizes), shapes)]
    return split


def has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@contextlib.contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Put the model in ``mode`` ("eval"/"train") and restore mode and all buffers afterwards."""
    if mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {mode!r}")
    want = mode == "train"
    modules = list(model.modules())
    flags = [m.training for m in modules]
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    bns = [m for m in modules if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracking = [m.track_running_stats for m in bns]
    if any(f != want for f in flags):  # train() recurses in Python: skip it when nothing changes (cheap matvecs)
        model.train(want)
    if want:  # batch statistics without touching running buffers (torch.func forbids that mutation)
        for m in bns:
            m.track_running_stats = False
    try:
        yield model
    finally:
        for m, f in zip(modules, flags):  # every module back to its own mode
            m.training = f
        for m, t in zip(bns, tracking):
            m.track_running_stats = t
        with torch.no_grad():
            for b, copy in saved:
                if not torch.equal(b, copy):  # an unconditional copy_ would break graphs that saved b
                    b.copy_(copy)


@torch.no_grad()
def refresh_bn_stats(model: nn.Module, batches: Sequence[Batch]) -> None:
    """Recompute BatchNorm running statistics as averages over ``batches`` weighted by batch size: the running mean
    is the mean over all their examples, the running variance the size-weighted mean of the batches' (unbiased)
    variances. (``momentum=None``, PyTorch's cumulative average, would weight an unequal last batch as a full one.)"""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training, momenta = model.training, [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
    model.train()
    seen = 0
    for x, _ in batches:
        for m in bns:  # the new batch's share of all examples so far
            m.momentum = len(x) / (seen + len(x))
        model(x)
        seen += len(x)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
        if m.num_batches_tracked is not None:
            m._refreshed_version = m.num_batches_tracked._version  # read by bn_stats()
    model.train(was_training)


def bn_stats(model: nn.Module, mode: str) -> str:
    """Which BatchNorm statistics a curvature of ``model`` in BN ``mode`` uses: "none" (no BatchNorm), "batch"
    (train mode, or no running statistics kept), "refreshed" (running statistics from :func:`refresh_bn_stats`,
    unchanged since) or "not refreshed" (as training or a loaded state left them).

    "Unchanged since" is read from the version counter of ``num_batches_tracked``, which every train-mode forward
    (its ``add_(1)``) and ``load_state_dict`` (its ``copy_``) bump, and eval-mode forwards and our matvecs leave
    alone: no comparison of values, no device sync. (Not the running mean's own counter: the batch-norm kernel
    updates it without bumping it.)"""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return "none"
    tracked = [m for m in bns if m.num_batches_tracked is not None]
    if mode == "train" or not tracked:
        return "batch"
    fresh = all(getattr(m, "_refreshed_version", None) == m.num_batches_tracked._version for m in tracked)
    return "refreshed" if fresh else "not refreshed"


def _chunk_hvp_double_backward(model, loss_fn, x, y, params):
    """Keep one gradient graph per chunk, flattened into one vector inside the graph: each matvec is one more
    backward with a single flat cotangent (autograd checks and splits one tensor, not one per parameter)."""
    loss = loss_fn(model(x), y)
    g = flatten(torch.autograd.grad(loss, params, create_graph=True))

    def mv(v: torch.Tensor) -> torch.Tensor:
        return flatten(torch.autograd.grad(g, params, grad_outputs=v.to(g.dtype), retain_graph=True))
    return mv


def _chunk_hvp_func(model, loss_fn, x, y, names, params, buffers):
    """Forward-over-reverse: jvp of the gradient function (no graph kept between matvecs)."""
    split = _splitter(params)
    # detached primals: torch.func differentiates; autograd recording the same ops as well cost 20-25% (1 CPU
    # thread, float32: VGG-11 B=32 3.13 -> 2.51 gradients per matvec, WRN-16-4 B=16 4.04 -> 2.99)
    primals = (tuple(p.detach() for p in params),)

    def loss_of(p):
        return loss_fn(functional_call(model, ({**dict(zip(names, p)), **buffers}), (x,)), y)

    def mv(v: torch.Tensor) -> torch.Tensor:
        return flatten(jvp(grad(loss_of), primals, (tuple(split(v)),))[1])
    return mv


def _chunk_ggn(model, loss_fn, x, y, params):
    """GGN v = J^T H_out J v with the network graph kept: J v by the double-vjp trick (reverse of a reverse
    through a dummy cotangent u), H_out by double backward of the loss in the outputs, J^T w by one backward."""
    split = _splitter(params)
    out = model(x)
    u = torch.zeros_like(out, requires_grad=True)
    jt_u = torch.autograd.grad(out, params, grad_outputs=u, create_graph=True)  # linear in u
    o = out.detach().requires_grad_(True)
    g_out = torch.autograd.grad(loss_fn(o, y), o, create_graph=True)[0]

    def mv(v: torch.Tensor) -> torch.Tensor:
        jv = torch.autograd.grad(jt_u, u, grad_outputs=split(v), retain_graph=True)[0]
        h_jv = torch.autograd.grad(g_out, o, grad_outputs=jv, retain_graph=True)[0]
        return flatten(torch.autograd.grad(out, params, grad_outputs=h_jv, retain_graph=True))
    return mv


def _chunk_ggn_func(model, loss_fn, x, y, names, params, buffers):
    """As :func:`_chunk_ggn`, but J v in forward mode (``torch.func.jvp``: the network's forward again, with
    tangents), so no graph of the backward is kept.

    Why both: the double-vjp trick runs the convolutions' double backward, which PyTorch computes in full whatever
    autograd asks for: of its four convolutions per layer two are thrown away here, one of them a weight gradient
    written as a convolution with an image-sized kernel (pytorch/pytorch#22577: slow on cuDNN). Forward mode pays
    the forward again instead. Counted FLOPs per example (VGG-11): 1.52 GFLOP against 1.82 (a gradient: 0.91);
    measured on 1 CPU thread, float32: VGG-11 B=32 1.61 against 1.87 gradients, WRN-16-4 B=16 1.76 against 2.04;
    but for an MLP, which has no such waste, eager forward mode is about 2x slower (1.4 against 0.7 ms on the
    digits MLP). Same result to float32 rounding (1.7e-7 relative)."""
    split = _splitter(params)
    out = model(x)
    o = out.detach().requires_grad_(True)
    g_out = torch.autograd.grad(loss_fn(o, y), o, create_graph=True)[0]
    primals = tuple(p.detach() for p in params)

    def net(*p):
        return functional_call(model, {**dict(zip(names, p)), **buffers}, (x,))

    def mv(v: torch.Tensor) -> torch.Tensor:
        jv = jvp(net, primals, tuple(split(v)))[1]
        h_jv = torch.autograd.grad(g_out, o, grad_outputs=jv, retain_graph=True)[0]
        return flatten(torch.autograd.grad(out, params, grad_outputs=h_jv, retain_graph=True))
    return mv


def _chunk_matvec(curvature: str, method: str, model, loss_fn, x, y, names, params, buffers) -> Callable:
    """One chunk's matvec: Hessian or GGN, by double backward or ``torch.func``."""
    if curvature == "ggn":
        return (_chunk_ggn(model, loss_fn, x, y, params) if method == "double_backward"
                else _chunk_ggn_func(model, loss_fn, x, y, names, params, buffers))
    if method == "double_backward":
        return _chunk_hvp_double_backward(model, loss_fn, x, y, params)
    return _chunk_hvp_func(model, loss_fn, x, y, names, params, buffers)


def curvature_operator(model: nn.Module, loss_fn: LossFn, chunks: Sequence[Batch], *, curvature: str = "hessian",
                       bn: str = "eval", method: str = "double_backward", keep_graphs: int = 4) -> Operator:
    """Matvec with the Hessian or GGN of the mean loss over ``chunks`` (list of ``(x, y)``).

    ``loss_fn(outputs, targets)`` must be a mean over the examples (e.g. ``F.cross_entropy``). ``method`` picks
    double backward or ``torch.func`` forward-over-reverse. Graphs, by case:

    - a chunk's graph (the gradient's for the Hessian by double backward; the network's, for J^T w, for the GGN by
      either method) is kept across matvecs (one backward per matvec and chunk) when there are at most
      ``keep_graphs`` chunks; beyond that each matvec rebuilds it (about 1.5x the compute, memory of one chunk),
      which is what a full operator over a large set needs;
    - the Hessian by ``torch.func`` keeps no graph: it runs the module again at every matvec.

    For the GGN, ``method`` picks how J v is formed: the double-vjp trick (:func:`_chunk_ggn`) or forward mode
    (:func:`_chunk_ggn_func`, less work for convolutional networks). The model keeps its mode and buffers.
    """
    if curvature not in ("hessian", "ggn"):
        raise ValueError(f"curvature must be 'hessian' or 'ggn', got {curvature!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not chunks:
        raise ValueError("curvature_operator needs at least one (x, y) chunk")
    named = trainable(model)
    if not named:
        raise ValueError("curvature_operator: the model has no trainable parameters (none with requires_grad)")
    names, params = list(named), list(named.values())
    stats = bn_stats(model, bn)  # before any forward below, which in eval mode only reads the statistics
    n_total = sum(len(x) for x, _ in chunks)
    keep = len(chunks) <= keep_graphs
    functional = method == "func"  # runs the module again at every matvec
    with bn_mode(model, bn):
        buffers = {n: b.detach().clone() for n, b in model.named_buffers()} if functional else {}

        def build(x, y):
            return _chunk_matvec(curvature, method, model, loss_fn, x, y, names, params, buffers)
        mvs = [build(x, y) if keep else (lambda vs, x=x, y=y: build(x, y)(vs)) for x, y in chunks]
    weights = [len(x) / n_total for x, _ in chunks]
    rerun = not keep or functional
    device, dtype = params[0].device, functools.reduce(torch.promote_types, [p.dtype for p in params])

    def matvec(v: torch.Tensor) -> torch.Tensor:
        # paths that run the module again at every matvec need the BN mode again
        with (bn_mode(model, bn) if rerun else contextlib.nullcontext()):
            flat = v.to(device=device, dtype=dtype)  # one conversion of the float64 Lanczos vector
            if len(mvs) == 1:  # one chunk: weight 1, no accumulator (the common batch-Hessian case)
                return mvs[0](flat).detach().to(v.dtype)
            acc = None
            for w, mv in zip(weights, mvs):
                hv = mv(flat).detach()
                acc = hv * w if acc is None else acc.add_(hv, alpha=w)
        return acc.to(v.dtype)

    dim = sum(p.numel() for p in params)
    return Operator(matvec, dim, curvature, bn, n_total, method, stats)


def chunked(x: torch.Tensor, y: torch.Tensor, chunk: int) -> list[Batch]:
    """Split a dataset into the fewest chunks of at most ``chunk`` examples, of sizes within one of each other (for
    the full Hessian and BN statistics): 1025 examples by 512 are 341 + 342 + 342, not 512 + 512 + 1, whose lone
    example BatchNorm1d refuses in train mode."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    parts = -(-len(x) // chunk)
    if parts == 0:
        return []
    bounds = [len(x) * i // parts for i in range(parts + 1)]
    return [(x[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
