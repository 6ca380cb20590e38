"""Small or odd but legal spectra inputs found by a hunt for crashes: a chunk of one example, batch size 1 with
BatchNorm, training sets smaller than one batch, an empty evaluation set.

Does not prove: anything about the spectra themselves; only that such inputs run or fail before any work with a
message naming the parameter.
"""
import pytest
import torch

from workbench.config import ConfigError, from_dict
from workbench.spectra.hvp import chunked, curvature_operator
from workbench.spectra.study import BatchSizeSpectraConfig, LrScalingConfig
from workbench.spectra.train import evaluate, train_epochs


def test_chunks_are_balanced_so_none_holds_a_lone_example():
    """1025 examples by 512 were 512 + 512 + 1, and BatchNorm1d refuses one example in train mode (the BN
    statistics refresh and the full operator run in train mode); now the fewest chunks of near-equal size."""
    x, y = torch.arange(1025.0)[:, None], torch.arange(1025)
    parts = chunked(x, y, 512)
    assert [len(a) for a, _ in parts] == [341, 342, 342]
    assert torch.equal(torch.cat([a for a, _ in parts]), x) and torch.equal(torch.cat([b for _, b in parts]), y)
    assert [len(a) for a, _ in chunked(x[:1024], y[:1024], 512)] == [512, 512]
    assert chunked(x[:0], y[:0], 512) == []


@pytest.mark.parametrize("cls, values, message", [
    (BatchSizeSpectraConfig, {"batch_sizes": [1, 16, 32, 64]}, "batch_sizes must be >= 2: the BN train-mode"),
    (BatchSizeSpectraConfig, {"n_train": 50, "train_batch_size": 64, "batch_sizes": [8, 16, 32]},
     r"n_train \(50\) is below train_batch_size \(64\): training would take no step"),
    (LrScalingConfig, {"n_train": 50, "batch_sizes": [2, 4, 8]}, r"n_train \(50\) is too small for the learner"),
    (LrScalingConfig, {"n_train": 4, "learner_batch_size": 1, "batch_sizes": [1, 2, 3]}, r"n_train \(4\) is too small"),
])
def test_sizes_that_leave_nothing_to_train_on_are_refused(cls, values, message):
    """Before: the BN comparison raised torch's 'Expected more than 1 value per channel' mid-run; a training set
    below one batch took no step and the learner comparison compared untrained models (n_train 50) or divided by
    an empty validation split (n_train 4)."""
    with pytest.raises(ConfigError, match=message):
        from_dict(cls, values)
    from_dict(LrScalingConfig, {"n_train": 80, "batch_sizes": [2, 4, 8]})  # 64 examples to train on: one batch
    from_dict(BatchSizeSpectraConfig, {"n_train": 64, "batch_sizes": [2, 4, 8]})


def test_training_below_one_batch_and_evaluating_nothing_raise():
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="5 training examples are fewer than one batch of 8: no step to take"):
        train_epochs(model, x, y, x, y, epochs=1, batch_size=8, lr=0.1)
    assert train_epochs(model, x, y, x, y, epochs=0, batch_size=8, lr=0.1) == []
    with pytest.raises(ValueError, match="evaluate: no examples"):
        evaluate(model, x[:0], y[:0])


def test_a_model_without_trainable_parameters_is_refused():
    """Every parameter frozen: an IndexError (func) or torch's 'inputs argument to grad() cannot be empty' before."""
    model = torch.nn.Linear(3, 2).requires_grad_(False)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="no trainable parameters"):
        curvature_operator(model, torch.nn.functional.cross_entropy, [(x, y)])


def test_the_training_bar_counts_each_epoch_before_showing_its_loss(monkeypatch):
    """The bar's count is 1, 2, 3 when epochs 1, 2, 3 set their loss and accuracy (it read 0 throughout: tqdm's
    iterator syncs its count only when it redraws, once a second in a batch run)."""
    from workbench.spectra import train as train_mod
    seen = []

    class Bar:
        def __init__(self, *a, **k):
            self.n = 0

        def update(self, k):
            self.n += k

        def set_postfix(self, **k):
            seen.append(self.n)

        def close(self):
            pass
    monkeypatch.setattr(train_mod, "tqdm", Bar)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    train_epochs(model, x, y, x, y, epochs=3, batch_size=8, lr=0.1)
    assert seen == [1, 2, 3]
