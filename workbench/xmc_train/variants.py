"""Variants: extra runs of one sampler with a few study parameters changed, compared in the same run as the
samplers (e.g. ``log_uniform:logq:true`` beside ``log_uniform``: the sampled softmax with and without the logQ
correction; ``uniform:remove_hits:false``: with accidental hits left in).

An entry is ``"sampler:field:value"`` or ``"sampler:field:value;field:value"`` (no ``=``: papermill cannot read
one in a notebook's parameter default); ``field`` is a scalar parameter of
:class:`~.study.NegativeMiningConfig` that shapes one training run (not the data, encoder, device or the study's
other sections: :data:`FIXED`). A variant's rows are tagged ``"<sampler> <field>=<value> ..."`` (its label) and
train without the sampler's stages (NGAME's M-IV, ``bce_stage_after``). Setting ``loss`` also drops the sampler's
``loss_overrides`` entry, so the variant trains with the loss it names; ``sampler_overrides`` still apply.
"""
from __future__ import annotations

import dataclasses
import re

from ..config import typed_value

#: parameters a variant may not change: they fix the data and model every run shares, or other sections
FIXED = frozenset({"dataset", "n_train", "n_test", "encoder", "max_length", "device", "cpu_threads", "seed",
                   "parabel", "parabel_trees", "profile_steps", "memory_cap_fraction", "memory_steps",
                   "ngame_m4_epochs", "bce_stage_epochs"})  # the last two: a variant has no stages


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str      # the rows' sampler tag, e.g. "log_uniform logq=true"
    sampler: str
    changes: dict   # field -> typed value


def parse_variants(items: list[str], config_cls: type) -> list[Variant]:
    """Parse ``items`` against ``config_cls``'s fields; unknown samplers or fields, list fields, :data:`FIXED` ones,
    values of the wrong type and repeated labels raise a ValueError naming the entry."""
    from ..samplers import SAMPLERS
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    defaults = config_cls()
    out = []
    for item in items:
        name, _, rest = item.partition(":")
        name = name.strip()
        parts = [p.strip() for p in rest.split(";") if p.strip()]
        if not name or not parts or any(":" not in p for p in parts):
            raise ValueError(f"variants entries are 'sampler:field:value[;field:value]', got {item!r}")
        SAMPLERS.get(name)
        changes = {}
        for p in parts:
            field, _, text = (x.strip() for x in p.partition(":"))
            kind = type(getattr(defaults, field, None))
            if field not in fields or field in FIXED or kind not in (bool, int, float, str):
                allowed = sorted(k for k in fields if k not in FIXED
                                 and type(getattr(defaults, k)) in (bool, int, float, str))
                raise ValueError(f"variants {item!r}: {field!r} cannot vary per run; fields that can: {allowed}")
            changes[field] = typed_value(kind, text, f"variants {item!r}: {field}")
        # from the typed values, so that one run has one label ("logq:True" and "logq:true" alike)
        shown = {f: str(x).lower() if isinstance(x, bool) else x for f, x in changes.items()}
        label = f"{name} " + " ".join(f"{f}={x}" for f, x in shown.items())
        if label in [v.label for v in out]:
            raise ValueError(f"variants: {item!r} is listed twice")
        out.append(Variant(label, name, changes))
    return out


#: loss parameters, and the losses that read them (:meth:`~.study.NegativeMiningConfig.loss_params`)
READ_BY = {"logq": ("softmax",), "temperature": ("softmax", "bce"), "margin": ("triplet",)}


def unread_by(sampler: str, fields) -> list[str]:
    """The names in ``fields`` (study parameters) that ``sampler``'s runs never read: :class:`SamplerConfig` fields
    outside its ``reads``, the ``lsh_*`` options for any sampler but lsh, ``label_cache_steps`` for one that is
    not ``stale_ok`` and ``heads`` for one that fixes its own (UniDEC's ``"de+clf"``)."""
    from ..samplers import SAMPLERS, SamplerConfig
    cls = SAMPLERS.get(sampler)
    shared = {f.name for f in dataclasses.fields(SamplerConfig)}
    return [f for f in fields if (f in shared and f not in cls.reads) or (f.startswith("lsh_") and sampler != "lsh")
            or (f == "label_cache_steps" and not getattr(cls, "stale_ok", False))
            or (f == "heads" and getattr(cls, "heads", None) == "de+clf")]


def check_effect(cfg, v: Variant) -> None:
    """Raise when ``v`` changes a parameter its sampler never reads (:func:`unread_by`) or a loss parameter that
    the loss its run trains with ignores (``logq`` under the triplet loss would train the same run again under
    another name), or asks for ``logq`` of a sampler whose batches carry no log-probabilities (full, in_batch,
    ance, ngame, unidec)."""
    from ..samplers import SAMPLERS
    if unread := unread_by(v.sampler, v.changes):
        raise ValueError(f"variants {v.label!r}: {v.sampler} never reads {unread}, so the run would repeat "
                         f"{v.sampler}'s under another name; drop it")
    loss = variant_config(cfg, v).loss_for(v.sampler)
    for field in v.changes.keys() & READ_BY.keys():
        if loss not in READ_BY[field]:
            raise ValueError(f"variants {v.label!r}: {field} does nothing under the {loss!r} loss that {v.sampler} "
                             f"trains with (it is read by {list(READ_BY[field])}); set loss too, or drop it")
    if "logq" in v.changes and not getattr(SAMPLERS.get(v.sampler), "samples_log_q", False):
        raise ValueError(f"variants {v.label!r}: logq does nothing for {v.sampler}, whose batches carry no sampling "
                         "log-probabilities (only uniform, log_uniform and lsh draw at random); drop it")


def variant_config(cfg, v: Variant):
    """``cfg`` as variant ``v`` trains it: its changes applied, no stages and no memory sweep (the study's own
    runs have those), its own loss where it names one."""
    over = [i for i in cfg.loss_overrides if i.partition(":")[0] != v.sampler] if "loss" in v.changes \
        else cfg.loss_overrides
    return dataclasses.replace(cfg, **v.changes, loss_overrides=over, samplers=[v.sampler], variants=[],
                               bce_stage_after=[], ngame_m4_epochs=0, memory_batch_sizes=[])


def file_name(label: str) -> str:
    """``label`` with the characters a file name should not hold replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
