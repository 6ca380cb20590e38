"""GPU energy meter: the NVML handle is found by PCI bus id (not by index), and every way of not having an
energy counter gives ``read() is None`` with a reason, never an exception.

Runs on a CPU with a fake NVML module and fake torch device properties. Not proven: that a real driver accepts
the bus id string (NVML documents the ``domain:bus:device.function`` hex form used here), or the counter's
resolution (the lent GPU run reads it).
"""
import sys
from types import SimpleNamespace

import pytest
import torch

from workbench.gpu_access.meters import EnergyMeter, nvml_handle, pci_bus_id


class NotSupported(Exception):
    def __str__(self):
        return "Not Supported"


class FakeNVML:
    """Two GPUs in NVML's (PCI bus) order; ``energy`` in mJ, None where the counter is unsupported."""

    def __init__(self, gpus):
        self.gpus = gpus  # list of dicts: bus, uuid, energy
        self.inits = 0

    def nvmlInit(self):
        self.inits += 1

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return self.gpus[i]

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        return next(g for g in self.gpus if g["bus"].lower() == bus.lower())

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return next(g for g in self.gpus if g["uuid"] == uuid)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if handle["energy"] is None:
            raise NotSupported()
        return handle["energy"]


GPUS = [{"bus": "00000000:17:00.0", "uuid": "GPU-aaaa", "energy": 1_000},
        {"bus": "00000000:81:00.0", "uuid": "GPU-bbbb", "energy": 2_000_000}]


def props(bus=None, uuid=None):
    p = SimpleNamespace(name="NVIDIA H100")
    if bus is not None:
        p.pci_domain_id, p.pci_bus_id, p.pci_device_id = 0, bus, 0
    if uuid is not None:
        p.uuid = uuid
    return p


def test_pci_bus_id_string_is_nvml_form():
    assert pci_bus_id(SimpleNamespace(pci_domain_id=0, pci_bus_id=0x81, pci_device_id=0)) == "00000000:81:00.0"
    assert pci_bus_id(SimpleNamespace(pci_domain_id=1, pci_bus_id=0x3B, pci_device_id=2)) == "00000001:3b:02.0"
    assert pci_bus_id(SimpleNamespace(name="old torch")) is None


def test_cuda_index_is_mapped_by_pci_bus_not_by_index():
    """CUDA's FASTEST_FIRST order put the GPU on bus 0x81 (NVML index 1) at cuda:0: the meter must read it."""
    nvml = FakeNVML(GPUS)
    cuda_order = {0: props(bus=0x81), 1: props(bus=0x17)}
    meter = EnergyMeter(torch.device("cuda:0"), nvml=nvml, properties=cuda_order.__getitem__)
    assert meter.reason == "" and meter.source == "pci 00000000:81:00.0"
    assert meter.read() == pytest.approx(2000.0)  # 2,000,000 mJ of the bus-0x81 GPU, not NVML index 0's 1,000
    other = EnergyMeter(torch.device("cuda:1"), nvml=nvml, properties=cuda_order.__getitem__)
    assert other.read() == pytest.approx(1.0)


def test_uuid_then_single_gpu_fallbacks():
    nvml = FakeNVML(GPUS)
    handle, how = nvml_handle(nvml, torch.device("cuda:0"), lambda i: props(uuid="bbbb"))
    assert handle is GPUS[1] and how == "uuid GPU-bbbb"
    single = FakeNVML(GPUS[:1])
    handle, how = nvml_handle(single, torch.device("cuda:0"), lambda i: props())
    assert handle is GPUS[0] and how == "the only GPU"
    with pytest.raises(LookupError, match="cannot tell which NVML device is cuda:0"):
        nvml_handle(nvml, torch.device("cuda:0"), lambda i: props())


@pytest.mark.parametrize("case, expected", [
    ("unsupported", "unavailable: NotSupported: Not Supported"),
    ("unidentifiable", "unavailable: LookupError: cannot tell"),
    ("cpu", "unavailable: not a CUDA device"),
])
def test_unavailable_energy_is_none_with_a_reason(case, expected):
    gpus = [dict(GPUS[0], energy=None), GPUS[1]]
    device = torch.device("cpu" if case == "cpu" else "cuda:0")
    p = props(bus=0x17) if case == "unsupported" else props()
    meter = EnergyMeter(device, nvml=FakeNVML(gpus), properties=lambda i: p)
    assert meter.read() is None
    assert meter.reason.startswith(expected)


def test_missing_nvidia_ml_py(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes ``import pynvml`` raise ImportError
    meter = EnergyMeter(torch.device("cuda:0"), properties=lambda i: props(bus=0x17))
    assert meter.read() is None and "not installed" in meter.reason


def test_counter_failing_later_reads_none():
    gpus = [dict(GPUS[0])]
    meter = EnergyMeter(torch.device("cuda:0"), nvml=FakeNVML(gpus), properties=lambda i: props(bus=0x17))
    assert meter.read() == pytest.approx(1.0)
    gpus[0]["energy"] = None
    assert meter.read() is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_nvml_handle_is_the_torch_device():
    """On a GPU: the handle found for each torch device has that device's PCI bus id (NVML's own answer), and
    the energy counter either reads non-decreasing joules or says why it cannot."""
    pynvml = pytest.importorskip("pynvml")
    pynvml.nvmlInit()
    for i in range(torch.cuda.device_count()):
        handle, _ = nvml_handle(pynvml, torch.device("cuda", i))
        want = pci_bus_id(torch.cuda.get_device_properties(i))
        if want is not None:
            got = pynvml.nvmlDeviceGetPciInfo(handle).busId
            got = got.decode() if isinstance(got, bytes) else got
            assert got.lower().endswith(want[-7:].lower()), (got, want)  # bus:device.function
    meter = EnergyMeter(torch.device("cuda", 0))
    if meter.reason:
        assert meter.reason.startswith("unavailable") and meter.read() is None
    else:
        a = meter.read()
        torch.ones(1 << 24, device="cuda").sum().item()
        assert meter.read() >= a >= 0
