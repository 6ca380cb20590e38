"""Resumable runs: each finished unit of a study's long loop is kept in the run directory until the run ends well.

Only runs of the runner (``python -m workbench run``) keep units; in JupyterLab and under nbval every loop
computes (a re-executed cell must reflect edited code).

A unit is one self-contained piece of a loop: a sampler's training run, one learning-rate bisection, one store's
epochs on one graph. A loop takes a :data:`Memo` and computes each unit through it: ``memo(name, fn)`` returns
``fn()`` and saves it, or returns what an earlier attempt of the same run saved under ``name``. So after a crash,
a ``timeout`` or a lost machine, ``python -m workbench run <study> --resume`` redoes only the unfinished units.

Units must not share state (random generators included): a unit's result must not depend on whether the units
before it were computed or read back. Each unit's timings are its own, so a resumed run compares timings taken
in different attempts; the run record lists the units read back (``resumed_units``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from .io import atomic_write, read_json, write_json

T = TypeVar("T")
Memo = Callable[[str, Callable[[], T]], T]
RESUMED_FILE = "resumed.json"  # in a store's directory: the names read back from an earlier attempt


def no_memo(name: str, fn: Callable[[], T]) -> T:
    """The :data:`Memo` of a loop run outside a study run: compute every unit."""
    return fn()


def config_key(config: Any) -> str:
    """A short hash of a whole config (a dataclass or a mapping): units of another configuration never match."""
    d = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


class UnitStore:
    """A :data:`Memo` over one directory: one ``torch.save`` file per unit, written atomically when the unit
    has finished (so an interrupted unit is simply recomputed).

    One store serves one attempt: a name asked for again in the same attempt (a loop over ``[cpu, gpu, cpu]``)
    is a new unit, ``name#2``, computed afresh, never the first one's result; an attempt that repeats the loop
    finds each occurrence under its own name."""

    def __init__(self, directory: str | Path, announce: Callable[[str], object] | None = print):
        self.dir = Path(directory)
        self.announce = announce
        self._asked: dict[str, int] = {}  # name -> times asked for in this attempt

    def path(self, name: str) -> Path:
        """The unit's file: a readable slug of ``name`` plus a hash of it (any string is a valid name)."""
        if not name:
            raise ValueError("a unit needs a non-empty name")
        slug = re.sub(r"[^A-Za-z0-9_.=@+-]+", "_", name)[:80]
        return self.dir / f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:8]}.pt"

    def __call__(self, name: str, fn: Callable[[], T]) -> T:
        self._asked[name] = self._asked.get(name, 0) + 1
        if self._asked[name] > 1:
            name = f"{name}#{self._asked[name]}"
        path = self.path(name)
        if path.exists():
            try:
                value = torch.load(path, map_location="cpu" if not torch.cuda.is_available() else None,
                                   weights_only=False)
            except Exception as exc:  # noqa: BLE001 - damaged, or written by other library versions: redo it
                warnings.warn(f"unit {name!r} could not be read back ({type(exc).__name__}: {exc}); computing "
                              "it again", RuntimeWarning, stacklevel=2)
                path.unlink()
            else:
                self._note_resumed(name)
                if self.announce:
                    self.announce(f"resumed {name!r}: finished in an earlier attempt of this run")
                return value
        value = fn()
        try:
            atomic_write(path, lambda p: torch.save(value, p))
        except (pickle.PicklingError, TypeError, AttributeError, OSError) as exc:  # the result stands, unsaved
            warnings.warn(f"unit {name!r} could not be kept for a resume ({type(exc).__name__}: {exc})",
                          RuntimeWarning, stacklevel=2)
        return value

    def resumed(self) -> list[str]:
        """Names of the units read back so far (over every attempt that used this directory)."""
        f = self.dir / RESUMED_FILE
        return read_json(f) if f.exists() else []

    def _note_resumed(self, name: str) -> None:
        note_resumed(self.dir, name)


def note_resumed(directory: str | Path, name: str) -> None:
    """Add ``name`` to the list of what was read back from an earlier attempt, kept in ``directory`` (a unit
    store's, or the folder of a training checkpoint: the trainer notes a run continued from its checkpoint)."""
    f = Path(directory) / RESUMED_FILE
    names = read_json(f) if f.exists() else []
    if name not in names:
        write_json(f, names + [name])


def resumed_units(run_dir: str | Path) -> list[str]:
    """Everything a run read back from an earlier attempt: the units of its stores (``<run_dir>/partial/*/``)
    and the training runs continued from a checkpoint (in a folder of the run, e.g. ``checkpoints/``)."""
    d = Path(run_dir)
    files = [*sorted(d.glob(f"partial/*/{RESUMED_FILE}")), *sorted(d.glob(f"*/{RESUMED_FILE}"))]
    return [n for f in files for n in read_json(f)]


__all__ = ["Memo", "no_memo", "config_key", "UnitStore", "note_resumed", "resumed_units"]
