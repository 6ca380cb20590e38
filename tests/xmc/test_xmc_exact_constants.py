"""The numbers every PSP@k rests on and the relevance conventions every metric and sampler shares, by hand:
Jain et al.'s (A, B) constants, the propensity formula at them, frequencies counted in points (not summed
relevances), stored zeros that are not positives, and filter pairs given in any order. Also a random batch
order that is a real permutation of the generator. Each case is one a one-line slip once passed."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from workbench.samplers.positives import Positives, random_batches
from workbench.xmc.dataset import XMCDataset
from workbench.xmc.metrics import AB_PRESETS, propensity, propensity_ab, xmc_metrics


def test_jain_et_al_constants_and_the_formula_at_the_default():
    """(A, B) = (0.55, 1.5) for most datasets, (0.6, 2.6) Amazon, (0.5, 0.4) Wikipedia (Jain et al. 2016); the
    default propensity of a label seen 3 times in 100 points is 1 + (ln 100 - 1) 2.5^0.55 4.5^-0.55."""
    assert AB_PRESETS == {"amazon": (0.6, 2.6), "wikipedia": (0.5, 0.4), "other": (0.55, 1.5)}
    assert propensity_ab("WikiLSHTC-325K") == (0.5, 0.4) and propensity_ab("Delicious") == (0.55, 1.5)
    expect = 1 + (math.log(100) - 1) * 2.5 ** 0.55 * 4.5 ** -0.55
    assert propensity(np.array([3.0]), 100)[0] == expect
    empty = sp.csr_matrix((1, 2), dtype=np.float32)
    assert XMCDataset("d", empty, empty).propensity_ab == (0.55, 1.5)


def test_label_frequency_counts_points_not_relevance():
    """Graded relevance (3.0 and 2.0 on label 0): label 0 is in 2 points, not 5."""
    Y = sp.csr_matrix(np.array([[3.0, 0.0], [2.0, 1.0]], np.float32))
    assert XMCDataset("d", Y, Y).label_freq.tolist() == [2, 1]


def _with_stored_zero():
    """Row 0: label 1 positive, label 0 stored with value 0 (a relevance file may write it)."""
    Y = sp.csr_matrix((np.array([0.0, 1.0], np.float32), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 3))
    assert Y.nnz == 2
    return Y


def test_a_stored_zero_is_not_a_positive_for_metrics_or_samplers():
    Y = _with_stored_zero()
    top = torch.tensor([[0, 1], [2, 0]])
    m = xmc_metrics(top, Y, ks=(1, 2), recall_ks=(2,))
    assert m["P@1"] == 0.0 and m["P@2"] == 25.0 and m["R@2"] == 50.0  # row 0: one positive, found at rank 2
    pos = Positives(Y)
    assert pos.lengths.tolist() == [1, 0]
    assert pos.is_positive(torch.tensor([0]), torch.tensor([[0, 1]])).tolist() == [[False, True]]


def test_negative_values_are_not_positives_for_samplers():
    Y = sp.csr_matrix(np.array([[-1.0, 1.0, 0.0]], np.float32))
    assert Positives(Y).row(0).tolist() == [1]


def test_negative_values_are_not_positives_for_the_metrics_either():
    """One definition of a positive (a value > 0) for the samplers and the metrics: label 0's -1 is not a hit, and
    label 1 is the only positive, so ranking 0 first scores P@1 0 and R@2 100."""
    Y = sp.csr_matrix(np.array([[-1.0, 1.0, 0.0]], np.float32))
    m = xmc_metrics(torch.tensor([[0, 1]]), Y, ks=(1, 2))
    assert m["P@1"] == 0.0 and m["R@2"] == 100.0


def test_filter_pairs_in_any_order_are_removed():
    """Filter pairs listed out of (row, label) order: (1, 2) before (0, 1). Both predictions go."""
    Y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], np.float32))
    top = torch.tensor([[1, 0], [2, 1]])
    pairs = np.array([[1, 2], [0, 1]])
    m = xmc_metrics(top, Y, ks=(1,), filter_pairs=pairs)
    assert m["P@1"] == 100.0  # row 0's 1 and row 1's 2 dropped: both rows' top is their positive


def test_random_batches_are_a_permutation_drawn_by_the_generator():
    a = torch.cat(random_batches(20, 6, torch.Generator().manual_seed(0)))
    b = torch.cat(random_batches(20, 6, torch.Generator().manual_seed(1)))
    assert sorted(a.tolist()) == list(range(20)) and a.tolist() != list(range(20)) and a.tolist() != b.tolist()
    assert [len(x) for x in random_batches(20, 6, torch.Generator().manual_seed(0))] == [6, 6, 6, 2]


def _freq_dataset():
    """6 train points; label frequencies [0, 1, 1, 4, 6] (12 positives)."""
    Y = np.zeros((6, 5), np.float32)
    Y[0, 1] = Y[1, 2] = 1
    Y[:4, 3] = 1
    Y[:, 4] = 1
    return XMCDataset("d", sp.csr_matrix(Y), sp.csr_matrix(Y[:1]))


def test_dataset_stats_count_over_labels_seen_in_training():
    """Seen labels' frequencies 1, 1, 4, 6: mean 3.0, median 2.5; two labels seen once (the unseen one is not
    'seen once')."""
    from workbench.xmc.stats import dataset_stats
    s = dataset_stats(_freq_dataset())
    assert (s["points_per_label"], s["label_freq_median"], s["labels_seen_once"]) == (3.0, 2.5, 2)
    assert (s["labels_seen_in_train"], s["label_freq_max"], s["train_positives"]) == (4, 6, 12)


def test_frequency_table_bins_and_their_share_of_positives():
    """log2 bins [1, 1], [2, 3], [4, 7]: 2 labels carrying 2 of 12 positives, none, 2 labels carrying 10."""
    from workbench.xmc.stats import frequency_table
    t = frequency_table(_freq_dataset())
    assert t[["freq_lo", "freq_hi", "labels"]].values.tolist() == [[1, 1, 2], [2, 3, 0], [4, 7, 2]]
    assert t["positives"].tolist() == [100 * 2 / 12, 0.0, 100 * 10 / 12]


def test_text_fingerprints_tell_where_one_text_ends():
    """['ab', 'c'] and ['a', 'bc'] hold the same characters: their token caches must not share a key."""
    from workbench.xmc.tokens import texts_fingerprint
    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["a", "bc"])
