"""Image files that are each well-formed but do not fit together raise DataFormatError naming the file: Fashion-MNIST
IDX files of the wrong rank, labels of another split's length or outside 0..9, test images of another size;
CIFAR-10 JPEGs of mixed sizes. Files of the wrong format say which: a CIFAR-10 zip or plain tar, an IDX file
named .gz that is not gzip (one gunzipped in place reads); a CIFAR-10 tarball without a top folder reads.

Does not prove: that a labels file of the right length really belongs to its images (nothing in IDX says so).
"""
import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.spectra.data import load_images
from workbench.xmc.errors import DataFormatError

STEMS = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _fashion(root, **replace: np.ndarray):
    """Four gzipped IDX files (3 train, 2 test images of 28x28), with arrays in ``replace`` swapped in."""
    arrays = {"x_train": np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256, "y_train": np.array([9, 0, 3]),
              "x_test": np.zeros((2, 28, 28)), "y_test": np.array([1, 2]), **replace}
    root.mkdir(exist_ok=True)
    for key, arr in arrays.items():
        with gzip.open(root / f"{STEMS[key]}.gz", "wb") as f:
            f.write(_idx(np.asarray(arr)))
    return str(root)


def test_consistent_files_load(tmp_path):
    d = load_images("fashion_mnist", _fashion(tmp_path / "f"))
    assert d.x_train.shape == (3, 1, 28, 28) and d.y_test.tolist() == [1, 2] and d.classes == 10


@pytest.mark.parametrize("replace, match", [
    ({"y_train": np.array([9, 0])}, r"train-labels-idx1-ubyte.gz: 2 labels for the 3 images of "
                                    r"train-images-idx3-ubyte.gz"),
    ({"y_test": np.array([1, 2, 3, 4])}, r"t10k-labels-idx1-ubyte.gz: 4 labels for the 2 images"),
    ({"y_test": np.array([1, 10])}, r"t10k-labels-idx1-ubyte.gz: label 10 at index 1 is outside 0..9"),
    ({"y_train": np.array([255, 0, 0])}, r"train-labels-idx1-ubyte.gz: label 255 at index 0"),
    ({"x_train": np.zeros((3, 784))}, r"train-images-idx3-ubyte.gz: 2-D IDX array \[3, 784\], expected 3-D"),
    ({"y_train": np.zeros((3, 1))}, r"train-labels-idx1-ubyte.gz: 2-D IDX array \[3, 1\], expected 1-D"),
    ({"x_train": np.zeros((0, 28, 28)), "y_train": np.zeros(0)}, r"train-labels-idx1-ubyte.gz: 0 labels for the 0 "
                                                                 r"images.*at least one image"),
    ({"x_test": np.zeros((2, 32, 32))}, r"t10k-images-idx3-ubyte.gz: images of \[32, 32\] pixels, "
                                        r"train-images-idx3-ubyte.gz has \[28, 28\]"),
])
def test_fashion_mnist_files_that_disagree_are_named(tmp_path, replace, match):
    with pytest.raises(DataFormatError, match=match):
        load_images("fashion_mnist", _fashion(tmp_path / "f", **replace))


def test_mismatch_is_caught_when_read_from_the_cache(tmp_path, monkeypatch):
    """The check runs on every load, not only when the IDX files are decoded (a cache written before it existed)."""
    from workbench.spectra import data
    monkeypatch.setattr(data, "_check_fashion_mnist", lambda files, arrays: None)
    root = _fashion(tmp_path / "f", y_train=np.array([9, 0]))
    data.DATASETS.get("fashion_mnist")(path=root, seed=0)  # unchecked: cached (load_images would then fail to index)
    monkeypatch.undo()
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "read_idx", lambda *a, **k: pytest.fail("decoded again: the cache was not read"))
    with pytest.raises(DataFormatError, match="train-labels-idx1-ubyte.gz: 2 labels for the 3 images"):
        load_images("fashion_mnist", root)


def _jpeg(size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 50, 200)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_cifar_jpegs_of_mixed_sizes_name_the_member(tmp_path):
    tar_path = tmp_path / "CIFAR-10-images.tar.gz"
    members = [("train/airplane/0000.jpg", 32), ("train/cat/0000.jpg", 32), ("test/cat/0001.jpg", 16)]
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, size in members:
            info = tarfile.TarInfo(f"CIFAR-10-images/{name}")
            data = _jpeg(size)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataFormatError, match=r"CIFAR-10-images.tar.gz: member CIFAR-10-images/test/cat/0001.jpg "
                                              r"is 16x16 pixels, earlier images 32x32"):
        load_images("cifar10", str(tar_path))


def _cifar_members(top: str = "CIFAR-10-images/") -> dict[str, bytes]:
    return {f"{top}train/airplane/0000.jpg": _jpeg(32), f"{top}test/cat/0001.jpg": _jpeg(32)}


def _pack(tar_path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(tar_path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_cifar_archive_of_the_wrong_format_says_which(tmp_path, kind):
    """Before: 'truncated or corrupt archive ... re-fetch it', which the same download would not fix."""
    tar_path = tmp_path / "CIFAR-10-images.tar.gz"
    if kind == "zip":
        with zipfile.ZipFile(tar_path, "w") as z:
            for name, data in _cifar_members().items():
                z.writestr(name, data)
    else:
        _pack(tar_path, _cifar_members(), "w")
    with pytest.raises(DataFormatError, match=rf"CIFAR-10-images.tar.gz: wrong format: expected a gzip-compressed "
                                              rf"tar \(\.tar\.gz\), got {kind}\. Fetch CIFAR-10-images.tar.gz"):
        load_images("cifar10", str(tar_path))


def test_a_cifar_tarball_without_a_top_folder_loads(tmp_path):
    """`git archive` without --prefix packs train/<class>/N.jpg at the top: read like the prefixed layout."""
    tar_path = tmp_path / "CIFAR-10-images.tar.gz"
    _pack(tar_path, _cifar_members(top=""))
    d = load_images("cifar10", str(tar_path))
    assert d.x_train.shape == (1, 3, 32, 32) and d.y_train.tolist() == [0] and d.y_test.tolist() == [3]


def test_an_idx_file_named_gz_is_read_by_its_content(tmp_path):
    """A file gunzipped in place but still named .gz reads; one that is neither gzip nor IDX says both."""
    root = _fashion(tmp_path / "f")
    p = Path(root) / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(gzip.decompress(p.read_bytes()))
    assert load_images("fashion_mnist", root).y_test.tolist() == [1, 2]
    p.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataFormatError, match=r"t10k-labels-idx1-ubyte.gz: not an unsigned-byte IDX file and not "
                                              r"gzip-compressed although named .gz \(magic 3c68746d\)"):
        load_images("fashion_mnist", root)


@pytest.mark.parametrize("head, kind", [
    (b"\x1f\x8b\x08", "gzip"), (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"),  # an empty zip: its end record
    (b"\xfd7zXZ\x00", "xz"), (b"BZh9", "bzip2"), (b"x" * 257 + b"ustar\x0000", "tar"), (b"x" * 300, "unknown"),
    (b"\x1f\x8b" + b"\0" * 255 + b"ustar", "gzip"),  # a magic at the start wins over "ustar" at 257
])
def test_file_kind_reads_the_magic_bytes(tmp_path, head, kind):
    from workbench.spectra.data import _file_kind
    p = tmp_path / "f"
    p.write_bytes(head + b"\0" * 10)
    assert _file_kind(p) == kind


def test_a_cifar_archive_of_no_known_format_is_called_damaged(tmp_path):
    """Bytes of no known format (not a zip or a plain tar) are a damaged download: re-fetching helps, so the
    message says so rather than 'wrong format'."""
    tar_path = tmp_path / "CIFAR-10-images.tar.gz"
    tar_path.write_bytes(b"<html>rate limited</html>" * 20)
    with pytest.raises(DataFormatError, match=r"CIFAR-10-images.tar.gz: truncated or corrupt archive .*re-fetch it"):
        load_images("cifar10", str(tar_path))


def test_a_cifar_jpeg_two_levels_deep_is_not_an_image_of_a_split(tmp_path):
    """Only [<root>/]{train,test}/<class>/N.jpg are images: a JPEG at docs/cover.jpg (two parts) is passed over."""
    tar_path = tmp_path / "CIFAR-10-images.tar.gz"
    _pack(tar_path, {**_cifar_members(top=""), "docs/cover.jpg": _jpeg(8)})
    d = load_images("cifar10", str(tar_path))
    assert d.x_train.shape == (1, 3, 32, 32) and d.y_train.tolist() == [0] and d.y_test.tolist() == [3]


def test_a_file_not_named_gz_is_not_said_to_be_misnamed(tmp_path):
    """Neither IDX nor gzip, named without .gz: the message gives the magic and no word about a .gz name."""
    from workbench.spectra.data import read_idx
    p = tmp_path / "train-labels-idx1-ubyte"
    p.write_bytes(b"\x01\x02\x03\x04" + b"\0" * 8)
    with pytest.raises(DataFormatError, match=r"train-labels-idx1-ubyte: not an unsigned-byte IDX file \(magic "
                                              r"01020304\)\.$"):
        read_idx(p)
