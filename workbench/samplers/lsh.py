"""``lsh``: adaptive negatives from LSH tables over the label vectors (Daghaghi et al., ICML 2021).

Per query: the union of its L buckets (tables built from the label weight vectors, rehashed every
``rehash_every`` training steps, i.e. :meth:`sample` calls, hash functions redrawn every ``redraw_every`` steps),
positives removed, a uniform subset of ``cfg.num_negatives`` kept, padded with uniform labels when short. Scheme
``"embedding"`` queries with the input's embedding, ``"label"`` with the vector of one sampled true label. Candidates
are ``[positives, negatives]``; ``log_q`` is 0 for positives (always scored) and the log expected count of each negative
(:mod:`workbench.lsh.probability`), so a logQ-corrected loss subtracts it from every logit.

Needs from the model (the :class:`ModelView` given to :meth:`bind` by the trainer, or to :meth:`refresh`; kept
for :meth:`sample`; in the XMC trainer it is the model being trained, whose ``label_embeddings`` are the DE label
embeddings, or the classifier rows of a classifier-only model):
``label_embeddings()`` (all label vectors, hashed at each rehash and kept as the snapshot that the label scheme
queries with; log_q reads them as hashed, through ``LSHIndex.label_vectors``) and, for the embedding scheme,
``query_embeddings(ids)`` of the batch's training queries
(one extra no-grad forward of the batch). Both can be overridden with the constructor callables
``query_vectors`` / ``label_vectors`` (e.g. to reuse the training forward pass).

Schedule: the trainer may call :meth:`refresh` only at epoch starts, so the sampler also counts
:meth:`sample` calls as steps and rehashes / redraws when due: the trainer calls :meth:`refresh_step` before
each step and times it as ``refresh_s`` (costs also in ``self.costs``); :meth:`sample` checks again for callers
that do not. Tensors returned by :meth:`sample` are on the CPU, like the other samplers';
the tables live on the device of the label vectors. A checkpoint (:meth:`state_dict`) keeps the tables, hash
functions, snapshot and generator states, so a resumed run samples exactly as the uninterrupted one (CPU).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from ..lsh.params import LSHParams, build_index
from ..lsh.query import lsh_negatives
from ..lsh.tables import Tables
from . import SAMPLERS
from .base import BaseSampler, SampledBatch, SamplerConfig
from .positives import pool_from

Vectors = Callable[[torch.Tensor | None], torch.Tensor]


@SAMPLERS.register("lsh")
class LSHSampler(BaseSampler):
    name = "lsh"
    samples_log_q = True
    reads = frozenset({"num_negatives", "positives_per_query"})  # and its own options, LSHParams

    def __init__(self, Y_train, cfg: SamplerConfig | None = None, lsh: LSHParams | None = None,
                 query_vectors: Vectors | None = None, label_vectors: Vectors | None = None):
        super().__init__(Y_train, cfg or SamplerConfig())
        self.lsh = lsh or LSHParams()
        self.lsh.validate()
        self._query_vectors, self._label_vectors = query_vectors, label_vectors
        self.view = None
        self.index = None
        self.snapshot: torch.Tensor | None = None   # (N, d) the label vectors last hashed
        self.step = 0
        self.last_rehash = self.last_redraw = None
        self._pending: dict | None = None          # index state from load_state_dict, restored at next use
        self.costs: list[dict] = []  # {"what": "rehash"|"redraw", "seconds", "step"}

    # -- model access ---------------------------------------------------------------------------------------
    def _labels(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        fn = self._label_vectors or (self.view.label_embeddings if self.view is not None else None)
        if fn is None:
            raise RuntimeError("lsh sampler: bind(model_view) or refresh(model_view, ...) before sample(), "
                               "or pass label_vectors")
        with torch.no_grad():
            return fn(ids).detach()

    def _queries(self, ids: torch.Tensor) -> torch.Tensor:
        fn = self._query_vectors or (self.view.query_embeddings if self.view is not None else None)
        if fn is None:
            raise RuntimeError("lsh sampler (embedding scheme) needs query_embeddings: refresh() with a ModelView")
        with torch.no_grad():
            return fn(ids).detach()

    # -- protocol -------------------------------------------------------------------------------------------
    def bind(self, view) -> None:
        """Keep ``view`` (the model being trained) for label and query vectors, also before any refresh."""
        self.view = view

    def refresh(self, view, epoch: int, step: int) -> float:
        """Keep ``view`` for sampling; rehash when ``rehash_every`` steps have passed (or no tables yet),
        redraw the hash functions when ``redraw_every`` have; returns seconds spent."""
        if view is not None:
            self.view = view
        self.step = step
        return self._maintain()

    def refresh_step(self) -> float:
        """Rehash / redraw now when due at this step (the trainer times it as refresh_s); :meth:`sample` checks
        again, for callers that do not call this first."""
        return self._maintain()

    def _maintain(self) -> float:
        if self._pending is not None:
            self._restore(self._pending)
            self._pending = None
        p, step, t0 = self.lsh, self.step, time.perf_counter()
        what = p.due(step, self.last_rehash if self.index is not None else None, self.last_redraw)
        if what is None:
            return 0.0
        W = self._labels(None).clone()   # a snapshot: a classifier's weights would move under the tables
        if what == "build":
            self.index = build_index(p, W.shape[1], W.device)
            self.last_redraw = step
        if what == "redraw":
            self.costs.append({"what": "redraw", "seconds": self.index.redraw(W), "step": step})
            self.last_redraw = step
        else:
            self.costs.append({"what": "rehash", "seconds": self.index.rehash(W), "step": step})
        self.snapshot, self.last_rehash = W, step
        return time.perf_counter() - t0

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        self._maintain()
        self.step += 1
        B, k, p = len(queries), self.cfg.num_negatives, self.cfg.positives_per_query
        pos, pos_valid = self.pos.sample(queries, p, generator)
        dev = self.index.family.device
        dev_gen = torch.Generator(device=dev).manual_seed(int(torch.randint(2 ** 62, (1,), generator=generator)))
        all_pos = self._all_positives(queries).to(dev)
        ix = self.index
        # label scheme: the true label's raw vector stands in for the query (with centring, <w_p, w_l - mean>
        # differs from <w_p, w_l> by a per-query constant, as for an input embedding)
        W = self.snapshot
        qv = W[pos[:, 0].to(W.device)] if self.lsh.scheme == "label" else self._queries(queries.to(dev))
        neg = lsh_negatives(ix, qv.to(dev).to(self.snapshot.dtype), all_pos, k,
                            ix.label_vectors if self.lsh.log_q else None, dev_gen)
        labels = torch.cat([pos, neg.ids.cpu()], 1)
        valid = torch.cat([pos_valid, neg.valid.cpu()], 1)
        targets = torch.cat([pos_valid, torch.zeros((B, k), dtype=torch.bool)], 1)
        log_q = torch.cat([torch.zeros((B, p)), neg.log_q.float().cpu()], 1)
        pool, cols = pool_from(labels, valid)
        return SampledBatch(queries=queries, pool=pool, candidates=cols, targets=targets, log_q=log_q, valid=valid)

    def _all_positives(self, queries: torch.Tensor) -> torch.Tensor:
        """(B, P) every positive of each query, padded with -1 (so none is returned as a negative)."""
        lens = self.pos.lengths[queries]
        width = max(int(lens.max()) if len(queries) else 1, 1)
        slot = torch.arange(width)[None, :]
        at = (self.pos.indptr[queries][:, None] + slot).clamp(max=max(len(self.pos.indices) - 1, 0))
        return torch.where(slot < lens[:, None], self.pos.indices[at], torch.full_like(at, -1))

    # -- checkpoints ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resumed run needs to sample as the uninterrupted one would: counters, the hash functions,
        the tables, the snapshot they hashed (read by log_q and the label scheme) and the index's generator
        states; tensors on the CPU (the trainer loads checkpoints there)."""
        st = {"step": self.step, "costs": list(self.costs), "last_rehash": self.last_rehash,
              "last_redraw": self.last_redraw}
        if self.index is not None:
            ix = self.index
            st["index"] = {
                "family": {k: v.cpu() for k, v in vars(ix.family).items() if isinstance(v, torch.Tensor)},
                "tables": {f.name: _cpu(getattr(ix.tables, f.name)) for f in dataclasses.fields(ix.tables)},
                "generator": ix.generator.get_state(), "fn_generator": ix.fn_generator.get_state(),
                "costs": list(ix.costs), "snapshot": self.snapshot.cpu(),
                "offset": None if ix.offset is None else ix.offset.cpu()}
        elif self._pending is not None:   # loaded but not used yet (e.g. a resumed run that was already done)
            st["index"] = self._pending
        return st

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the index is rebuilt on the label vectors' device at the next use (the
        model may be bound after this call). A state without an index (or an old one) rehashes then."""
        self.step, self.costs = int(state.get("step", 0)), list(state.get("costs", []))
        self.last_rehash, self.last_redraw = state.get("last_rehash"), state.get("last_redraw")
        self.index, self.snapshot, self._pending = None, None, state.get("index")
        if self._pending is None:
            self.last_rehash = self.last_redraw = None

    def _restore(self, st: dict) -> None:
        dev = self._device()
        W = st["snapshot"].to(dev)
        ix = build_index(self.lsh, W.shape[1], dev)
        for k, v in st["family"].items():
            setattr(ix.family, k, v.to(dev))
        ix.tables = Tables(**{k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in st["tables"].items()})
        ix.generator.set_state(st["generator"])
        ix.fn_generator.set_state(st["fn_generator"])
        ix.vectors, ix.costs = W, list(st["costs"])
        ix.offset = st["offset"].to(dev) if st.get("offset") is not None else None  # as the saved tables hashed
        self.index, self.snapshot = ix, W

    def _device(self) -> torch.device:
        dev = getattr(self.view, "device", None) if self._label_vectors is None else None
        return torch.device(dev) if dev is not None else self._labels(torch.zeros(1, dtype=torch.long)).device


def _cpu(x):
    return x.cpu() if isinstance(x, torch.Tensor) else x
