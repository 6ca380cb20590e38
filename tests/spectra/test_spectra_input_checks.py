"""User-facing input checks: config ranges, malformed data files, and the learner comparison's progress count.

Does not prove: that every bad value is caught (only the listed ones), nor anything about the real datasets.
"""
import gzip
import io
import math
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.config import ConfigError, from_dict
from workbench.spectra.data import CIFAR10_CLASSES, load_images, read_idx
from workbench.spectra.study import BatchSizeSpectraConfig, LrScalingConfig
from workbench.spectra.train import train_epochs
from workbench.xmc.errors import DataFormatError

B, L = BatchSizeSpectraConfig, LrScalingConfig
BAD = [
    (B, "n_train", -5, r"n_train must be >= 0 \(0: all training examples\), got -5"),
    (L, "n_train", -1, r"n_train must be >= 0"),
    (B, "width", -2, r"width must be >= 0"),
    (L, "seed", -1, r"seed must be >= 0"),
    (B, "train_batch_size", 0, r"train_batch_size must be >= 1, got 0"),
    (L, "learner_batch_size", 0, r"learner_batch_size must be >= 1, got 0"),
    (B, "peer_batch_size", 0, r"peer_batch_size must be >= 1, got 0"),
    (B, "batch_sizes", [0, 16, 32, 64], r"batch_sizes must be a non-empty list with every entry >= 1, got \[0,"),
    (L, "batch_sizes", [], r"batch_sizes must be a non-empty list"),
    (B, "bench_batch_sizes", [0], r"bench_batch_sizes must be .* >= 1"),
    (B, "epochs", 0, r"epochs must be >= 1, got 0"),
    (L, "learner_epochs", 0, r"learner_epochs must be >= 1, got 0"),
    (L, "steps", 0, r"steps must be >= 1, got 0"),
    (B, "lanczos_steps", 1, r"lanczos_steps must be >= 2, got 1"),
    (L, "lanczos_steps", 0, r"lanczos_steps must be >= 2, got 0"),
    (L, "bisection_iters", -1, r"bisection_iters must be >= 0 \(0: the bracket only\), got -1"),
    (B, "probes", 0, r"probes must be >= 1, got 0"),
    (B, "full_chunk", 0, r"full_chunk must be >= 1, got 0"),
    (B, "reference_steps", 0, r"reference_steps must be >= 1, got 0"),
    (B, "bench_repeats", 0, r"bench_repeats must be >= 1, got 0"),
    (L, "learner_period", 0, r"learner_period must be >= 1, got 0"),
    (B, "train_lr", 0.0, r"train_lr must be a finite number > 0, got 0.0"),
    (B, "lambda_tol", math.nan, r"lambda_tol must be >= 0"),
    (L, "lr_lo", -0.1, r"lr_lo must be a finite number > 0, got -0.1"),
    (L, "lr_hi", 0.0005, r"need 0 < lr_lo < lr_hi, got lr_lo=0.001, lr_hi=0.0005"),
    (L, "tune_lrs", [0.1, 0.0], r"tune_lrs must be a non-empty list of finite numbers > 0"),
    (L, "tune_lrs", [], r"tune_lrs must be a non-empty list"),
    (L, "momentum", 1.0, r"momentum must be in \[0, 1\), got 1.0"),
    (L, "learner_kappa_max", 1.0, r"learner_kappa_max must be a finite number > 1, got 1.0"),
    (L, "optimizers", [], r"optimizers must be a non-empty list"),
]


@pytest.mark.parametrize("cls,name,value,match", BAD, ids=[f"{c.__name__}.{n}={v}" for c, n, v, _ in BAD])
def test_config_ranges_name_parameter_value_and_range(cls, name, value, match):
    """Each out-of-range value raises ConfigError naming the parameter, its value and the allowed range.
    Does not prove: that in-range values pass (the default and profile configs are built in other tests)."""
    with pytest.raises(ConfigError, match=match):
        from_dict(cls, {name: value})


@pytest.mark.parametrize("cls, values, match", [
    (B, {"train_batch_size": 2000}, r"the training set \(digits: 1437 examples\) is below train_batch_size \(2000\)"),
    (L, {"learner_batch_size": 2000}, r"the training set \(digits: 1437 examples\) is too small for the learner .*"
                                      r"trains on the rest \(1150\) in batches of learner_batch_size \(2000\)"),
    (L, {"learner_batch_size": 1151}, r"learner_batch_size \(1151\)"),
    (B, {"n_train": 2000, "train_batch_size": 1438}, r"the training set \(digits: 1437 examples\) is below"),
])
def test_batches_larger_than_the_known_training_set_are_refused(cls, values, match):
    """n_train 0 reads the embedded digits set whole (EMBEDDED_TRAIN_SIZE; the learner trains on 4/5 of it): these
    used to validate, then train_epochs raised mid-run. (peer_batch_size and bench_batch_sizes are cut to the set.)
    Does not prove: anything for a local set read whole, whose size is known only once it is loaded."""
    with pytest.raises(ConfigError, match=match):
        from_dict(cls, values)
    from_dict(B, {"train_batch_size": 1437})
    from_dict(L, {"learner_batch_size": 1150})
    from_dict(B, {"dataset": "cifar10", "data_path": "/nope", "train_batch_size": 4096})  # size unknown here


def test_loaders_reject_bad_sizes():
    """The library calls below the configs refuse what would silently misbehave: n_train < 1 (a negative one used
    to drop the last examples) and batch_size 0 (ZeroDivisionError). Does not prove: the other checks of these
    functions (epochs < 0, unknown schedules) that are not exercised here."""
    with pytest.raises(ValueError, match="n_train must be >= 1"):
        load_images("digits", n_train=-5)
    x, y = torch.randn(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
    with pytest.raises(ValueError, match="batch_size >= 1"):
        train_epochs(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)), x, y, x, y, epochs=1,
                     batch_size=0, lr=0.1)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_corrupt_cifar_archives_say_which_file_and_member(tmp_path, cache):
    """A bad JPEG names archive and member; a truncated archive says so and what to re-fetch; an archive without
    JPEGs says so (it used to fail inside np.stack). Does not prove: that a valid archive decodes to the right
    pixels and labels."""
    good = {f"CIFAR-10-images/{s}/{CIFAR10_CLASSES[0]}/0000.jpg": _jpeg() for s in ("train", "test")}
    bad = dict(good, **{"CIFAR-10-images/train/cat/0001.jpg": b"not a jpeg"})
    _tar(tmp_path / "bad.tar.gz", bad)
    with pytest.raises(DataFormatError, match=r"bad\.tar\.gz: member CIFAR-10-images/train/cat/0001\.jpg is not a "
                                              r"decodable JPEG.*re-fetch"):
        load_images("cifar10", str(tmp_path / "bad.tar.gz"))
    _tar(tmp_path / "full.tar.gz", {**good, **{f"CIFAR-10-images/train/dog/{k}.jpg": _jpeg() for k in range(20)}})
    raw = (tmp_path / "full.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.tar\.gz: truncated or corrupt archive.*CIFAR-10-images\.tar\.gz"):
        load_images("cifar10", str(tmp_path / "cut.tar.gz"))
    _tar(tmp_path / "empty.tar.gz", {"CIFAR-10-images/README.md": b"hello"})
    with pytest.raises(DataFormatError, match=r"empty\.tar\.gz: no JPEGs for split\(s\) \['train', 'test'\]"):
        load_images("cifar10", str(tmp_path / "empty.tar.gz"))
    assert not list((tmp_path / "cache").glob("*.npz"))  # nothing half-decoded was cached


def test_truncated_idx_gzip_names_file(tmp_path):
    """A truncated IDX .gz raises DataFormatError naming the file, 'truncated', and where to re-fetch it.
    Does not prove: that a bad magic number or a header that disagrees with the body is caught (not exercised)."""
    arr = np.arange(600, dtype=np.uint8).reshape(6, 10, 10)
    raw = gzip.compress(bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape) + arr.tobytes())
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip.*re-fetch"):
        read_idx(path)
    # the other three files present: the loader checks that every file is there before it decodes any
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{stem}.gz").write_bytes(raw)
    with pytest.raises(DataFormatError, match=r"truncated.*dataset-fashion-mnist"):
        load_images("fashion_mnist", str(tmp_path))


@pytest.mark.parametrize("cls", ["LrScalingConfig", "BatchSizeSpectraConfig"])
def test_a_data_path_the_dataset_does_not_read_is_refused(cls):
    """-p data_path=... without -p dataset=fashion_mnist (or cifar10) used to run on the built-in digits and end
    ok; now it is refused before any work, naming the datasets that read it."""
    from workbench.config import ConfigError
    from workbench.spectra import study
    with pytest.raises(ConfigError, match="data_path is read only with dataset cifar10 or fashion_mnist"):
        getattr(study, cls)(data_path="/nope").validate()


def test_fashion_mnist_data_path_errors_say_what_to_pass(tmp_path):
    """A data_path that is one of the IDX files names the folder to give instead; a folder without them says
    how to point elsewhere (-p data_path=...)."""
    from workbench.config import ConfigError
    from workbench.spectra.study import LrScalingConfig
    f = tmp_path / "train-images-idx3-ubyte.gz"
    f.write_bytes(b"")
    with pytest.raises(ConfigError, match=f"is a file; give the folder holding the four IDX files \\({tmp_path}\\)"):
        LrScalingConfig(dataset="fashion_mnist", data_path=str(f)).check_data()
    with pytest.raises(ConfigError, match="or pass -p data_path=<a folder that holds them>"):
        LrScalingConfig(dataset="fashion_mnist", data_path=str(tmp_path / "empty")).check_data()
