"""The one in-memory form of every XMC dataset, whatever file layout it was read from."""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp


@dataclasses.dataclass
class XMCDataset:
    """Queries x labels, train and test.

    Shapes: ``Y_train`` (n_train, L) and ``Y_test`` (n_test, L) CSR float32 relevance; ``X_*`` optional sparse
    features (n, F) for bag-of-words datasets; ``filter_*`` (m, 2) int64 ``(point, label)`` pairs whose
    predictions are removed before scoring (label-feature datasets); texts are None where a layout has none.
    """
    name: str
    Y_train: sp.csr_matrix
    Y_test: sp.csr_matrix
    train_texts: list[str] | None = None
    test_texts: list[str] | None = None
    label_texts: list[str] | None = None
    X_train: sp.csr_matrix | None = None
    X_test: sp.csr_matrix | None = None
    filter_train: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2), np.int64))
    filter_test: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2), np.int64))
    propensity_ab: tuple[float, float] = (0.55, 1.5)  # pyxclib's A, B for "other" datasets

    @property
    def num_labels(self) -> int:
        return self.Y_train.shape[1]

    @property
    def label_freq(self) -> np.ndarray:
        """(L,) number of training points per label."""
        return np.asarray((self.Y_train > 0).sum(axis=0)).ravel()
