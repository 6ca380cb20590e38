"""Shared test fixtures: CPU/GPU parametrization (PyG's withCUDA / onlyCUDA pattern), shared data paths."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WORKBENCH_BATCH", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
HAS_CUDA = torch.cuda.is_available()

#: parametrize a test over every available device: ``@with_cuda`` then take ``device`` as an argument
with_cuda = pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda:0", marks=[pytest.mark.cuda,
                                                    pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")])])


def only_cuda(test):
    """A test that only makes sense on a GPU: skipped without one, and marked ``cuda`` so that
    ``pytest -m cuda`` (scripts/gpu_checks.sh) selects it on the lent machine."""
    return pytest.mark.cuda(pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")(test))


def pytest_collection_modifyitems(config, items):
    """Refuse a test that skips for want of CUDA but lacks the ``cuda`` mark: ``-m cuda`` would never run it."""
    unmarked = [item.nodeid for item in items if item.get_closest_marker("cuda") is None
                and any("CUDA" in str(m.kwargs.get("reason", "")) and m.args and m.args[0]
                        for m in item.iter_markers("skipif"))]
    if unmarked:
        raise pytest.UsageError("tests skipped for want of CUDA but not marked `cuda` (use only_cuda / with_cuda): "
                                + ", ".join(unmarked[:10]))


def require_shared(relative: str = "", *needs: str) -> Path:
    """``../shared/data/<relative>``; skips the calling test unless it exists and, for a folder, each of ``needs``
    (glob patterns inside it, e.g. ``"facebook_target.csv*"`` for a file that may be gzipped) matches something.
    A partial copy of the shared data then skips only the tests whose own files are missing."""
    path = SHARED_DATA / relative if relative else SHARED_DATA
    if not path.exists():
        pytest.skip(f"{path} is not present")
    missing = [n for n in needs if not (path.is_dir() and any(path.glob(n)))]
    if missing:
        pytest.skip(f"{path} lacks {missing}")
    return path


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip when it is absent."""
    return require_shared()


@pytest.fixture
def shared_path():
    """:func:`require_shared` for a test that reads specific shared files: ``shared_path("planetoid/raw",
    "ind.cora.x", ...)`` returns the path or skips the test when it, or one of the files it needs, is absent."""
    return require_shared


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the tests use tiny models, where a second thread only adds contention (10-40x
    slower on a loaded 2-core machine). Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _scratch_dir(tmp_path, monkeypatch):
    """Notebook helpers write into a temporary scratch directory, never into reports/."""
    monkeypatch.setenv("WORKBENCH_SCRATCH", str(tmp_path / "scratch"))
