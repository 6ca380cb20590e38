"""The negative-mining study's typed config and its data.

``NegativeMiningConfig`` fields are exactly the notebook's parameters (CPU-sized defaults: a subsample of the
Debian titles dataset, the tiny encoder, a few hundred steps; each field's help is in the notebook's parameters
cell); ``prepare`` loads and tokenises once. Training lives in :mod:`.stages`.
"""
from __future__ import annotations

import dataclasses

import torch

from ..config import at_least, distinct, positive, typed_value
from ..io import relative_note, user_path
from ..lsh.params import LSHParams
from ..samplers import SamplerConfig
from ..xmc.bow import XC_REPO
from ..xmc.dataset import XMCDataset
from ..xmc.load import MULAN
from .encoders import ENCODERS, TokenTable, get_encoder, tokenize
from .models import CLASSIFIER_FORMS, HEADS
from .subsample import subsample
from .train_config import TrainConfig
from .variants import Variant, check_effect, parse_variants, unread_by, variant_config

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
                             f"directory{relative_note(self.dataset)}; a directory in one of these layouts: "
                             + "; ".join(TEXT_LAYOUTS))

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
                             "give a directory in one of these layouts: " + "; ".join(TEXT_LAYOUTS)
                             + f" (raw text and label-feature JSON: {XC_REPO}, e.g. LF-AmazonTitles-131K; Mulan ARFF: "
                             f"{MULAN})")

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

    @property
    def full_debian_titles(self) -> bool:
        """The whole Debian titles set (no subsample): where the issue's reference points apply."""
        return self.dataset == "debian-titles" and self.n_train == 0 and self.n_test == 0

    def at_issue_scale(self) -> bool:
        """The issue's accuracy target's setting: the full Debian titles set, MiniLM, on a GPU."""
        from ..device import resolve_device
        return self.full_debian_titles and self.encoder == "minilm" and resolve_device(self.device).type == "cuda"


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
    registered, the field a :class:`SamplerConfig` field that it reads (its ``reads``), the value of its type
    (bools: true/false)."""
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
        if unread_by(name.strip(), [field]):
            raise ValueError(f"sampler_overrides {item!r}: {name.strip()} never reads {field}, so it would change "
                             f"nothing; its fields: {sorted(SAMPLERS.get(name.strip()).reads)}")
        out.setdefault(name.strip(), {})[field] = typed_value(type(getattr(defaults, field)), text,
                                                             f"sampler_overrides {item!r}: {field}")
    return out
