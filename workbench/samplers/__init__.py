"""Negative samplers: one module per sampler, one protocol (:mod:`.base`), one registry by name.

Every registered sampler is built as ``SAMPLERS.get(name)(Y_train, SamplerConfig(...), **options)``;
:func:`build_sampler` does that and validates the config. ``options`` are the sampler's own keyword arguments
beyond the shared config (e.g. ``lsh=LSHParams(...)`` for ``lsh``); a sampler given options it does not take raises.
"""
from ..registry import Registry
from .base import ModelView, SampledBatch, Sampler, SamplerConfig

SAMPLERS: Registry = Registry("sampler")


def build_sampler(name: str, Y_train, cfg: SamplerConfig | None = None, **options) -> Sampler:
    """The sampler registered as ``name`` over the (n_train, L) CSR relevance matrix ``Y_train``; ``options`` go
    to its constructor (sampler-specific settings, e.g. ``lsh=LSHParams(...)``)."""
    cfg = cfg or SamplerConfig()
    cfg.validate()
    cls = SAMPLERS.get(name)
    try:
        return cls(Y_train, cfg, **options)
    except TypeError as exc:
        if options and "unexpected keyword" in str(exc):
            raise TypeError(f"sampler {name!r} takes none of the options {sorted(options)}: {exc}") from None
        raise


# Importing the modules registers them; kept after SAMPLERS exists (they import it from here).
from . import full, uniform, log_uniform, in_batch, ance, ngame, unidec, lsh  # noqa: E402,F401

__all__ = ["SAMPLERS", "Sampler", "SampledBatch", "SamplerConfig", "ModelView", "build_sampler"]
