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


def _stats_dataset():
    """6 train points with label frequencies [0, 1, 1, 4, 6] (12 positives); 3 test points with 2 positives;
    1 train and 2 test filter pairs; train texts 8 chars over 6, label texts 8 chars over 5, test texts 1 each."""
    Y = np.zeros((6, 5), np.float32)
    Y[0, 1] = Y[1, 2] = 1
    Y[:4, 3] = 1
    Y[:, 4] = 1
    Yt = np.zeros((3, 5), np.float32)
    Yt[0, 4] = Yt[2, 3] = 1
    return XMCDataset("d", sp.csr_matrix(Y), sp.csr_matrix(Yt), train_texts=["a b", "c", "d", "e", "f", "g"],
                      test_texts=["q", "r", "s"], label_texts=["xy z", "w", "v", "u", "t"],
                      filter_train=np.array([[0, 0]], np.int64), filter_test=np.array([[0, 0], [1, 1]], np.int64))


def test_dataset_stats_keep_train_and_test_apart():
    """Test points 3 and positives 2 (not the train 6 and 12): 2 / 3 = 0.6667 labels per test point, 2.0 per train
    point; filter pairs 1 train, 2 test; mean text length 8 / 6 = 1.3 characters (spaces counted) for the train
    texts and 8 / 5 = 1.6 for the label texts; test texts get no entry."""
    from workbench.xmc.stats import dataset_stats
    s = dataset_stats(_stats_dataset())
    assert (s["train_points"], s["test_points"], s["train_positives"], s["test_positives"]) == (6, 3, 12, 2)
    assert (s["labels_per_train_point"], s["labels_per_test_point"]) == (2.0, 0.6667)
    assert (s["filter_pairs_train"], s["filter_pairs_test"]) == (1, 2)
    assert (s["train_text_chars_mean"], s["label_text_chars_mean"]) == (1.3, 1.6)
    assert "test_text_chars_mean" not in s


def test_frequency_table_of_a_single_label_and_of_none():
    """One label seen 4 times: 4 = 2^2 needs a bin [4, 7] above [1, 1] and [2, 3], and carries all positives.
    No label seen in training (all-zero train matrix): an empty table, not a bin of 0 / 0 shares."""
    from workbench.xmc.stats import frequency_table
    Y = np.zeros((4, 3), np.float32)
    Y[:, 1] = 1
    t = frequency_table(XMCDataset("one", sp.csr_matrix(Y), sp.csr_matrix(Y[:1])))
    assert t[["freq_lo", "freq_hi", "labels"]].values.tolist() == [[1, 1, 0], [2, 3, 0], [4, 7, 1]]
    assert t["positives"].tolist() == [0.0, 0.0, 100.0]
    Z = sp.csr_matrix((2, 3), dtype=np.float32)
    t = frequency_table(XMCDataset("none", Z, Z))
    assert len(t) == 0 and list(t.columns) == ["freq_lo", "freq_hi", "labels", "positives"]


def test_frequency_figure_bars_count_labels_and_the_curve_is_rank_ordered():
    """Bars are labels per bin [2, 0, 2]; the rank-frequency curve is the seen labels' frequencies sorted
    descending, [6, 4, 1, 1] at ranks 1..4; the one unseen label is counted in the title, not drawn."""
    import matplotlib.pyplot as plt
    from workbench.xmc.stats import frequency_figure
    fig = frequency_figure(_stats_dataset())
    a, b = fig.axes
    assert [p.get_height() for p in a.patches] == [2, 0, 2]
    assert b.lines[0].get_xdata().tolist() == [1, 2, 3, 4]
    assert b.lines[0].get_ydata().tolist() == [6, 4, 1, 1]
    assert "5 labels, 1 never seen in training" in fig._suptitle.get_text()
    plt.close(fig)


def test_frequency_figure_names_each_bin_by_its_range():
    """Bins of the toy dataset are [1, 1], [2, 3], [4, 7]: a one-value bin by its value, the others lo-hi."""
    import matplotlib.pyplot as plt
    from workbench.xmc.stats import frequency_figure
    fig = frequency_figure(_stats_dataset())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2-3", "4-7"]
    plt.close(fig)
