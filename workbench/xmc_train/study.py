"""The negative-mining study's typed config and the steps its notebook calls.

``NegativeMiningConfig`` fields are exactly the notebook's parameters (CPU-sized defaults: a subsample of the
Debian titles dataset, the tiny encoder, a few hundred steps). ``prepare`` loads and tokenises once;
``train_sampler`` trains one sampler from the same initial encoder and returns tidy rows; ``memory_sweep``
measures peak memory (CUDA) or the token proxy (CPU) per batch size.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from ..config import at_least, distinct, positive, typed_value
from ..device import release_cuda_memory, resolve_device
from ..io import user_path
from ..lsh.params import LSHParams
from ..progress import tqdm
from ..samplers import SamplerConfig, build_sampler
from ..xmc.dataset import XMCDataset
from .encoders import ENCODERS, TokenTable, get_encoder, tokenize
from .evaluate import evaluate, fusion_sweep
from .losses import build_loss
from .models import CLASSIFIER_FORMS, HEADS, XMCModel
from .subsample import subsample
from .trainer import TrainConfig, Trainer, steps_per_epoch
from .variants import Variant, check_effect, parse_variants, variant_config

# steps per measurement row: often enough for a curve of a CPU run's few hundred steps, rarely enough that
# the rows' synchronised timers cost little on a GPU (the notebook's "one row per 5 steps")
LOG_EVERY = 5


@dataclasses.dataclass(frozen=True)
class NegativeMiningConfig:
    dataset: str = "debian-titles"
    n_train: int = 1500
    n_test: int = 400
    samplers: list[str] = dataclasses.field(default_factory=lambda: [
        "full", "uniform", "log_uniform", "in_batch", "ance", "ngame", "unidec", "lsh"])
    heads: str = "de"
    loss: str = "softmax"
    loss_overrides: list[str] = dataclasses.field(default_factory=lambda: ["ngame:triplet"])
    sampler_overrides: list[str] = dataclasses.field(default_factory=list)
    variants: list[str] = dataclasses.field(default_factory=lambda: ["log_uniform:logq:true"])
    temperature: float = 0.05
    logq: bool = False
    margin: float = 0.3
    num_negatives: int = 4
    positives_per_query: int = 1
    remove_hits: bool = True
    refresh_every: int = 1
    shortlist_size: int = 50
    cluster_start: int = 1
    cluster_every: int = 1
    cluster_size_max: int = 16
    cluster_double_every: int = 1
    pool_cap: int = 1024
    psl_positives: int = 3
    hard_per_query: int = 2
    lsh_family: str = "simhash"
    lsh_bits: int = 6
    lsh_tables: int = 8
    lsh_bucket_cap: int = 64
    lsh_scheme: str = "embedding"
    lsh_rehash_every: int = 20
    lsh_redraw_every: int = 0
    lsh_center: bool = False
    label_cache_steps: int = 0
    exclude_filter_pairs: bool = True
    batch_size: int = 128
    epochs: int = 2
    time_budget_s: float = 0.0
    lr: float = 2e-3
    clf_lr: float = 0.02
    max_length: int = 16
    encoder: str = "tiny"
    freeze_encoder: bool = False
    classifier_form: str = "residual"
    eval_every: int = 8
    fuse_alpha: float = 0.5
    ngame_m4_epochs: int = 1
    bce_stage_after: list[str] = dataclasses.field(default_factory=list)
    bce_stage_epochs: int = 1
    memory_cap_fraction: float = 0.0
    memory_batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [32, 128])
    memory_steps: int = 2
    parabel: bool = True
    parabel_trees: int = 1
    device: str = "auto"
    cpu_threads: int = 1
    profile_steps: int = 0
    bare_probe_every: int = 4
    seed: int = 0

    def validate(self) -> None:
        from ..samplers import SAMPLERS
        from .losses import LOSSES
        for s in self.samplers:
            SAMPLERS.get(s)
        LOSSES.get(self.loss)
        for item in self.loss_overrides:
            name, _, loss = item.partition(":")
            if not loss:
                raise ValueError(f"loss_overrides entries are 'sampler:loss', got {item!r}")
            SAMPLERS.get(name), LOSSES.get(loss)
        for name in self.bce_stage_after:
            if name not in self.samplers:
                raise ValueError(f"bce_stage_after names {name!r}, which is not among samplers {self.samplers}")
        if self.bce_stage_epochs < 1:
            raise ValueError(f"bce_stage_epochs must be >= 1, got {self.bce_stage_epochs}")
        if self.profile_steps < 0:
            raise ValueError(f"profile_steps must be >= 0 (0: no operator profile), got {self.profile_steps}")
        if not 0 <= self.fuse_alpha <= 1:
            raise ValueError(f"fuse_alpha (the DE's weight in the fusion) must be in [0, 1], got {self.fuse_alpha}")
        if not 0 <= self.memory_cap_fraction <= 1:
            raise ValueError(f"memory_cap_fraction must be in [0, 1], got {self.memory_cap_fraction}")
        if self.classifier_form not in CLASSIFIER_FORMS:
            raise ValueError(f"classifier_form must be one of {list(CLASSIFIER_FORMS)}, got {self.classifier_form!r}")
        if self.heads not in HEADS:
            raise ValueError(f"heads must be one of {list(HEADS)}, got {self.heads!r}")
        if not self.samplers:
            raise ValueError("samplers: name at least one sampler")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {list(ENCODERS)}, got {self.encoder!r}")
        self._check_dataset()
        at_least(self, 0, "n_train", "n_test", "ngame_m4_epochs", "cpu_threads", "seed", "bare_probe_every",
                 zero_means={"n_train": "all", "n_test": "all", "ngame_m4_epochs": "no M-IV stage",
                             "cpu_threads": "torch's default",
                             "bare_probe_every": "the bare encoder is timed once, after all training runs"})
        at_least(self, 1, "parabel_trees", "memory_steps")
        at_least(self, 2, "max_length")  # room for [CLS] and [SEP] (workbench.xmc.tokens)
        distinct(self, "samplers", "bce_stage_after", "memory_batch_sizes")
        at_least(self, 0, "eval_every", zero_means={"eval_every": "at the start and the end only"})  # -1 (never)
        # is the trainer's, for runs the study does not evaluate (memory sweep): its tables need evaluation rows
        if self.memory_batch_sizes:
            at_least(self, 1, "memory_batch_sizes")
        positive(self, "lr", "clf_lr", "temperature", "margin")
        if self.time_budget_s < 0:
            raise ValueError(f"time_budget_s must be >= 0 (0: no cap), got {self.time_budget_s}")
        for name in {*self.samplers, *(item.partition(":")[0].strip() for item in self.sampler_overrides)}:
            self.sampler_config(name).validate()
        if "unidec" in self.samplers:  # else its first batch fails, after the samplers before it have trained
            cap = self.sampler_config("unidec").pool_cap
            largest = max(min(b, self.n_train or b) for b in (self.batch_size, *self.memory_batch_sizes))
            if cap < largest:
                raise ValueError(f"unidec: pool_cap ({cap}) must be at least the largest batch ({largest}: "
                                 "batch_size, memory_batch_sizes, at most n_train), so every query keeps a positive "
                                 "in the pool")
        self.lsh_params().validate()
        self.train_config().validate()
        for v in parse_variants(self.variants, type(self)):
            variant_config(self, v).validate()
            if v.sampler in self.samplers:  # an ignored entry (its sampler not compared) may not fit this loss
                check_effect(self, v)

    def variant_runs(self) -> list[Variant]:
        """The extra runs of ``variants`` (:mod:`.variants`) whose sampler is among ``samplers`` (as for
        ``sampler_overrides``, entries for samplers not compared are ignored: a profile's subset keeps them)."""
        return [v for v in parse_variants(self.variants, type(self)) if v.sampler in self.samplers]

    def _check_dataset(self) -> None:
        """A committed Debian variant, or a local directory that exists (its layout is checked when it is read)."""
        from ..xmc.debian import VARIANTS
        if self.dataset.startswith("debian-"):
            if self.dataset.split("-", 1)[1] not in VARIANTS:
                raise ValueError(f"dataset {self.dataset!r}: the committed Debian variants are "
                                 f"{[f'debian-{v}' for v in VARIANTS]}")
        elif not user_path(self.dataset).is_dir():
            raise ValueError(f"dataset {self.dataset!r} is neither 'debian-titles' / 'debian-fulltext' nor a local "
                             "directory; a directory in one of these layouts: " + "; ".join(TEXT_LAYOUTS))

    def check_data(self) -> None:
        """A local dataset directory holds a layout with texts (:func:`workbench.xmc.load.detect_layout`), so the
        run does not fail after it has started; the files themselves are checked when they are read."""
        from ..xmc.load import detect_layout
        if self.dataset.startswith("debian-"):
            return
        layout = detect_layout(user_path(self.dataset))  # as load_data reads it
        if layout not in ("raw_text", "lf_json", "mulan"):
            found = "no known XMC layout" if layout is None else f"the {layout} layout, which has no texts"
            raise ValueError(f"dataset {self.dataset!r} holds {found}; the study encodes query and label texts: "
                             "give a directory in one of these layouts: " + "; ".join(TEXT_LAYOUTS))

    def sampler_config(self, sampler: str | None = None) -> SamplerConfig:
        """The shared :class:`SamplerConfig` fields, with ``sampler``'s entries of ``sampler_overrides`` applied
        (``"unidec:cluster_start=5"``: UniDEC clusters from epoch 5 while NGAME keeps ``cluster_start``). Entries
        for samplers not compared are ignored; a field named twice takes the last value."""
        names = {f.name for f in dataclasses.fields(SamplerConfig)}
        base = SamplerConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})
        return dataclasses.replace(base, **parse_sampler_overrides(self.sampler_overrides).get(sampler, {}))

    def lsh_params(self) -> LSHParams:
        """The ``lsh`` sampler's options from the ``lsh_*`` fields; its log-probabilities are attached only when
        the loss applies the logQ correction (``logq``)."""
        return LSHParams(family=self.lsh_family, K=self.lsh_bits, L=self.lsh_tables, cap=self.lsh_bucket_cap,
                         scheme=self.lsh_scheme, rehash_every=self.lsh_rehash_every,
                         redraw_every=self.lsh_redraw_every, log_q=self.logq, center=self.lsh_center,
                         seed=self.seed)

    def sampler_options(self, sampler: str) -> dict:
        """Keyword options for ``build_sampler`` beyond the shared :class:`SamplerConfig` (only ``lsh`` has any)."""
        return {"lsh": self.lsh_params()} if sampler == "lsh" else {}

    def train_config(self, **over) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        vals = {k: v for k, v in dataclasses.asdict(self).items() if k in names}
        return TrainConfig(**{**vals, "log_every": LOG_EVERY, **over})

    def loss_for(self, sampler: str) -> str:
        return dict(item.split(":", 1) for item in self.loss_overrides).get(sampler, self.loss)

    def loss_params(self, loss: str | None = None) -> dict:
        loss = loss or self.loss
        if loss == "softmax":
            return {"temperature": self.temperature, "logq": self.logq}
        if loss == "triplet":
            return {"margin": self.margin}
        return {"scale": 1.0 / self.temperature}

    def heads_for(self, sampler: str) -> str:
        """Samplers that need both heads (UniDEC: ``heads = "de+clf"``) get them; the others train ``heads``."""
        from ..samplers import SAMPLERS
        return "de+clf" if getattr(SAMPLERS.get(sampler), "heads", None) == "de+clf" else self.heads


@dataclasses.dataclass
class Prepared:
    """The data and its token tables (train queries, test queries, labels), tokenised once."""
    data: XMCDataset
    train: TokenTable
    test: TokenTable
    labels: TokenTable


def load_data(cfg: NegativeMiningConfig) -> XMCDataset:
    """``debian-titles`` / ``debian-fulltext`` (the committed dataset) or a local dataset directory."""
    if cfg.dataset.startswith("debian-"):
        from ..xmc.debian import default_dataset
        data = default_dataset(cfg.dataset.split("-", 1)[1])
    else:
        from ..xmc.load import load_dataset
        data = load_dataset(user_path(cfg.dataset))
    return subsample(data, cfg.n_train, cfg.n_test, seed=cfg.seed)


# the layouts :func:`workbench.xmc.load.load_dataset` reads that carry query and label texts
TEXT_LAYOUTS = ("raw text (trn_X.txt, tst_X.txt, Y.txt beside trn_X_Y.txt, tst_X_Y.txt)",
                "label-feature JSON (lbl.json, trn.json, tst.json; *.gz too)",
                "Mulan ARFF (<name>-train.arff, <name>-test.arff, <name>.xml: texts are the words present)")


def require_texts(cfg: NegativeMiningConfig, data: XMCDataset) -> None:
    """Raise a ValueError naming ``cfg.dataset`` unless ``data`` has train, test and label texts (the study encodes
    texts; the bag-of-words layouts carry only feature vectors)."""
    missing = [k for k in ("train_texts", "test_texts", "label_texts") if getattr(data, k) is None]
    if missing:
        raise ValueError(f"dataset={cfg.dataset!r} ({data.name}) has no {', '.join(missing)}: the negative-mining "
                         "study needs query and label texts to encode, which the bag-of-words layouts "
                         "(train.txt/test.txt, *_data.txt + splits) lack. Use 'debian-titles' / 'debian-fulltext' "
                         "or a directory in a layout with texts: " + "; ".join(TEXT_LAYOUTS))


def prepare(cfg: NegativeMiningConfig, data: XMCDataset | None = None) -> Prepared:
    """The dataset, checked for texts, and its tokens. Sets torch's CPU threads (``cpu_threads``) for the whole
    study here, so that later cells run as they would after training also when a resumed run reads it back."""
    if cfg.cpu_threads > 0:
        torch.set_num_threads(cfg.cpu_threads)
    data = data if data is not None else load_data(cfg)
    require_texts(cfg, data)
    tok = get_encoder(cfg.encoder, cfg.seed, cfg.max_length).tokenizer
    return Prepared(data, *(tokenize(tok, t, cfg.max_length) for t in (data.train_texts, data.test_texts,
                                                                        data.label_texts)))


def parse_sampler_overrides(items: list[str]) -> dict[str, dict]:
    """``["unidec:cluster_start=5", ...]`` -> ``{"unidec": {"cluster_start": 5}}``; the sampler must be
    registered, the field a :class:`SamplerConfig` field, the value of its type (bools: true/false)."""
    from ..samplers import SAMPLERS
    defaults = SamplerConfig()
    out: dict[str, dict] = {}
    for item in items:
        name, _, assignment = item.partition(":")
        field, eq, text = assignment.partition("=")
        field, text = field.strip(), text.strip()
        if not eq or not field or not text:
            raise ValueError(f"sampler_overrides entries are 'sampler:field=value', got {item!r}")
        SAMPLERS.get(name.strip())
        if not hasattr(defaults, field):
            raise ValueError(f"sampler_overrides {item!r}: {field!r} is not a SamplerConfig field; known: "
                             f"{[f.name for f in dataclasses.fields(SamplerConfig)]}")
        out.setdefault(name.strip(), {})[field] = typed_value(type(getattr(defaults, field)), text,
                                                             f"sampler_overrides {item!r}: {field}")
    return out


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
    """A few steps per (sampler, batch size), no evaluation: peak CUDA memory (CPU: encoded tokens per step
    as the proxy) and seconds per step. One row per pair; a CUDA out-of-memory gives a row with ``oom`` True
    and ends that sampler's sweep (larger batches would not fit either)."""
    rows, oom = [], set()
    pairs = [(name, bs) for name in samplers or cfg.samplers for bs in sorted(cfg.memory_batch_sizes)]
    for name, bs in tqdm(pairs, desc="memory sweep", leave=False):
        if name in oom:  # larger batches would not fit either
            continue
        release_cuda_memory()  # earlier runs' tensors must not count in this one's peak
        try:
            r, _, _ = train_sampler(cfg, prep, name, progress=False, batch_size=bs, max_steps=cfg.memory_steps,
                                    eval_every=-1, log_every=cfg.memory_steps, time_budget_s=0.0, bare_probe_every=0)
        except torch.OutOfMemoryError:
            rows.append({"sampler": name, "batch_size": bs, "oom": True})
            oom.add(name)
            continue
        last = [x for x in r if "loss" in x][-1]
        busy = sum(last[k] for k in ("sample_s", "encode_s", "loss_s", "backward_s"))
        rows.append({"sampler": name, "batch_size": bs, "oom": False, "peak_mem_mib": last["peak_mem_mib"],
                     "tokens_per_step": last["tokens_per_step"], "step_s": busy / last["steps"]})
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
