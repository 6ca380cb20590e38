"""Snapshots during training are taken from one continuous run (one optimizer, momentum carried over).

Does not prove: anything about the spectra computed at those snapshots."""
from __future__ import annotations

import torch

from workbench.spectra import experiments as ex
from workbench.spectra.data import load_images
from workbench.spectra.train import train_epochs


def test_snapshots_equal_one_continuous_run():
    data = load_images("digits", n_train=256)
    net = ex.make_model("mlp", data, False, 16, 0, "cpu")
    states, rows = ex.train_snapshots(net, data, 3, 32, 0.05, [0, 2, 3], seed=7)
    assert sorted(states) == [0, 2, 3] and [r["epoch"] for r in rows] == [1, 2, 3]

    ref = ex.make_model("mlp", data, False, 16, 0, "cpu")
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), states[0].values()))
    train_epochs(ref, data.x_train, data.y_train, data.x_test, data.y_test, epochs=3, batch_size=32, lr=0.05, seed=7)
    # a fresh optimizer per epoch (momentum reset) or a reseeded batch order would not reproduce this
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), states[3].values()))
    assert not all(torch.equal(a, b) for a, b in zip(states[2].values(), states[3].values()))
