"""Unified tensor: a host tensor pinned in place and read by CUDA kernels over PCIe (zero-copy).

PyTorch-Direct (Min et al., VLDB 2021) added a ``"unified"`` device to a fork of PyTorch 1.8. Plain PyTorch can
do the same in two user lines::

    feats = to_unified(feats)        # pin the existing host buffer in place, map it for the GPU
    rows = feats[idx_on_gpu]         # a GPU gather that reads host memory directly

How: ``cudaHostRegister`` (through ``torch.cuda.cudart()``) page-locks the tensor's own buffer (no copy); under
unified virtual addressing (every 64-bit Linux CUDA system; checked via the device attribute where available)
the host pointer is also a valid device pointer, so a tiny object exposing ``__cuda_array_interface__`` turns
it into a CUDA tensor with ``torch.as_tensor(obj, device="cuda")``. That CUDA tensor (``.view``) aliases host
memory: ``index_select`` and Triton kernels on it issue PCIe reads.

Lifetime: the CUDA view holds a reference to its interface object, which holds the host tensor and its
registration (not the :class:`UnifiedTensor`); so the host buffer stays alive and registered while any view lives.
The buffer is unregistered exactly once (``weakref.finalize``) when the last of them dies, or at
:meth:`UnifiedTensor.release`, which refuses while views are alive.
"""
from __future__ import annotations

import platform
import weakref

import torch

from ..device import require_cuda

# cudaHostRegisterDefault: "on a system with unified virtual addressing, the memory will be both mapped and
# portable" (CUDA runtime API) -- what DGL's UVA uses too.
_REGISTER_DEFAULT = 0


def _clear_last_error() -> None:
    """Best effort: reset the runtime's sticky-until-read last error after a failed cudart call, so that the
    next kernel launch check in torch does not report our failure as its own. torch does not expose
    cudaGetLastError; the symbol is global in the process when torch loaded libcudart with RTLD_GLOBAL."""
    try:
        import ctypes
        ctypes.CDLL(None).cudaGetLastError()
    except (OSError, AttributeError):
        pass


def _check(err, what: str) -> None:
    """Raise with CUDA's message when a cudart call failed."""
    if int(err) != 0:
        cudart = torch.cuda.cudart()
        msg = cudart.cudaGetErrorString(err) if hasattr(cudart, "cudaGetErrorString") else ""
        _clear_last_error()
        raise RuntimeError(f"{what} failed: CUDA error {int(err)} {msg}")


class HostRegistration:
    """A ``cudaHostRegister`` registration of one tensor's buffer; :meth:`unpin` undoes it, exactly once.

    The finalizer holds the tensor itself, so the pages are unregistered before the buffer can be freed,
    whether by :meth:`unpin` or when this object is garbage-collected.
    """

    def __init__(self, t: torch.Tensor):
        require_cuda("pinning host memory for zero-copy access (cudaHostRegister)")
        _check_host_tensor(t)
        if t.is_pinned():
            raise ValueError("tensor is already pinned (pinned allocation or registered elsewhere); use it as is")
        ptr, nbytes = t.data_ptr(), t.numel() * t.element_size()
        _check(torch.cuda.cudart().cudaHostRegister(ptr, nbytes, _REGISTER_DEFAULT),
               f"cudaHostRegister of {nbytes} bytes")
        self.nbytes = nbytes
        self._finalizer = weakref.finalize(self, _unregister, ptr, t)
        self._finalizer.atexit = False  # at exit the driver reclaims pinned pages; CUDA may be torn down already

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def unpin(self) -> None:
        """Unregister now (a second call does nothing)."""
        self._finalizer()


def pin_in_place(t: torch.Tensor) -> HostRegistration:
    """Page-lock ``t``'s own buffer (no copy); ``.unpin()`` on the result undoes it.

    Raises on CPU-only machines, for non-CPU, non-contiguous or empty tensors, and for memory already pinned
    (registering overlapping ranges twice is a CUDA error; an already-pinned tensor needs no registration).
    """
    return HostRegistration(t)


def _unregister(ptr: int, _keepalive: torch.Tensor) -> None:
    # A kernel launched just before the last view died may still be reading these pages (e.g.
    # ``to_unified(t)[idx]`` in one expression): wait for the device before unpinning.
    torch.cuda.synchronize()
    _check(torch.cuda.cudart().cudaHostUnregister(ptr), "cudaHostUnregister")


def _check_host_tensor(t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"a unified tensor wraps host memory; got a tensor on {t.device}")
    if t.is_sparse or not t.is_contiguous():
        raise ValueError("a unified tensor needs a dense contiguous host tensor; call .contiguous() first "
                         "(that copies; do it once, before pinning)")
    if t.numel() == 0:
        raise ValueError("cannot map an empty tensor")


class _CudaArray:
    """The smallest object torch accepts as a CUDA array: raw bytes at a device-visible address.

    It holds the host tensor and its registration; every CUDA tensor made from it holds it (torch keeps a
    reference in the storage's deleter). No reference back to the UnifiedTensor: that would be a cycle through
    C++ that the garbage collector cannot see, and the registration would leak.
    """

    def __init__(self, host: torch.Tensor, pin: "HostRegistration | None"):
        self.host, self.pin = host, pin
        self.__cuda_array_interface__ = {"shape": (host.numel() * host.element_size(),), "typestr": "|u1",
                                         "data": (host.data_ptr(), False), "version": 3, "strides": None,
                                         "stream": None}


def _uva_ok(device: torch.device) -> bool:
    """Whether the GPU may use a registered host pointer as is (cudaDevAttrCanUseHostPointerForRegisteredMem).

    torch does not expose the attribute; every x86-64/ARM64 Linux GPU since Kepler has it, Windows WDDM not.
    """
    return platform.system() == "Linux"


class UnifiedTensor:
    """A host tensor pinned in place plus a CUDA tensor aliasing it.

    host: the original (N, ...) CPU tensor, untouched except for being page-locked.
    view: the same bytes as a CUDA tensor of the same shape and dtype (reads/writes go over PCIe).
    ``ut[idx]`` (idx: (B,) int64 on the GPU) = ``view.index_select(0, idx)``: (B, ...) in GPU memory.

    A host tensor that is already pinned (``pin_memory()``, or registered by someone else) is mapped without a
    registration of its own: then whoever pinned it must keep it pinned while this object's views live.
    """

    def __init__(self, host: torch.Tensor, device: str | torch.device = "cuda"):
        require_cuda("a unified (zero-copy) tensor")
        _check_host_tensor(host)
        self.device = torch.device(device)
        if not _uva_ok(self.device):
            raise RuntimeError("zero-copy needs unified virtual addressing (Linux); this platform lacks it")
        self.host = host
        self._pin = None if host.is_pinned() else HostRegistration(host)
        array = _CudaArray(host, self._pin)
        self._array = weakref.ref(array)  # alive exactly while some CUDA tensor aliases the buffer
        raw = torch.as_tensor(array, device=self.device)
        self.view = raw.view(host.dtype).view(host.shape)

    @property
    def registered(self) -> bool:
        """True while this object holds a cudaHostRegister registration (False if the tensor came pinned)."""
        return self._pin is not None and self._pin.alive

    @property
    def shape(self) -> torch.Size:
        return self.host.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.host.dtype

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` ((B,) int64, any device) gathered by the GPU from host memory: (B, ...) on the GPU."""
        return self.view.index_select(0, idx.to(self.device, torch.int64))

    def release(self) -> None:
        """Drop ``self.view`` and unregister now. If other CUDA tensors derived from the view are still alive,
        raise instead: the registration then ends when the last of them dies (never dangling)."""
        self.view = None
        # Drop our own reference first: otherwise this object would keep the registration alive after its
        # surviving views die, instead of it ending with them as promised.
        pin, self._pin = self._pin, None
        if self._array() is not None:
            del pin  # the views own it now; a kept traceback of this frame must not
            raise RuntimeError("CUDA views of this unified tensor are still alive; the host memory stays "
                               "registered until they are garbage-collected")
        if pin is not None:
            pin.unpin()  # waits for the device first; runs at most once

    def __repr__(self) -> str:
        return f"UnifiedTensor(shape={tuple(self.host.shape)}, dtype={self.host.dtype}, registered={self.registered})"


def to_unified(t: torch.Tensor, device: str | torch.device = "cuda") -> UnifiedTensor:
    """Pin ``t`` in place and map it for ``device``: the one line PyTorch-Direct's ``t.to("unified")`` was."""
    return UnifiedTensor(t, device)
