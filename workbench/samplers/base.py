"""The negative-sampler protocol shared by every sampler of the XMC studies.

A sampler decides, for one mini-batch of training queries, which labels are scored (a pool of unique label
ids, encoded once) and, per query, which pool columns are its candidates and which are positives. It may also
decide how queries are grouped into batches (NGAME, UniDEC) and refresh its state from the model (ANCE, LSH).

Optional parts of the protocol (a sampler needs them only when it has the state or behaviour they serve):
- :class:`SamplerConfig`: the one options record every registered sampler is built from, as
  ``SAMPLERS.get(name)(Y_train, cfg)`` (see :func:`build_sampler`); a sampler reads the fields it needs.
- ``state_dict()`` / ``load_state_dict(d)``: what a checkpoint must keep (shortlists, clusters) so a resumed run
  reproduces the same batches; samplers without state need neither.
- ``bind(view)``: samplers that read the model between refreshes (lsh: query embeddings at every step) keep
  the :class:`ModelView` given here; the trainer binds its model once at start, so a resumed run (which skips
  the epoch-start refresh) has it too. The default does nothing.
- ``stale_ok``: samplers whose pool is the whole label set may set ``stale_ok = True`` to let the
  trainer score non-positive pool labels from a periodically refreshed, gradient-free label cache.
- ``heads``: a sampler whose method trains both heads sets ``heads = "de+clf"`` (UniDEC); the negative-mining
  study then builds that model for it whatever its ``heads`` parameter says.
- ``samples_log_q``: True on samplers whose batches carry ``log_q`` (uniform, log_uniform, lsh); the study
  refuses a ``logq`` variant of the others, where the correction would change nothing.
- ``reads``: the :class:`SamplerConfig` fields the sampler reads; the study refuses a ``sampler_overrides``
  entry or a variant that sets another one for it (it would train the same run again). The contract test
  records what each sampler really reads and checks it against this set.

Adding one: a module here with a class registered as ``@SAMPLERS.register("name")`` (usually a subclass of
:class:`BaseSampler`; :class:`~.uniform.CandidateSampler` for k drawn negatives per query), imported in
``__init__.py``; the contract test then checks it. Its options are :class:`SamplerConfig` fields, which the
negative-mining study fills by field name from its own parameters (``NegativeMiningConfig.sampler_config``): a new
field also needs a parameter of the same name there and in the notebook's parameters cell, or is set per sampler
through ``sampler_overrides`` only (as ``share_negatives``). The study's CPU-sized
values differ from the paper-scale defaults here (e.g. ``cluster_start`` 1 there, 10 here).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Protocol, runtime_checkable

import torch


@dataclasses.dataclass
class SampledBatch:
    """What the loss needs for one mini-batch.

    queries:    (B,) int64 row ids of the training queries.
    pool:       (C,) int64 unique label ids scored in this batch (label embeddings / classifier rows to compute).
    candidates: (B, K) int64 column indices into ``pool`` scored for each query, or None: every query scores
                the whole pool (full, in-batch, UniDEC).
    targets:    (B, K) bool (or (B, C) when ``candidates`` is None): which scored labels are positives.
    log_q:      same shape as ``targets``, float log expected count of each candidate in the draw (for a logQ
                correction): log(k Q(c)) for k draws from Q (uniform, log_uniform; positives too, as if drawn:
                TensorFlow's convention), the log inclusion probability of an LSH negative and 0 for its
                positives (always scored); None where sampling is not random (full, in-batch, hard negatives).
    valid:      same shape as ``targets``, bool: False marks padding that the loss must ignore, or None.
    """
    queries: torch.Tensor
    pool: torch.Tensor
    candidates: torch.Tensor | None
    targets: torch.Tensor
    log_q: torch.Tensor | None = None
    valid: torch.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Options shared by the samplers; each sampler reads only the fields it documents.

    num_negatives:        k negatives per query (uniform, log_uniform, ance, lsh).
    positives_per_query:  positives sampled per query (1 = one sampled positive, as NGAME / DEXML; uniform,
                          log_uniform, in_batch, ngame, ance, lsh).
    remove_hits:          mask negatives that are positives of the query (accidental hits) as invalid (uniform,
                          log_uniform, ance).
    share_negatives:      uniform/log_uniform draw one set of k negatives for the whole batch (TensorFlow's
                          sampled softmax) instead of k per query. The study has no parameter of this name: set
                          it per sampler with ``sampler_overrides`` (``uniform:share_negatives=true``).
    refresh_every:        epochs between model-driven refreshes (ance's and unidec's shortlists).
    shortlist_size:       top-k labels kept per training query for hard negatives (ance, unidec).
    cluster_start:        first epoch with clustered batches (ngame, unidec); random batches before.
    cluster_every:        epochs between re-clusterings from ``cluster_start`` on (ngame, unidec).
    cluster_size_max:     largest cluster (points) the doubling schedule reaches (ngame); unidec's fixed cluster
                          size. Clusters come from halving until each fits, so they hold between about half
                          of the size asked and all of it.
    cluster_double_every: epochs between doublings of the cluster size (ngame), from 1 point at epoch 0.
    pool_cap:             most labels in one batch's pool (unidec pick-some-labels).
    psl_positives:        positives each query samples into the pool first (unidec; 3 in the reference setting).
    hard_per_query:       shortlist negatives added per query to the pool (unidec).
    seed:                 for sampler-internal randomness not driven by the batch generator (clustering).
    """
    num_negatives: int = 8
    positives_per_query: int = 1
    remove_hits: bool = True
    share_negatives: bool = False
    refresh_every: int = 1
    shortlist_size: int = 100
    cluster_start: int = 10
    cluster_every: int = 5
    cluster_size_max: int = 512
    cluster_double_every: int = 2
    pool_cap: int = 4096
    psl_positives: int = 3
    hard_per_query: int = 4
    seed: int = 0

    def validate(self) -> None:
        for name in ("num_negatives", "positives_per_query", "refresh_every", "shortlist_size",
                     "cluster_every", "cluster_size_max", "cluster_double_every", "pool_cap", "psl_positives"):
            if getattr(self, name) < 1:
                raise ValueError(f"SamplerConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.cluster_start < 0 or self.hard_per_query < 0:
            raise ValueError("SamplerConfig.cluster_start and hard_per_query must be >= 0")


def mask_excluded(batch: SampledBatch, pos) -> SampledBatch:
    """``batch`` with its scored labels that are excluded pairs of their query (:class:`~.positives.Positives`
    ``pos.excluded``) marked invalid, unless they are positives: one place for every sampler, whose own masks
    cover only the negatives they choose (ANCE's and UniDEC's shortlists also skip excluded pairs)."""
    ex = getattr(pos, "excluded", None)
    if ex is None:
        return batch
    if batch.candidates is None:  # every query scores the whole pool
        pool = batch.pool
        ordered = len(pool) < 2 or bool((pool[1:] > pool[:-1]).all())
        hit = ex.pool_targets(batch.queries, pool) if ordered else ex.is_positive(batch.queries, pool)
    else:
        hit = ex.is_positive(batch.queries, batch.pool[batch.candidates])
    hit &= ~batch.targets.bool()
    if not bool(hit.any()):
        return batch
    return dataclasses.replace(batch, valid=~hit if batch.valid is None else batch.valid & ~hit)


@runtime_checkable
class Sampler(Protocol):
    """One negative-sampling strategy. Implementations live in ``workbench/samplers/<name>.py``."""
    name: str

    def batches(self, epoch: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """The epoch's mini-batches of training-query ids (random permutation unless the sampler groups): every
        query once, in exactly ``ceil(n / batch_size)`` batches of at most ``batch_size`` ids, the count the
        trainer plans its learning-rate schedule from (it raises on any other count)."""
        ...

    def sample(self, queries: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        """Pool, candidates and targets for one mini-batch of query ids."""
        ...

    def refresh(self, view: "ModelView", epoch: int, step: int) -> float:
        """Update the sampler's state from the current model ``view`` (shortlists, clusters, hash tables);
        returns seconds spent (0.0 when nothing was due)."""
        ...


class ModelView(Protocol):
    """What a sampler may ask of the model being trained (encode texts/queries, label weight vectors)."""

    def query_embeddings(self, ids: torch.Tensor | None = None) -> torch.Tensor: ...

    def label_embeddings(self, ids: torch.Tensor | None = None) -> torch.Tensor: ...


class BaseSampler:
    """Defaults for the optional parts of the protocol: random batches, no refresh, no state.

    Subclasses set ``name`` and implement :meth:`sample`; ``self.pos`` answers positive look-ups.
    """
    name = "base"
    stale_ok = False
    samples_log_q = False  # True where sample() returns log_q (random draws), so a logQ correction can apply
    reads: frozenset[str] = frozenset()  # the SamplerConfig fields it reads (the study refuses setting others)

    def __init__(self, Y_train, cfg: SamplerConfig):
        from .positives import Positives
        self.cfg = cfg
        self.pos = Positives(Y_train)
        self.num_labels = self.pos.num_labels

    def batches(self, epoch: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        from .positives import random_batches
        return iter(random_batches(self.pos.num_queries, batch_size, generator))

    def refresh(self, view: "ModelView", epoch: int, step: int) -> float:
        return 0.0

    def refresh_step(self) -> float:
        """Rebuild what a sampler keeps between steps when it is due (lsh: its tables every ``rehash_every``
        steps); the trainer calls it before :meth:`sample` and times it as refresh_s, not sampling. Returns
        seconds spent (0.0: nothing due)."""
        return 0.0

    def bind(self, view: "ModelView") -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
