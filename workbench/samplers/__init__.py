"""Negative samplers: one module per sampler, one protocol (:mod:`.base`), one registry by name."""
from ..registry import Registry
from .base import ModelView, SampledBatch, Sampler

SAMPLERS: Registry = Registry("sampler")

__all__ = ["SAMPLERS", "Sampler", "SampledBatch", "ModelView"]
