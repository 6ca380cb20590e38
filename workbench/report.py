"""What a study notebook uses to record its results: the run directory, tidy tables, figures, one style.

A notebook calls :func:`start_run` once, right after building its config. Under ``python -m workbench run`` the
run directory is the one the runner made (``WORKBENCH_RUN_DIR``); in JupyterLab or under nbval it is
``reports/_scratch/<study>/`` (or ``$WORKBENCH_SCRATCH``), so exploring never pollutes the published runs.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from .io import atomic_write, write_json
from .progress import BATCH_ENV, is_batch  # noqa: F401  (re-exported: the runner and explorer read them here)
from .provenance import dataset_record, environment, now
from .resume import Memo, UnitStore, config_key, no_memo

RUN_DIR_ENV = "WORKBENCH_RUN_DIR"
SCRATCH_ENV = "WORKBENCH_SCRATCH"
PARTIAL_DIR = "partial"  # a run's finished units (see Run.memo), removed by the runner when the run ends well
CHECKPOINT_DIR = "checkpoints"  # long trainings' checkpoints under the runner (see Run.checkpoint_dir)


def repo_root(start: Path | None = None) -> Path:
    """The checkout holding ``pyproject.toml`` above ``start`` (default: cwd); outside one, the checkout this
    package is imported from (when it holds ``notebooks/``: ``cd /tmp && python -m workbench list`` still finds
    the studies); else ``start``."""
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").exists() and (p / "workbench").is_dir():
            return p
    package_checkout = Path(__file__).resolve().parents[1]
    if (package_checkout / "notebooks").is_dir():
        return package_checkout
    return here


def set_style() -> None:
    """The shared figure style: seaborn whitegrid, readable sizes, tight layout."""
    import matplotlib as mpl
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    mpl.rcParams.update({"figure.figsize": (7.0, 4.2), "figure.dpi": 100, "savefig.dpi": 120,
                         "savefig.bbox": "tight", "axes.titleweight": "bold", "figure.autolayout": True})


def log_y_if_wide(ax, values, factor: float = 20.0) -> None:
    """Log y axis on ``ax`` when the positive ``values`` span more than ``factor`` (a linear one would flatten the
    small ones against the axis)."""
    v = pd.Series(values, dtype=float).dropna()
    if len(v) and v.min() > 0 and v.max() / v.min() > factor:
        ax.set_yscale("log")


@dataclasses.dataclass
class Run:
    """A study run's directory and the helpers that write into it."""
    study: str
    dir: Path
    config: dict[str, Any]

    def append(self, rows: Mapping[str, Any] | Iterable[Mapping[str, Any]],
               table: str = "measurements") -> pd.DataFrame:
        """Append tidy rows to ``<table>.csv`` (rewritten atomically) and return the whole table."""
        if isinstance(rows, Mapping):
            rows = [rows]
        new = pd.DataFrame(list(rows))
        path = self.dir / f"{table}.csv"
        df = pd.concat([pd.read_csv(path), new], ignore_index=True) if path.exists() else new
        atomic_write(path, lambda p: df.to_csv(p, index=False))
        return df

    def write_table(self, df: pd.DataFrame, name: str) -> Path:
        """Write a whole table as ``<name>.csv``."""
        return atomic_write(self.dir / f"{name}.csv", lambda p: df.to_csv(p, index=False))

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``<name>.png``; a figure must have a title (checked)."""
        has_title = bool(getattr(fig, "_suptitle", None)) or any(ax.get_title() for ax in fig.get_axes())
        if not has_title:
            raise ValueError(f"figure {name!r} has no title; every figure needs a title, units and a legend")
        return atomic_write(self.dir / f"{name}.png", lambda p: fig.savefig(p, format="png"))

    def path(self, name: str) -> Path:
        """A path inside the run directory for anything else (checkpoints, arrays)."""
        return self.dir / name

    @property
    def checkpoint_dir(self) -> Path | None:
        """Where long trainings checkpoint (``checkpoints/``) under the runner, for ``--resume``; None elsewhere
        (JupyterLab, nbval), where every cell computes, as :attr:`memo` does: a scratch folder's checkpoints
        would be read back silently by the next Run All."""
        return self.dir / CHECKPOINT_DIR if os.environ.get(RUN_DIR_ENV) else None

    @functools.cached_property
    def memo(self) -> Memo:
        """The :data:`workbench.resume.Memo` for the study's long loops. Under the runner, finished units are kept
        under ``partial/<config hash>/`` so that ``python -m workbench run <study> --resume`` continues a failed
        run; elsewhere (JupyterLab, nbval) it computes every unit."""
        if not os.environ.get(RUN_DIR_ENV):
            return no_memo
        return UnitStore(self.dir / PARTIAL_DIR / config_key(self.config))


def _default_dir(study: str) -> Path:
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    scratch = os.environ.get(SCRATCH_ENV)
    return Path(scratch) / study if scratch else repo_root() / "reports" / "_scratch" / study


def start_run(study: str, config: Any, run_dir: str | Path | None = None) -> Run:
    """Create (or reuse) the run directory and write ``effective_config.json``: the typed config as run, with
    provenance (the device its ``device`` resolves to, the data files it names: :func:`provenance.dataset_record`).
    Returns the :class:`Run` the notebook writes its results through."""
    set_style()
    d = Path(run_dir) if run_dir else _default_dir(study)
    d.mkdir(parents=True, exist_ok=True)
    if not os.environ.get(RUN_DIR_ENV) and run_dir is None:
        # a scratch directory is reused by every rerun in JupyterLab: start from no tables, figures or checkpoints
        for old in (*d.glob("*.csv"), *d.glob("*.png")):
            old.unlink()
        shutil.rmtree(d / CHECKPOINT_DIR, ignore_errors=True)
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    env = environment(cfg.get("device", "auto"))
    # torch_threads is this process's count now; a study's own setting (for its timed loops) is recorded beside it
    # (the GNN study's torch_threads, beside its gather_threads; elsewhere cpu_threads)
    key = "torch_threads" if "torch_threads" in cfg else "cpu_threads"
    threads = cfg.get(key) if isinstance(cfg.get(key), int) and cfg[key] > 0 else None
    if threads is not None:
        env["study_torch_threads"] = threads
    write_json(d / "effective_config.json", {"study": study, "parameters": cfg, "dataset": dataset_record(cfg),
                                             "started": now(), **env})
    return Run(study=study, dir=d, config=cfg)
