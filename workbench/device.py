"""Device selection: ``"auto"`` resolves once to CUDA when present, else CPU; host memory a run can still use."""
from __future__ import annotations

import contextlib
import gc
import math
import os
import warnings
from pathlib import Path

import psutil
import torch


def check_device_spec(spec: str, name: str = "device") -> str:
    """``spec`` if it names a device ("auto", "cpu", "cuda", "cuda:N", ...), else a ValueError naming parameter
    ``name``. Availability is not checked here (a config may be written on a CPU for a GPU run). The studies
    run on CPUs and CUDA GPUs only: another backend (``mps``, ``xpu``) is refused here, not in a cell."""
    if spec != "auto":
        try:
            kind = torch.device(spec).type
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"{name} must be 'auto' or a torch device name ('cpu', 'cuda', 'cuda:N'), "
                             f"got {spec!r}") from exc
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"{name}={spec!r}: the studies run on 'cpu' or 'cuda[:N]' devices only")
    return spec


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda:0`` if available else ``cpu``; an explicit CUDA device without CUDA raises."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    dev = torch.device(check_device_spec(spec))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {spec!r} was asked for, but this machine has no CUDA GPU; "
                           "use device='auto' or 'cpu'")
    return dev


def with_index(dev: torch.device) -> torch.device:
    """``dev`` with an explicit index: a bare ``cuda`` is the current CUDA device, fixed now (so that tables,
    views, generators and every later call agree on one GPU); other devices unchanged."""
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return dev


def require_cuda(what: str) -> None:
    """Raise a clear error when a GPU-only path runs without CUDA."""
    if not torch.cuda.is_available():
        raise RuntimeError(f"{what} needs a CUDA GPU, and none is available on this machine")


def oom_kills(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")) -> int | None:
    """How many processes the out-of-memory killer has killed in this process's memory cgroup so far (v2
    ``memory.events``, v1 ``memory.oom_control``: ``oom_kill``), or None where unreadable. Take differences."""
    for d in _cgroup_dirs("memory", root, proc):
        for name in ("memory.events", "memory.oom_control"):
            try:
                return int(_key_values(d / name)["oom_kill"])
            except (OSError, ValueError, KeyError):
                continue
    return None


def _key_values(path: Path) -> dict[str, str]:
    """A cgroup stat file (``key value`` per line: ``cpu.stat``, ``memory.events``, ``memory.stat``) as a dict."""
    return dict(line.split()[:2] for line in path.read_text().splitlines() if line.strip())


def native_bf16(dev: torch.device) -> bool:
    """Whether ``dev`` computes in bfloat16 natively: a CUDA GPU of compute capability 8.0 (Ampere) or newer.
    Older ones (V100, T4) emulate it without tensor cores (torch's ``is_bf16_supported()`` says True there all
    the same), so bf16 autocast would only slow them down and change the numbers."""
    return dev.type == "cuda" and torch.cuda.get_device_capability(dev) >= (8, 0)


def bf16_autocast(dev: torch.device, wanted: bool = True) -> bool:
    """Whether to autocast to bfloat16 on ``dev``: asked for (``wanted``) and :func:`native_bf16`. A CUDA GPU
    without native bf16 gets a warning that the work runs in float32."""
    if not wanted or dev.type != "cuda":
        return False
    if native_bf16(dev):
        return True
    warnings.warn(f"{torch.cuda.get_device_name(dev)} (compute capability "
                  f"{'.'.join(map(str, torch.cuda.get_device_capability(dev)))}) has no native bfloat16: bf16 "
                  "autocast is off, the encoder runs in float32 (timings are not comparable with bf16 GPUs')",
                  RuntimeWarning, stacklevel=2)
    return False


def release_cuda_memory() -> None:
    """Free what dropped objects still hold on the GPU before a memory measurement: a gc pass first (an
    out-of-memory error's traceback, or any reference cycle, keeps tensors alive until one), then the caching
    allocator's unused blocks. A no-op without CUDA."""
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run the block with ``n`` torch CPU threads (``n`` <= 0: unchanged), restoring the count afterwards.

    One thread is often fastest for the CPU-sized defaults: on a small shared machine intra-op threads that
    wait on each other make small kernels stall."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask (which ``taskset`` and containers narrow), capped by a
    container's CPU quota (``docker --cpus=4`` leaves all of a host's cores in the mask; threads past the quota
    stall the whole process, :func:`cpu_throttling`), rounded up as joblib does."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = max(1, os.cpu_count() or 1)
    quota = cpu_quota_cores()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def _cgroup_dirs(controller: str, root: Path, proc: Path) -> list[Path]:
    """Where this process's cgroup files for ``controller`` may be: its own cgroup (``/proc/self/cgroup``; v2's
    ``0::/path``, or v1's line naming the controller, under ``root/<controller>``), then that cgroup's parents up
    to the mount's top (a container's cgroup namespace shows its own cgroup as ``/``)."""
    dirs = []
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        top = root if parts[1] == "" else root / controller if controller in parts[1].split(",") else None
        if top is not None:
            rel = Path(parts[2].lstrip("/"))
            dirs += [top / rel, *(top / up for up in rel.parents)]  # rel.parents ends with "." (the top)
    return [*dict.fromkeys(dirs + [root, root / controller])]


def cpu_quota_cores(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU bandwidth limit on this process in cores: the smallest of its cgroup's and its parents' (v2
    ``cpu.max``, v1 ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``; a systemd slice or a pod may set it above
    the process's own cgroup), or None where none is set or none can be read."""
    quotas = []
    for d in _cgroup_dirs("cpu", root, proc):
        try:
            if (d / "cpu.max").exists():
                quota, period = (d / "cpu.max").read_text().split()[:2]
                if quota != "max":
                    quotas.append(int(quota) / int(period))
            elif (d / "cpu.cfs_quota_us").exists():
                quota = int((d / "cpu.cfs_quota_us").read_text())
                if quota >= 0:
                    quotas.append(quota / int((d / "cpu.cfs_period_us").read_text()))
        except (OSError, ValueError):
            continue
    return min(quotas, default=None)


def cpu_throttling(root: Path = Path("/sys/fs/cgroup"),
                   proc: Path = Path("/proc/self/cgroup")) -> tuple[int, float] | None:
    """(periods throttled, seconds throttled) so far in this process's cgroup: how often and how long the CPU
    quota stopped every thread of it (v2 ``cpu.stat``'s ``nr_throttled`` / ``throttled_usec``, v1's
    ``nr_throttled`` / ``throttled_time`` in ns). None where no ``cpu.stat`` can be read. Take differences."""
    for d in _cgroup_dirs("cpu", root, proc):
        try:
            stat = _key_values(d / "cpu.stat")
            if "throttled_usec" in stat:
                return int(stat["nr_throttled"]), int(stat["throttled_usec"]) / 1e6
            if "throttled_time" in stat:
                return int(stat["nr_throttled"]), int(stat["throttled_time"]) / 1e9
        except (OSError, ValueError, KeyError):
            continue
    return None


#: (limit, usage, the memory.stat key of reclaimable page cache) of cgroup v2 and v1, below /sys/fs/cgroup
_CGROUP_FILES = (("memory.max", "memory.current", "memory.stat", "inactive_file"),
                 ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat",
                  "total_inactive_file"))


def host_memory_available(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Bytes of host memory this process can still use: psutil's ``available``, capped where a container's cgroup
    sets a limit (the host's free memory means nothing past it: the OOM killer acts at the limit) by the limit
    minus the cgroup's working set (usage less its inactive page cache, as ``docker stats`` counts it)."""
    free = psutil.virtual_memory().available
    for limit_file, usage_file, stat_file, cache_key in _CGROUP_FILES:
        try:
            limit = (cgroup / limit_file).read_text().strip()
            usage = int((cgroup / usage_file).read_text())
            stat = _key_values(cgroup / stat_file)
        except (OSError, ValueError):
            continue
        if limit != "max" and int(limit) < 1 << 60:  # v1 writes "no limit" as ~2^63
            free = min(free, int(limit) - (usage - int(stat.get(cache_key, 0))))
    return free
