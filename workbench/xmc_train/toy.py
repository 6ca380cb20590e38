"""A tiny text XMC problem with a known answer, for tests and quick demos (seconds on a CPU).

Label l is the text ``"w<a> w<b>"`` for a random word pair; a query is the words of its 1-3 labels, shuffled,
so a model that learns to match words finds its labels. Sizes are small by design; it proves the plumbing
learns, not that a method is good.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..xmc.dataset import XMCDataset


def toy_text_dataset(n_train: int = 400, n_test: int = 100, num_labels: int = 60, words: int = 40,
                     seed: int = 0) -> XMCDataset:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(words, size=(num_labels, 2))
    label_texts = [f"w{a} w{b}" for a, b in pairs]
    popularity = 1.0 / np.arange(1, num_labels + 1)
    popularity /= popularity.sum()

    def split(n: int):
        rows, texts = [], []
        for _ in range(n):
            labs = rng.choice(num_labels, size=rng.integers(1, 4), replace=False, p=popularity)
            toks = [f"w{w}" for lab in labs for w in pairs[lab]]
            rng.shuffle(toks)
            rows.append(np.sort(labs))
            texts.append(" ".join(toks))
        indptr = np.cumsum([0] + [len(r) for r in rows])
        Y = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows), indptr), shape=(n, num_labels))
        return Y, texts

    Ytr, ttr = split(n_train)
    Yte, tte = split(n_test)
    return XMCDataset(name="toy", Y_train=Ytr, Y_test=Yte, train_texts=ttr, test_texts=tte, label_texts=label_texts)
