"""The studies' loops: each returns tidy rows (dicts) that the notebooks append to their run tables.

A ``memo`` (:data:`workbench.resume.Memo`) makes a run resumable; its units are a training run, the HVP cost
table, one batch size's spectra, the peer comparison, one (optimizer, batch size, seed) bisection, one
schedule's training.
"""
from __future__ import annotations

import copy
import time
import warnings

import torch
import torch.nn.functional as F

from ..device import release_cuda_memory, resolve_device
from ..progress import tqdm
from ..resume import Memo, no_memo
from .data import Images, load_images
from .density import outlier_mass
from .hvp import chunked, curvature_operator, has_bn, refresh_bn_stats
from .bench import hvp_cost
from .lanczos import LanczosResult, lanczos, slq
from .lr_search import bisect_max_lr, is_stable
from .models import build_model
from .peers import compare
from .slq_learner import SLQLearner
from .train import evaluate, sample_batch, train_epochs


def setup(cfg) -> tuple[torch.device, Images]:
    """Resolve the device once, set CPU threads, and load the dataset onto it.

    ``cfg.cpu_threads`` (0 = torch's default): one thread is the default because the CPU-sized models are tiny
    and multi-threaded kernels on a shared 2-core machine spin (measured: a digits spectra loop 0.75 s with one
    thread, 10 s with two, under load).
    """
    dev = resolve_device(cfg.device)
    if dev.type == "cpu" and cfg.cpu_threads > 0:
        torch.set_num_threads(cfg.cpu_threads)
    if dev.type == "cuda":
        # curvature at <= 1e-4 relative error needs full float32 products: TF32 (cuDNN's default for convolutions
        # on Ampere and later) rounds to a 10-bit mantissa, ~1e-3. The run record shows the setting.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    data = load_images(cfg.dataset, cfg.data_path, n_train=cfg.n_train or None, seed=cfg.seed)
    return dev, data.to(dev)


def make_model(name: str, data: Images, bn: bool, width: int, seed: int, device) -> torch.nn.Module:
    """A freshly initialised registered model; ``width`` 0 keeps the model's default (for WRN: the widen factor)."""
    torch.manual_seed(seed)
    kw = {} if width <= 0 else ({"widen": width} if name == "wrn" else {"width": width})
    return build_model(name, data.in_shape, data.classes, bn=bn, **kw).to(device)


def train_snapshots(model, data: Images, epochs: int, batch_size: int, lr: float, snapshots, seed: int,
                    memo: Memo = no_memo, unit: str = "training"):
    """Train with SGD(0.9) (one optimizer, momentum carried across epochs); return ``({epoch: state_dict},
    rows)`` with snapshots at the requested epochs. ``model`` ends in its trained state, also when ``memo``
    reads the run back (as ``unit``)."""
    def train():
        states = {0: copy.deepcopy(model.state_dict())} if 0 in snapshots else {}

        def snapshot(epoch: int, m) -> None:
            if epoch in snapshots:
                states[epoch] = copy.deepcopy(m.state_dict())
        rows = train_epochs(model, data.x_train, data.y_train, data.x_test, data.y_test, epochs=epochs,
                            batch_size=batch_size, lr=lr, seed=seed, on_epoch=snapshot) if epochs > 0 else []
        return states, rows, copy.deepcopy(model.state_dict())
    states, rows, final = memo(unit, train)
    model.load_state_dict(final)
    return states, rows


def spectra(model, data: Images, *, batch_sizes, curvatures=("hessian", "ggn"), bn: str = "eval", steps: int,
            probes: int, batches_per_size: int, full_chunk: int, seed: int, tag: dict,
            lambda_tol: float = 0.0, methods: dict[str, str] | None = None,
            memo: Memo = no_memo) -> tuple[list, list]:
    """Lambda_max rows and Ritz rows for batch operators of each size B and the full operator.

    The first batch of each size (and the full operator) gets ``probes`` Lanczos runs of ``steps`` steps; its
    Ritz rows (value, weight per probe) feed the SLQ densities, and lambda_max is the largest Ritz value over
    the probes. Only lambda_max is kept from the other batches, so with ``lambda_tol`` > 0 they get one
    adaptive run (stops once the top Ritz value's estimated relative error is below ``lambda_tol``, at most
    ``steps``): many batches per B for the cost of a few. Every row records its matvecs and error estimate.
    ``methods`` maps a curvature to its matvec method (:data:`hvp.METHODS`; default double backward), recorded
    in the rows as ``hvp_method``. ``run_s`` is the wall-clock of one row: building its operator and its Lanczos
    run(s), all probes on a first batch (one run, no warm-up: not a benchmark median). Each size draws from its
    own generator (seeded by ``seed`` and B), so a size's rows do not depend on the sizes before it; ``memo``
    units are the sizes (named by ``tag``, ``bn`` and B); a batch size that runs out of device memory is left out
    with a warning, the others kept. A model with BatchNorm has its running statistics
    refreshed over the training set first, in place (the caller's model keeps them).
    """
    if has_bn(model):  # in place: the model's BN running statistics become those of the training set
        refresh_bn_stats(model, chunked(data.x_train, data.y_train, full_chunk))
    n = len(data.x_train)
    sizes = [(b, "batch") for b in batch_sizes if b < n] + [(n, "full")]
    # readable; a name repeated in one run is still a unit of its own (workbench.resume: name#2)
    name = f"spectra-{','.join(f'{k}={v}' for k, v in tag.items())}-{bn}-{'+'.join(curvatures)}"
    lam_rows, ritz_rows = [], []
    for b, scope in tqdm(sizes, desc="spectra", leave=False):
        try:
            lr_, rr_ = memo(f"{name}-B{b}", lambda b=b, scope=scope: _spectra_one(
                model, data, b, scope, curvatures, bn, steps, probes, batches_per_size, full_chunk, seed, tag,
                lambda_tol, methods))
        except torch.OutOfMemoryError:
            if scope == "full":  # chunked by full_chunk: no larger than a batch of that size, so not expected
                raise
            release_cuda_memory()  # a batch size beyond the device: left out, said, the other sizes kept
            warnings.warn(f"{name}: B={b} ran out of device memory and is left out of this run's spectra (a GPU "
                          "smaller than the profile was sized for: the README's 'On a smaller GPU')",
                          RuntimeWarning, stacklevel=2)
            continue
        lam_rows += lr_
        ritz_rows += rr_
    return lam_rows, ritz_rows


def _spectra_one(model, data: Images, b: int, scope: str, curvatures, bn: str, steps: int, probes: int,
                 batches_per_size: int, full_chunk: int, seed: int, tag: dict, lambda_tol: float,
                 methods: dict[str, str] | None) -> tuple[list, list]:
    """The lambda_max and Ritz rows of one batch size (see :func:`spectra`)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + b)
    lam_rows, ritz_rows = [], []
    n_batches = 1 if scope == "full" else batches_per_size
    for i in tqdm(range(n_batches), desc=f"B={b} batches", unit="batch", leave=False, disable=n_batches == 1):
        chunks = (chunked(data.x_train, data.y_train, full_chunk) if scope == "full"
                  else [sample_batch(data.x_train, data.y_train, b, g)])
        for curv in curvatures:
            t0 = time.perf_counter()
            op = curvature_operator(model, F.cross_entropy, chunks, curvature=curv, bn=bn,
                                    method=(methods or {}).get(curv, "double_backward"))
            k, dev = min(steps, op.dim), data.x_train.device
            # the full operator's matvec is a pass over the training set: a run of them can take minutes
            with tqdm(total=probes * k, desc=f"full {curv}, {len(chunks)} chunks", unit="matvec", leave=False,
                      disable=scope != "full") as bar:
                mv = _ticking(op, bar)
                runs = (slq(mv, op.dim, k, probes, generator=g, device=dev) if i == 0 or not lambda_tol
                        else [lanczos(mv, op.dim, k, generator=g, device=dev, tol=lambda_tol)])
            top = max(runs, key=lambda r: r.ritz[-1])
            base = {**tag, **op.info(), "batch_size": b, "scope": scope, "batch_index": i}
            lam_rows.append({**base, "lambda_max": float(top.ritz[-1]), "run_s": time.perf_counter() - t0,
                             "matvecs": sum(r.steps for r in runs), "error_estimate": top.error_estimate,
                             "orthogonality_loss": max(r.orthogonality_loss for r in runs)})
            if i == 0:
                ritz_rows += [{**base, "probe": p, "ritz": float(v), "weight": float(w), "residual": float(e)}
                              for p, r in enumerate(runs) for v, w, e in zip(r.ritz, r.weights, r.residuals)]
            del op, mv  # its kept graph (tens of GB at B=4096 on a GPU) must go before the next one is built
    return lam_rows, ritz_rows


def _ticking(op, bar):
    """``op`` as a matvec that advances the progress ``bar`` by one per product."""
    def mv(v: torch.Tensor) -> torch.Tensor:
        out = op(v)
        bar.update()
        return out
    return mv


def hvp_costs(cfg, model, data: Images, device, memo: Memo = no_memo) -> list[dict]:
    """The HVP cost rows (:func:`bench.hvp_cost`) of ``model`` at each of ``cfg.bench_batch_sizes``, as one unit:
    their timings pick the matvec method, so a resumed run keeps the same choice."""
    def measure():
        return [dict(r, model=cfg.model, device=str(device)) for b in cfg.bench_batch_sizes
                for r in hvp_cost(model, F.cross_entropy, data.x_train[:b], data.y_train[:b],
                                  repeats=cfg.bench_repeats)]
    return memo("hvp-cost", measure)


def peer_comparison(cfg, model, data: Images, device, method: str,
                    memo: Memo = no_memo) -> tuple[list[dict], LanczosResult, int]:
    """Top eigenvalue of one batch Hessian (``cfg.peer_batch_size`` training examples, BN in eval mode) by
    our Lanczos, PyHessian and curvlinops (:func:`peers.compare`), against a reference of
    ``cfg.reference_steps`` Lanczos steps. Returns ``(rows, reference, batch size)``; one unit."""
    def measure():
        g = torch.Generator().manual_seed(cfg.seed + 1)
        idx = torch.randperm(len(data.x_train), generator=g)[:cfg.peer_batch_size].to(device)
        xb, yb = data.x_train[idx], data.y_train[idx]
        op = curvature_operator(model, F.cross_entropy, [(xb, yb)], bn="eval")
        ref = lanczos(op, op.dim, min(cfg.reference_steps, op.dim), generator=g, device=device)
        rows = compare(model, xb, yb, "eval", float(ref.ritz[-1]), tol=cfg.peer_tol, seeds=range(cfg.peer_seeds),
                       trace_iter=20, repeats=cfg.peer_repeats, warmup=2, method=method)
        return rows, ref, len(xb)
    return memo("peers", measure)


def lr_vs_batch(cfg, data: Images, device, memo: Memo = no_memo) -> list[dict]:
    """Bisected max stable lr for every (optimizer, B, seed) under :func:`lr_search.is_stable`."""
    rows = []
    combos = [(o, b, s) for o in cfg.optimizers for b in cfg.batch_sizes for s in cfg.seeds]
    for opt, b, seed in tqdm(combos, desc="lr bisection", leave=False):
        rows.append(memo(f"lr-{opt}-B{b}-seed{seed}", lambda opt=opt, b=b, seed=seed: _bisect(cfg, data, device,
                                                                                               opt, b, seed)))
    return rows


def _bisect(cfg, data: Images, device, opt: str, b: int, seed: int) -> dict:
    init = make_model(cfg.model, data, False, cfg.width, seed, device)

    def stable(lr):
        return is_stable(copy.deepcopy(init), data.x_train, data.y_train, optimizer=opt, lr=lr, batch_size=b,
                         steps=cfg.steps, seed=seed, momentum=cfg.momentum)
    t0 = time.perf_counter()
    res = bisect_max_lr(stable, cfg.lr_lo, cfg.lr_hi, cfg.bisection_iters)
    return {"optimizer": opt, "batch_size": b, "seed": seed, **res, "seconds": time.perf_counter() - t0}


def learner_vs_schedules(cfg, data: Images, device, memo: Memo = no_memo) -> tuple[list[dict], list[dict]]:
    """Tune constant and cosine SGD(momentum) on a validation split, then train SLQ learner and the tuned
    schedules from the same init; rows per epoch with test accuracy and ``start_loss`` (the init's training loss,
    against which a blow-up in an early epoch shows), plus the learner's estimate history. ``memo`` units: each
    schedule (its tuning included) and the learner."""
    n_val = len(data.x_train) // 5
    xt, yt, xv, yv = data.x_train[n_val:], data.y_train[n_val:], data.x_train[:n_val], data.y_train[:n_val]
    init = make_model(cfg.model, data, False, cfg.width, cfg.seed, device)
    common = dict(epochs=cfg.learner_epochs, batch_size=cfg.learner_batch_size, momentum=cfg.momentum, seed=cfg.seed)
    start_loss = evaluate(init, xt, yt)[0]

    def train(desc: str, x_eval, y_eval, **kw) -> list[dict]:  # desc names the training's progress bar
        rows = train_epochs(copy.deepcopy(init), xt, yt, x_eval, y_eval, desc=desc, **common, **kw)
        return [dict(r, start_loss=start_loss) for r in rows]

    def tuned(sched: str) -> list[dict]:
        scores = {lr: train(f"tune {sched} lr {lr:g}", xv, yv, lr=lr, schedule=sched)[-1]["eval_acc"]
                  for lr in cfg.tune_lrs}
        best = max(scores, key=scores.get)
        return [dict(r, method=f"{sched} (tuned lr {best:g})", tuned_lr=best, eval_set="test")
                for r in train(f"{sched} lr {best:g}", data.x_test, data.y_test, lr=best, schedule=sched)]

    def slq_learner() -> tuple[list[dict], list[dict]]:
        learner = SLQLearner(period=cfg.learner_period, lanczos_steps=cfg.lanczos_steps,
                             kappa_max=cfg.learner_kappa_max, scale=cfg.learner_scale, seed=cfg.seed)
        rows = [dict(r, method="SLQ learner", tuned_lr=float("nan"), eval_set="test")
                for r in train("SLQ learner", data.x_test, data.y_test, lr=cfg.tune_lrs[0], on_step=learner)]
        return rows, learner.history

    rows = [r for sched in ("constant", "cosine") for r in memo(f"schedule-{sched}", lambda s=sched: tuned(s))]
    learner_rows, history = memo("slq-learner", slq_learner)
    return rows + learner_rows, history


def outlier_table(ritz, frac: float = 0.1):
    """Outliers against the bulk per (epoch, curvature, B), mean counts per probe: ``outliers``, the Ritz values
    whose residual interval ``[ritz - residual, ritz + residual]`` lies above ``frac`` x the full operator's
    lambda_max (each certifies an eigenvalue above that threshold); ``ritz_above``, all Ritz values above it,
    converged or not (a short Lanczos run leaves unconverged interior ones there, so this overcounts); their SLQ
    spectral mass (fraction of all eigenvalues), and the bulk edge estimate (largest Ritz value below the
    threshold). Ritz rows without a ``residual`` column (older runs) count every value above as certified."""
    import pandas as pd
    rows = []
    if "residual" not in ritz:
        ritz = ritz.assign(residual=0.0)
    for (epoch, curv), d in ritz.groupby(["epoch", "curvature"]):
        thr = frac * d[d.scope == "full"].ritz.max()
        for b, g in d.groupby("batch_size"):
            probes = [p for _, p in g.groupby("probe")]
            rows.append({"epoch": epoch, "curvature": curv, "batch_size": b, "threshold": thr,
                         "outliers": sum(int((p.ritz - p.residual > thr).sum()) for p in probes) / len(probes),
                         "ritz_above": sum(int((p.ritz > thr).sum()) for p in probes) / len(probes),
                         "outlier_mass": outlier_mass([p.ritz.to_numpy() for p in probes],
                                                      [p.weight.to_numpy() for p in probes], thr),
                         "bulk_edge": float(g.ritz[g.ritz <= thr].max())})
    return pd.DataFrame(rows)
