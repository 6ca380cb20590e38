"""What an epoch costs besides wall time: process CPU seconds (psutil) and GPU energy (NVML counter)."""
from __future__ import annotations

from typing import Callable

import psutil
import torch


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads (psutil). Includes the host's waits on the
    GPU: CUDA's default scheduling spins in ``synchronize()`` while cores outnumber active CUDA contexts
    (cudaDeviceScheduleAuto), so a thread waiting for a kernel or copy burns CPU time."""
    t = psutil.Process().cpu_times()
    return t.user + t.system


def pci_bus_id(props) -> str | None:
    """NVML's PCI bus id string (``domain:bus:device.function``, hex, as in ``nvmlPciInfo_t.busId``) of a torch
    device, from ``torch.cuda.get_device_properties`` (its ``pci_domain_id``, ``pci_bus_id``, ``pci_device_id``;
    recent torch); None where torch does not report them."""
    try:
        domain, bus, dev = int(props.pci_domain_id), int(props.pci_bus_id), int(props.pci_device_id)
    except (AttributeError, TypeError, ValueError):
        return None
    return f"{domain:08x}:{bus:02x}:{dev:02x}.0"


def nvml_handle(nvml, device: torch.device, properties: Callable | None = None):
    """(NVML handle of the GPU behind torch's ``device``, how it was found).

    Not by index: NVML counts GPUs in PCI bus order, while CUDA's index follows ``CUDA_DEVICE_ORDER`` (default
    FASTEST_FIRST) within ``CUDA_VISIBLE_DEVICES``, so ``cuda:0`` may be any NVML index. By PCI bus id, else by
    UUID, else by index only when NVML sees a single GPU; LookupError otherwise. Under MIG the handle is the
    whole GPU's (its energy includes the other instances).
    """
    properties = properties or torch.cuda.get_device_properties
    index = torch.cuda.current_device() if device.index is None else device.index
    props = properties(index)
    bus = pci_bus_id(props)
    if bus is not None:
        return nvml.nvmlDeviceGetHandleByPciBusId(bus), f"pci {bus}"
    uuid = str(getattr(props, "uuid", "") or "")
    if uuid:
        uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
        return nvml.nvmlDeviceGetHandleByUUID(uuid), f"uuid {uuid}"
    if nvml.nvmlDeviceGetCount() == 1:
        return nvml.nvmlDeviceGetHandleByIndex(0), "the only GPU"
    raise LookupError(f"cannot tell which NVML device is cuda:{index}: torch reports neither its PCI bus id nor "
                      "its UUID, and NVML sees several GPUs (their NVML order need not be CUDA's)")


class EnergyMeter:
    """GPU energy in joules from NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since
    driver load; Volta and newer). ``read()`` is None where unavailable -- no CUDA, no nvidia-ml-py, a GPU or
    driver without the counter (NVML_ERROR_NOT_SUPPORTED), a device NVML cannot identify -- and ``reason`` then
    says why ("" when available). ``nvml`` and ``properties`` replace pynvml and
    ``torch.cuda.get_device_properties`` (for tests)."""

    def __init__(self, device: torch.device, nvml=None, properties: Callable | None = None):
        self._handle, self.source, self.reason = None, "", "unavailable: not a CUDA device"
        if device.type != "cuda":
            return
        try:
            if nvml is None:
                import pynvml as nvml  # nvidia-ml-py; lazily, it is optional
        except ImportError:
            self.reason = "unavailable: nvidia-ml-py (pynvml) is not installed"
            return
        try:
            nvml.nvmlInit()
            handle, source = nvml_handle(nvml, device, properties)
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # probe once: GPUs without the counter raise here
        except Exception as exc:  # noqa: BLE001 - any NVML failure means "no energy reading", never a crash
            self.reason = f"unavailable: {type(exc).__name__}: {exc}"
            return
        self._nvml, self._handle, self.source, self.reason = nvml, handle, source, ""

    def read(self) -> float | None:
        """Joules consumed since the driver loaded, or None."""
        if self._handle is None:
            return None
        try:
            return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0
        except Exception:  # noqa: BLE001
            return None
