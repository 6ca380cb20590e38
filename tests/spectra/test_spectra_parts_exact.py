"""Exact values of the spectra study's data readers, models, training loop, HVP bench and peer summary, each on a
case solved by hand: channel order and per-channel standardisation with the kept subset's statistics, exact
parameter counts, the wide block's shortcut and strides, optimiser steps, fresh gradients each step, evaluation on
the eval set, batches without replacement, the bench's ratios and peak reset, the peers' ratios and seeds. A review
that changed one line at a time in these modules found each change passed the rest of the suite.

Does not prove: that the real datasets load (test_spectra_data reads them) or that the models train well."""
import gzip
import io
import math
import tarfile
import types

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from workbench.spectra import bench, data, peers
from workbench.spectra.data import load_images
from workbench.spectra.models import _WideBlock, build_model, n_params
from workbench.spectra.train import make_optimizer, sample_batch, train_epochs
from workbench.xmc.errors import DataFormatError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


# ---------------------------------------------------------------- data.py
def test_cifar_jpeg_decodes_channels_first_rows_as_rows(tmp_path):
    """Top half pure red, bottom half pure blue: channel 0 is red in the top rows only, channel 2 blue in the bottom
    rows only (HWC bytes read as CHW, or H and W swapped, fail this)."""
    img = Image.new("RGB", (32, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 16))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    tar = tmp_path / "CIFAR-10-images.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        for split in ("train", "test"):
            info = tarfile.TarInfo(f"CIFAR-10-images/{split}/airplane/0000.jpg")
            info.size = len(buf.getvalue())
            t.addfile(info, io.BytesIO(buf.getvalue()))
    x = data._decode_cifar_tar(tar)["x_train"][0].astype(float)
    assert x.shape == (3, 32, 32)
    top, bottom = x[:, :12, :].mean(axis=(1, 2)), x[:, 20:, :].mean(axis=(1, 2))
    assert top[0] > 230 and top[2] < 25 and bottom[0] < 25 and bottom[2] > 230


def _fake(monkeypatch):
    """x_train (4, 2, 1, 1): channel 0 = [0, 1, 3, 8] (mean 3, var 9.5), channel 1 = [0, 10, 20, 40] (mean 17.5,
    var 218.75); one test image at (3 + sqrt(9.5), 17.5), label 3 (train labels only 0, 1)."""
    x = np.array([[0, 0], [1, 10], [3, 20], [8, 40]], dtype=np.float32)[:, :, None, None]
    xt = np.array([[3 + math.sqrt(9.5), 17.5]], dtype=np.float32)[:, :, None, None]
    arrays = {"x_train": x, "y_train": np.array([0, 1, 0, 1]), "x_test": xt, "y_test": np.array([3])}
    monkeypatch.setitem(data.DATASETS._items, "fake", lambda path=None, seed=0: arrays)


def test_standardisation_is_per_channel_with_train_statistics(monkeypatch):
    """Each channel standardised by its own training mean and (population) standard deviation: deviations over
    sqrt(9.5) and sqrt(218.75); the test image sits one deviation above channel 0's mean and at channel 1's."""
    _fake(monkeypatch)
    d = load_images("fake")
    want0 = np.array([-3, -2, 0, 5]) / math.sqrt(9.5)
    want1 = np.array([-17.5, -7.5, 2.5, 22.5]) / math.sqrt(218.75)
    np.testing.assert_allclose(np.sort(d.x_train[:, 0, 0, 0].numpy()), want0, atol=1e-5)
    np.testing.assert_allclose(np.sort(d.x_train[:, 1, 0, 0].numpy()), want1, atol=1e-5)
    np.testing.assert_allclose(d.x_test[0, :, 0, 0].numpy(), [1.0, 0.0], atol=1e-5)


def test_subset_is_standardised_with_its_own_statistics_and_classes_count_test_labels(monkeypatch):
    """Two kept examples standardise to exactly -1 and +1 per channel (no pair of the values has the full set's
    mean); classes = 4 from the test label 3 although train holds only 0 and 1."""
    _fake(monkeypatch)
    d = load_images("fake", n_train=2)
    for c in (0, 1):
        np.testing.assert_allclose(np.sort(d.x_train[:, c, 0, 0].numpy()), [-1.0, 1.0], atol=1e-5)
    assert d.classes == 4 and load_images("fake").classes == 4


def _idx(arr):
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape) \
        + arr.astype(np.uint8).tobytes()


def test_fashion_test_images_of_another_height_are_named(tmp_path):
    """Test images of 27 x 28 pixels beside training images of 28 x 28 are refused, naming the test file."""
    arrays = {"train-images-idx3-ubyte": np.zeros((3, 28, 28)), "train-labels-idx1-ubyte": np.array([9, 0, 3]),
              "t10k-images-idx3-ubyte": np.zeros((2, 27, 28)), "t10k-labels-idx1-ubyte": np.array([1, 2])}
    for stem, arr in arrays.items():
        with gzip.open(tmp_path / f"{stem}.gz", "wb") as f:
            f.write(_idx(arr))
    with pytest.raises(DataFormatError, match=r"t10k-images-idx3-ubyte.gz: images of \[27, 28\] pixels"):
        load_images("fashion_mnist", str(tmp_path))


# ---------------------------------------------------------------- models.py
def test_exact_parameter_counts():
    """VGG-11 (CIFAR, 10 classes): convs 3-64-128-256-256-512-512-512-512 with biases + 512x10 linear = 9,225,610;
    width 32 halves every conv: 2,308,810. WRN-16-4 with BN (convs bias-free): 2,748,890."""
    assert n_params(build_model("vgg11", (3, 32, 32), 10)) == 9_225_610
    assert n_params(build_model("vgg11", (3, 32, 32), 10, width=32)) == 2_308_810
    assert n_params(build_model("wrn", (3, 32, 32), 10, bn=True)) == 2_748_890


def test_wide_block_shortcut_takes_the_preactivation():
    """Fresh BN in eval mode is ~identity; an all-negative input is zeroed by the ReLU, so with bias-free convs and
    the 1x1 shortcut on the pre-activation the block's output is exactly 0."""
    block = _WideBlock(2, 4, 1, bn=True).eval()
    with torch.no_grad():
        assert torch.equal(block(-torch.ones(1, 2, 4, 4)), torch.zeros(1, 4, 4, 4))


def test_wrn_downsamples_32_to_8():
    """Stage strides 1, 2, 2: a 32x32 input reaches the pooling as 8x8 maps of 64*widen channels."""
    m = build_model("wrn", (3, 32, 32), 10, bn=True, widen=1)
    seen = []
    pool = next(mod for mod in m.modules() if isinstance(mod, nn.AdaptiveAvgPool2d))
    pool.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape)))
    m.eval()(torch.randn(1, 3, 32, 32))
    assert seen == [(1, 64, 8, 8)]


# ---------------------------------------------------------------- train.py
def test_optimizers_step_by_hand():
    """Gradient g = (2, -4), lr 0.1. SGD momentum 0.5: steps 0.1 g then 0.1 (1 + 0.5) g -> p = -0.25 g.
    Adam's first step is lr * sign(g)."""
    g = torch.tensor([2.0, -4.0])
    p = torch.zeros(2, requires_grad=True)
    opt = make_optimizer("sgd", [p], 0.1, momentum=0.5)
    for _ in range(2):
        p.grad = g.clone()
        opt.step()
    torch.testing.assert_close(p.detach(), -0.25 * g)
    q = torch.zeros(2, requires_grad=True)
    opt = make_optimizer("adam", [q], 0.1, momentum=0.5)
    q.grad = g.clone()
    opt.step()
    torch.testing.assert_close(q.detach(), torch.tensor([-0.1, 0.1]))


def test_train_steps_use_fresh_gradients():
    """Linear 1 -> 2 logits from w = 0, one example x = 1, y = 0, lr 1, no momentum, two steps.
    Step 1: grad (p - onehot) x = (-0.5, 0.5) -> w = (0.5, -0.5). Step 2: p0 = sigmoid(1) -> w0 = 0.5 + 1 - p0."""
    m = nn.Sequential(nn.Flatten(), nn.Linear(1, 2, bias=False))
    nn.init.zeros_(m[1].weight)
    x, y = torch.ones(2, 1, 1, 1), torch.zeros(2, dtype=torch.long)
    train_epochs(m, x, y, x, y, epochs=1, batch_size=1, lr=1.0, momentum=0.0)
    w0 = 1.5 - 1 / (1 + math.exp(-1))
    torch.testing.assert_close(m[1].weight.detach(), torch.tensor([[w0], [-w0]]))


def test_epoch_rows_evaluate_on_the_eval_set():
    """Zero weights, lr 0: every logit 0, argmax class 0. Train labels all 0, eval labels all 1: eval_acc = 0."""
    m = build_model("mlp", (1, 2, 2), 2)
    for p in m.parameters():
        nn.init.zeros_(p)
    x = torch.randn(8, 1, 2, 2)
    rows = train_epochs(m, x, torch.zeros(8, dtype=torch.long), x, torch.ones(8, dtype=torch.long),
                        epochs=1, batch_size=4, lr=0.0)
    assert rows[0]["eval_acc"] == 0.0 and rows[0]["eval_loss"] == pytest.approx(math.log(2))


def test_sample_batch_draws_without_replacement():
    """A batch of 50 from 100 examples holds 50 distinct ones, inputs and labels drawn alike."""
    x = torch.arange(100)
    xb, yb = sample_batch(x, x, 50, torch.Generator().manual_seed(0))
    assert len(set(xb.tolist())) == 50 and torch.equal(xb, yb)


# ---------------------------------------------------------------- bench.py
def test_hvp_cost_ratios_are_method_over_grad(monkeypatch):
    """Faked timings (s) and peaks (bytes) in method order: ratios are method / grad, times in ms."""
    times = [0.002, 0.006, 0.004, 0.008, 0.005, 0.003]
    peaks = iter([100.0, 300.0, 250.0, 200.0, 240.0, 180.0])
    monkeypatch.setattr(bench, "time_interleaved", lambda runs, dev, repeats, warmup: times)
    monkeypatch.setattr(bench, "_peak_bytes", lambda fn, dev: next(peaks))
    m = build_model("mlp", (1, 4, 4), 3)
    rows = bench.hvp_cost(m, F.cross_entropy, torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,)), repeats=1)
    assert [r["ratio_to_grad"] for r in rows] == pytest.approx([1, 3, 2, 4, 2.5, 1.5])
    assert [r["median_ms"] for r in rows] == pytest.approx([2, 6, 4, 8, 5, 3])
    assert [r["mem_ratio_to_grad"] for r in rows] == pytest.approx([1, 3, 2.5, 2, 2.4, 1.8])


def test_peak_bytes_resets_the_peak_before_the_call(monkeypatch):
    """A stale peak of 1000 B from earlier work; 100 B allocated; the call peaks at 150 B: 50 B, not 900."""
    st = {"alloc": 100, "peak": 1000}
    cuda = bench.torch.cuda
    monkeypatch.setattr(cuda, "reset_peak_memory_stats", lambda dev: st.update(peak=st["alloc"]))
    monkeypatch.setattr(cuda, "memory_allocated", lambda dev: st["alloc"])
    monkeypatch.setattr(cuda, "max_memory_allocated", lambda dev: st["peak"])
    monkeypatch.setattr(cuda, "synchronize", lambda dev: None)

    def fn():
        st["alloc"] += 50
        st["peak"] = max(st["peak"], st["alloc"])
        st["alloc"] -= 50
    assert bench._peak_bytes(fn, types.SimpleNamespace(type="cuda")) == 50


# ---------------------------------------------------------------- peers.py
def test_summary_ratios_by_hand():
    """PyHessian rows: A tol 1e-3 0.30 s (default, first); B 0.20 s, errors 1e-5, 2e-5, 5e-4 (median within 1e-4,
    worst not); C 0.60 s and D 0.40 s both within. Ours 0.15 s, 10 matvecs: x_pyhessian = 0.15/0.30 = 0.5 (against
    the first row, not the fastest), x_pyhessian_matched = 0.15/0.40 (fastest whose worst error is within),
    ms_per_matvec = 15."""
    rows = [["workbench", "lanczos", s, 0.15, 10, 1e-8] for s in (0, 1)]
    rows += [["pyhessian", "power iteration tol 0.001", s, 0.30, 7, 2.6e-3] for s in (0, 1)]
    rows += [["pyhessian", "power iteration tol 1e-05", s, 0.20, 20, e] for s, e in enumerate([1e-5, 2e-5, 5e-4])]
    rows += [["pyhessian", "power iteration tol 1e-06", s, 0.60, 40, 1e-6] for s in (0, 1)]
    rows += [["pyhessian", "power iteration tol 1e-07", s, 0.40, 30, 1e-7] for s in (0, 1)]
    s = peers.summary(pd.DataFrame(rows, columns=["tool", "method", "seed", "seconds", "matvecs", "rel_error"]))
    ours = s[s.tool == "workbench"].iloc[0]
    assert ours.x_pyhessian == pytest.approx(0.5)
    assert ours.x_pyhessian_matched == pytest.approx(0.15 / 0.40)
    assert ours.ms_per_matvec == pytest.approx(15.0)


def test_pyhessian_runs_start_from_their_seed():
    """Two power-iteration steps (far from converged) from seeds 0 and 1 differ; seed 0 again repeats itself."""
    pytest.importorskip("pyhessian")
    torch.manual_seed(0)
    m = build_model("mlp", (1, 4, 4), 3)
    x, y = torch.randn(16, 1, 4, 4), torch.randint(0, 3, (16,))
    runs = peers.pyhessian_runs(m, nn.CrossEntropyLoss(), x, y, "eval", max_iter=2, tols=(1e-12,), seeds=(0, 1))
    (go0, out0), (go1, out1) = runs[0][1], runs[1][1]
    go0()
    a = out0["lambda_max"]
    go1()
    go0()
    assert out1["lambda_max"] != a and out0["lambda_max"] == a
