"""What every run records about where it ran: git commit, versions, Python, torch, CUDA, device."""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path

PACKAGES = ("workbench", "torch", "transformers", "numpy", "scipy", "pandas", "matplotlib", "seaborn",
            "papermill", "nbconvert", "scikit-learn", "triton", "torch-geometric", "napkinxc", "omikuji",
            "pyhessian", "curvlinops-for-pytorch")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_commit(path: Path | None = None) -> str:
    """HEAD's commit (with ``-dirty`` if the tree has changes); outside a checkout (a copy of the tree sent to a
    lent GPU machine) ``$WORKBENCH_GIT_COMMIT`` as given by whoever sent it, else ``unknown``."""
    cwd = str(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        stated = os.environ.get("WORKBENCH_GIT_COMMIT")
        return f"{stated} (stated by WORKBENCH_GIT_COMMIT: no checkout here)" if stated else "unknown"
    try:
        # the first status after a clone re-reads every notebook through the nbstripout filter: allow time
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return sha + " (uncommitted changes not checked: git status failed)"
    return sha + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
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


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def environment() -> dict[str, object]:
    """Machine, versions and accelerator, as recorded in every run's ``config.json``."""
    import torch
    cuda = torch.cuda.is_available()
    return {
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.machine()})",
        "cpu": f"{cpu_model() or platform.machine()}, {_usable_cores()} cores usable",
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
