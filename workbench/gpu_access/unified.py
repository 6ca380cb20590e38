"""Unified tensor: a host tensor pinned in place and read by CUDA kernels over PCIe (zero-copy).

PyTorch-Direct (Min et al., VLDB 2021) added a ``"unified"`` device to a fork of PyTorch 1.8. Plain PyTorch can
do the same in two user lines::

    feats = to_unified(feats)        # pin the existing host buffer in place, map it for the GPU
    rows = feats[idx_on_gpu]         # a GPU gather that reads host memory directly

How: ``cudaHostRegister`` (through ``torch.cuda.cudart()``) page-locks the tensor's own buffer (no copy); under
unified virtual addressing (every 64-bit Linux CUDA system; checked via the device attribute where available)
the host pointer is also a valid device pointer, so a tiny object exposing ``__cuda_array_interface__`` turns
it into a CUDA tensor with ``torch.as_tensor(obj)`` (no ``device`` argument: one naming another device than the
memory's would silently copy the whole table). That CUDA tensor (``.view``) aliases host
memory: ``index_select`` and Triton kernels on it issue PCIe reads.

Lifetime: the CUDA view holds a reference to its interface object, which holds the host tensor and its
registration (not the :class:`UnifiedTensor`); so the host buffer stays alive and registered while any view lives.
The buffer is unregistered exactly once (``weakref.finalize``) when the last of them dies, or at
:meth:`UnifiedTensor.release`, which refuses (:class:`ViewsAliveError`) while views are alive -- after a garbage
collection, so that views kept only by reference cycles (a failed thread's traceback) do not count.

Memory that is already pinned is mapped only when one live registration made here (by :func:`pin_in_place`, or
by another unified tensor of the same buffer) covers all of its bytes; the mapping then borrows that
registration (whose ``unpin()`` then refuses while the borrower's views live), and a unified tensor's own
registration ends with the last view of any tensor that maps it. Memory pinned any other way (``pin_memory()``,
another library, or registrations that merely touch its first and last pages) is refused: its extent and
lifetime are unknown here.
"""
from __future__ import annotations

import ctypes
import functools
import gc
import mmap
import platform
import weakref

import numpy as np
import torch

from ..device import require_cuda

# cudaHostRegisterDefault: "on a system with unified virtual addressing, the memory will be both mapped and
# portable" (CUDA runtime API) -- what DGL's UVA uses too.
_REGISTER_DEFAULT = 0
_ALREADY_REGISTERED = 712  # cudaErrorHostMemoryAlreadyRegistered: (part of) the range is registered already
_CAN_USE_HOST_POINTER = 91  # cudaDevAttrCanUseHostPointerForRegisteredMem


class ViewsAliveError(RuntimeError):
    """:meth:`UnifiedTensor.release` or :meth:`HostRegistration.unpin` found CUDA views of the host memory still
    alive (it stays registered)."""


@functools.lru_cache(maxsize=1)
def _cudart_lib():
    """The CUDA runtime library torch loaded (ctypes), for the two calls ``torch.cuda.cudart()`` lacks; None
    when it cannot be found (torch linked it statically): then those calls are skipped."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "libcudart.so" in line})
    except OSError:
        paths = []
    for path in paths + [None]:
        try:
            lib = ctypes.CDLL(path)
            lib.cudaGetLastError  # noqa: B018 - raises AttributeError when the symbol is absent
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _clear_last_error() -> None:
    """Reset the runtime's last error after a failed cudart call, so that torch's next kernel-launch check does
    not report our failure as its own (torch does not expose cudaGetLastError)."""
    lib = _cudart_lib()
    if lib is not None:
        lib.cudaGetLastError()


def _check(err, what: str, hint: str = "") -> None:
    """Raise with CUDA's message (and ``hint``) when a cudart call failed."""
    code = int(err)
    if code != 0:
        cudart = torch.cuda.cudart()
        msg = cudart.cudaGetErrorString(err) if hasattr(cudart, "cudaGetErrorString") else ""
        _clear_last_error()
        raise RuntimeError(f"{what} failed: CUDA error {code} {msg}" + (f"; {hint}" if hint else ""))


def _cuda_device(device: str | torch.device | None) -> torch.device:
    """``device`` as ``cuda:<index>``: a bare ``"cuda"`` (or None) is the current device, fixed now.
    Initializes CUDA: until then torch's ``is_pinned()`` answers False for every address."""
    device = torch.device("cuda" if device is None else device)
    if device.type != "cuda":
        raise ValueError(f"a unified tensor is read by a CUDA device; got device {device}")
    torch.cuda.init()
    index = torch.cuda.current_device() if device.index is None else device.index
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise ValueError(f"{device} does not exist: this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)


def _byte_at(addr: int) -> torch.Tensor:
    """A 1-byte CPU tensor at address ``addr`` (no copy, no ownership): ``is_pinned()`` asks about its storage's
    first address, so this is how to ask about any address inside a tensor."""
    return torch.from_numpy(np.ctypeslib.as_array((ctypes.c_uint8 * 1).from_address(addr)))


def _pin_state(t: torch.Tensor) -> str:
    """"none", "all" or "partial": whether ``t``'s first and last bytes are page-locked. "partial" happens when
    a neighbouring allocation that shares a page with ``t`` was registered (CUDA pins whole pages)."""
    first = _byte_at(t.data_ptr()).is_pinned()
    last = _byte_at(t.data_ptr() + t.numel() * t.element_size() - 1).is_pinned()
    return "all" if first and last else "partial" if first or last else "none"


class HostRegistration:
    """A ``cudaHostRegister`` registration of one tensor's buffer; :meth:`unpin` undoes it, exactly once.

    Registered while ``device`` is current (CUDA tags registered memory with the device current at
    registration; torch places a CUDA view of it on that device). The finalizer holds the tensor itself, so
    the pages are unregistered before the buffer can be freed, whether by :meth:`unpin` or when this object is
    garbage-collected; it first waits for ``device``, whose kernels may still be reading the pages.
    """

    def __init__(self, t: torch.Tensor, device: str | torch.device | None = None):
        require_cuda("pinning host memory for zero-copy access (cudaHostRegister)")
        _check_host_tensor(t)
        self.device = _cuda_device(device)  # first: it initializes CUDA, without which nothing looks pinned
        if _pin_state(t) != "none":
            raise ValueError("tensor is already (partly) pinned (pinned allocation, registered elsewhere, or "
                             "sharing a page with registered memory); pin a copy, e.g. page_aligned_copy(t)")
        ptr, nbytes = t.data_ptr(), t.numel() * t.element_size()
        with torch.cuda.device(self.device):
            err = torch.cuda.cudart().cudaHostRegister(ptr, nbytes, _REGISTER_DEFAULT)
        _check(err, f"cudaHostRegister of {nbytes} bytes",
               "a page of this range is registered already (CUDA pins whole pages: a small tensor may share "
               "one with another registered tensor); register a page-aligned copy, page_aligned_copy(t)"
               if int(err) == _ALREADY_REGISTERED else "")
        self.ptr, self.nbytes = ptr, nbytes
        self.users: "weakref.WeakSet[_CudaArray]" = weakref.WeakSet()  # every mapping of these pages, any owner
        self._finalizer = weakref.finalize(self, _unregister, ptr, self.device.index, t)
        self._finalizer.atexit = False  # at exit the driver reclaims pinned pages; CUDA may be torn down already
        _LIVE.add(self)

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def in_use(self) -> bool:
        """Whether CUDA views of these pages (from any :class:`UnifiedTensor`) are alive, after a garbage
        collection when some seem to be (views kept only by reference cycles do not count)."""
        if len(self.users):
            gc.collect()
        return len(self.users) > 0

    def covers(self, t: torch.Tensor) -> bool:
        """Whether this registration is alive and spans every byte of ``t``."""
        start = t.data_ptr()
        return self.alive and self.ptr <= start and start + t.numel() * t.element_size() <= self.ptr + self.nbytes

    def unpin(self) -> None:
        """Unregister now (a second call does nothing). The owner's call; while a unified tensor that borrowed
        this registration still has CUDA views (after a garbage collection), raise :class:`ViewsAliveError`
        instead: unregistering would leave those views reading unpinned memory (an illegal address on the GPU).
        The registration then ends when this object and the last of those views are gone."""
        if self.alive and self.in_use():
            raise ViewsAliveError("CUDA views of this pinned memory (unified tensors that borrowed the registration) "
                                  "are still alive; release them first")
        self._finalizer()


_LIVE: "weakref.WeakSet[HostRegistration]" = weakref.WeakSet()  # every registration made here, until collected


def _covering_registration(t: torch.Tensor) -> HostRegistration | None:
    """The live registration made here (:func:`pin_in_place` or a unified tensor) that covers all of ``t``'s
    bytes, if any (the only already-pinned memory whose exact extent is known here)."""
    return next((reg for reg in list(_LIVE) if reg.covers(t)), None)


def pin_in_place(t: torch.Tensor, device: str | torch.device | None = None) -> HostRegistration:
    """Page-lock ``t``'s own buffer (no copy) for ``device`` (default: the current one); ``.unpin()`` undoes it.

    Raises on CPU-only machines, for non-CPU, non-contiguous or empty tensors, and for memory already pinned
    (registering overlapping ranges twice is a CUDA error). A :class:`UnifiedTensor` of ``t`` or of any part of
    it borrows this registration instead of making its own; ``.unpin()`` refuses (:class:`ViewsAliveError`)
    until its views are gone.
    """
    return HostRegistration(t, device)


def _unregister(ptr: int, index: int, _keepalive: torch.Tensor) -> None:
    # A kernel launched just before the last view died may still be reading these pages (e.g.
    # ``to_unified(t)[idx]`` in one expression): wait for that device, on every stream, before unpinning.
    # Unregister even when the wait fails (a sticky CUDA error): the pages must not stay locked.
    with torch.cuda.device(index):
        try:
            torch.cuda.synchronize(index)
        finally:
            _check(torch.cuda.cudart().cudaHostUnregister(ptr), "cudaHostUnregister")


def page_aligned_copy(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of ``t`` that starts on a page boundary and alone occupies the pages it touches.

    For small tensors before pinning in place: CUDA registers whole pages, and two small heap allocations often
    share one, so registering the second fails (cudaErrorHostMemoryAlreadyRegistered).

    The copy is a view that starts up to a page into its storage. ``Tensor.is_pinned()`` asks about the storage's
    first byte, in that unregistered padding, so it answers False for the copy even while all of its bytes are
    registered: ask ``_pin_state(copy)`` (its own first and last byte) instead."""
    page, nbytes = mmap.PAGESIZE, t.numel() * t.element_size()
    buf = torch.empty(-(-nbytes // page) * page + page, dtype=torch.uint8)
    off = -buf.data_ptr() % page  # a multiple of 64 (torch aligns allocations to 64 B): any dtype fits
    out = buf[off:off + nbytes].view(t.dtype).view(t.shape)
    return out.copy_(t)


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
        if pin is not None:
            pin.users.add(self)
        self.__cuda_array_interface__ = {"shape": (host.numel() * host.element_size(),), "typestr": "|u1",
                                         "data": (host.data_ptr(), False), "version": 3, "strides": None,
                                         "stream": None}


def _mapped_elsewhere(mapped: torch.device, device: torch.device) -> RuntimeError:
    return RuntimeError(
        f"the host memory is mapped for {mapped}, not {device}: CUDA tags pinned memory with the device that was "
        f"current when it was pinned (pin_in_place(t, {mapped})). Pass an unpinned tensor (it is then registered "
        f"for {device}), or pin it with pin_in_place(t, {device})")


def _check_alias(raw: torch.Tensor, host: torch.Tensor, device: torch.device) -> None:
    """Raise unless ``raw`` is a zero-copy alias of ``host``'s memory on ``device``."""
    if raw.device != device:
        raise _mapped_elsewhere(raw.device, device)
    if raw.data_ptr() != host.data_ptr():
        raise RuntimeError(f"torch made a copy on {raw.device} instead of mapping the host memory: not zero-copy")


def _uva_ok(device: torch.device) -> bool:
    """Whether ``device`` may use a registered host pointer as is (cudaDevAttrCanUseHostPointerForRegisteredMem;
    asked through the runtime library when it can be found, else assumed on Linux, where every x86-64/ARM64 GPU
    since Kepler has it; Windows WDDM has not)."""
    if platform.system() != "Linux":
        return False
    lib = _cudart_lib()
    if lib is None or not hasattr(lib, "cudaDeviceGetAttribute"):
        return True
    value = ctypes.c_int(0)
    if lib.cudaDeviceGetAttribute(ctypes.byref(value), _CAN_USE_HOST_POINTER, device.index or 0) != 0:
        lib.cudaGetLastError()
        return True  # the question failed, not the feature: keep the Linux default
    return bool(value.value)


class UnifiedTensor:
    """A host tensor pinned in place plus a CUDA tensor aliasing it.

    host: the original (N, ...) CPU tensor, untouched except for being page-locked.
    view: the same bytes as a CUDA tensor of the same shape and dtype (reads/writes go over PCIe).
    ``ut[idx]`` (idx: (B,) int64 on the GPU) = ``view.index_select(0, idx)``: (B, ...) in GPU memory.

    A host tensor that is already pinned is mapped only if a live :func:`pin_in_place` registration covers all
    of it, made for ``device`` (else a clear error: CUDA ties pinned memory to that device); this object then
    borrows that registration (its views keep it from being collected, and its owner's ``unpin()`` refuses while
    they live). Memory pinned any other way (``pin_memory()``, another library) is refused: map an unpinned copy.

    device: ``cuda:<i>``; a bare ``"cuda"`` is the current device. The view lives on exactly that device.
    """

    def __init__(self, host: torch.Tensor, device: str | torch.device = "cuda"):
        require_cuda("a unified (zero-copy) tensor")
        _check_host_tensor(host)
        self.device = _cuda_device(device)
        if not _uva_ok(self.device):
            raise RuntimeError(f"zero-copy needs {self.device} to read registered host memory at its host address "
                               "(unified virtual addressing, Linux); this platform lacks it")
        borrowed = _covering_registration(host)
        if borrowed is not None and borrowed.device != self.device:
            raise _mapped_elsewhere(borrowed.device, self.device)
        self.host = host
        with torch.cuda.device(self.device):  # register and map with the intended device current
            # not borrowed: registers, or raises if any of it is pinned already
            self._pin = None if borrowed is not None else HostRegistration(host, self.device)
            array = _CudaArray(host, self._pin or borrowed)
            self._array = weakref.ref(array)  # alive exactly while some CUDA tensor aliases the buffer
            try:
                # no device argument: torch places the tensor where CUDA says the memory belongs; asking for
                # another device would silently copy the whole table there (checked below instead)
                raw = torch.as_tensor(array)
                _check_alias(raw, host, self.device)
            except BaseException:
                array = raw = None
                self._drop_pin()  # now, or when a failed check's traceback lets go of the alias
                raise
        self.view = raw.view(host.dtype).view(host.shape)

    @property
    def registered(self) -> bool:
        """True while this object holds a cudaHostRegister registration of its own (False when it borrowed one)."""
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

    def _drop_pin(self) -> bool:
        """Give up this object's registration: False if its own CUDA views are alive, else True, and then
        unregister now unless another unified tensor that borrowed the registration still has views. Whoever's
        views live on own the registration, which ends with the last of them. Our own reference goes first:
        otherwise this object would keep the registration alive after those views die."""
        pin, self._pin = self._pin, None
        if self._array() is not None:
            gc.collect()  # views held only by reference cycles (e.g. a failed prefetch thread's traceback) go now
        if self._array() is not None:
            return False  # returning drops ``pin``: the views own it now
        if pin is not None and not pin.in_use():
            pin.unpin()  # waits for the device first; runs at most once
        return True

    def release(self) -> None:
        """Drop ``self.view`` and unregister now. If other CUDA tensors derived from the view are still alive
        (after a garbage collection), raise :class:`ViewsAliveError` instead: the registration then ends when
        the last of them dies (never dangling)."""
        self.view = None
        if not self._drop_pin():
            raise ViewsAliveError("CUDA views of this unified tensor are still alive; the host memory stays "
                                  "registered until they are garbage-collected")

    def __repr__(self) -> str:
        return f"UnifiedTensor(shape={tuple(self.host.shape)}, dtype={self.host.dtype}, registered={self.registered})"


def to_unified(t: torch.Tensor, device: str | torch.device = "cuda") -> UnifiedTensor:
    """Pin ``t`` in place and map it for ``device`` (default: the current CUDA device): the one line
    PyTorch-Direct's ``t.to("unified")`` was."""
    return UnifiedTensor(t, device)
