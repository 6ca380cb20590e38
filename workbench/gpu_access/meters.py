"""What an epoch costs besides wall time: process CPU seconds (psutil) and GPU energy (NVML counter)."""
from __future__ import annotations

import psutil
import torch


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads (psutil)."""
    t = psutil.Process().cpu_times()
    return t.user + t.system


class EnergyMeter:
    """GPU energy in joules from NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since
    driver load; Volta and newer). ``read()`` is None where unavailable: no CUDA, no nvidia-ml-py, old GPU."""

    def __init__(self, device: torch.device):
        self._handle, self.reason = None, "not a CUDA device"
        if device.type != "cuda":
            return
        try:
            import pynvml  # nvidia-ml-py; lazily, it is optional
            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self._nvml_index(device))
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)  # probe once: old GPUs raise here
            self.reason = ""
        except Exception as exc:  # noqa: BLE001 - any NVML failure means "no energy reading", never a crash
            self._handle, self.reason = None, f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _nvml_index(device: torch.device) -> int:
        """NVML counts every GPU; map through CUDA_VISIBLE_DEVICES when it lists plain indices."""
        import os
        idx = device.index or 0
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        parts = [p.strip() for p in visible.split(",") if p.strip()]
        if parts and all(p.isdigit() for p in parts) and idx < len(parts):
            return int(parts[idx])
        return idx

    def read(self) -> float | None:
        """Joules consumed since the driver loaded, or None."""
        if self._handle is None:
            return None
        try:
            return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0
        except Exception:  # noqa: BLE001
            return None
