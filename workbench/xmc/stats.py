"""Dataset statistics for reports: sizes, labels per point, points per label, the label-frequency histogram."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .dataset import XMCDataset


def dataset_stats(ds: XMCDataset) -> dict:
    """Plain-number summary (JSON-serialisable). Label frequencies are counted on the train split."""
    freq = ds.label_freq
    seen = freq[freq > 0]
    n_tr, n_te = ds.Y_train.shape[0], ds.Y_test.shape[0]
    out = {
        "name": ds.name, "train_points": int(n_tr), "test_points": int(n_te), "labels": int(ds.num_labels),
        "labels_seen_in_train": int(len(seen)),
        "train_positives": int(ds.Y_train.nnz), "test_positives": int(ds.Y_test.nnz),
        "labels_per_train_point": round(float(ds.Y_train.nnz / max(n_tr, 1)), 4),
        "labels_per_test_point": round(float(ds.Y_test.nnz / max(n_te, 1)), 4),
        "points_per_label": round(float(seen.mean()), 4) if len(seen) else 0.0,
        "label_freq_median": float(np.median(seen)) if len(seen) else 0.0,
        "label_freq_max": int(freq.max()) if len(freq) else 0,
        "labels_seen_once": int((freq == 1).sum()),
        "filter_pairs_train": int(len(ds.filter_train)), "filter_pairs_test": int(len(ds.filter_test)),
    }
    for split, texts in (("train", ds.train_texts), ("label", ds.label_texts)):
        if texts:
            out[f"{split}_text_chars_mean"] = round(float(np.mean([len(t) for t in texts])), 1)
    return out


def frequency_table(ds: XMCDataset) -> pd.DataFrame:
    """Tidy histogram of train label frequencies in log2 bins: columns ``freq_lo``, ``freq_hi``, ``labels``,
    ``positives`` (share of all train positives carried by the bin, in percent)."""
    freq = ds.label_freq
    freq = freq[freq > 0]
    if not len(freq):  # no label occurs in training: no bins
        return pd.DataFrame(columns=["freq_lo", "freq_hi", "labels", "positives"])
    edges = 2 ** np.arange(0, int(np.ceil(np.log2(max(freq.max(), 1) + 1))) + 1)
    bins = np.digitize(freq, edges) - 1
    rows = [{"freq_lo": int(edges[b]), "freq_hi": int(edges[b + 1] - 1), "labels": int((bins == b).sum()),
             "positives": 100.0 * freq[bins == b].sum() / freq.sum()} for b in range(len(edges) - 1)]
    return pd.DataFrame(rows)


def frequency_figure(ds: XMCDataset):
    """Label-frequency histogram (log-log): how many labels have each number of training points. Labels never seen
    in training have no place on a log axis: they are counted in the titles, not drawn."""
    import matplotlib.pyplot as plt
    freq = np.sort(ds.label_freq[ds.label_freq > 0])[::-1]
    unseen = int(ds.num_labels) - len(freq)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    t = frequency_table(ds)
    a.bar(np.arange(len(t)), t["labels"], color="C0")
    names = [f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in zip(t["freq_lo"], t["freq_hi"])]
    a.set_xticks(np.arange(len(t)), names, rotation=45)
    a.set_yscale("log")
    a.set(xlabel="training points per label (log2 bin)", ylabel="labels", title="labels per frequency bin")
    b.loglog(np.arange(1, len(freq) + 1), freq, color="C1")  # one series: its name is in the suptitle, no legend
    b.set(xlabel="label rank (labels seen in training)", ylabel="training points",
          title=f"rank-frequency ({len(freq):,} seen labels)")
    fig.suptitle(f"{ds.name}: label frequencies ({ds.num_labels:,} labels, {unseen:,} never seen in training "
                 "and not drawn)")
    return fig
