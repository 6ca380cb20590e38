"""The paper's setting: sparse bag of words -> hidden layer (ReLU) -> N-way output layer, trained with the
full softmax or a sampled softmax (with or without the logQ correction).

The output layer is an embedding table read by id, so a sampled step touches (and its sparse optimizer
updates) only the scored rows: the step costs O(B * (P + k) * hidden), not O(N * hidden). The full softmax
reads the whole table as a matrix and updates it densely.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..xmc.topk import topk_scores
from .query import Negatives, positive_mask


class BowSoftmax(nn.Module):
    """x (bag of words) -> h = relu(E x + b) (hidden,) -> logits W h + c (N,).

    The output bias is folded into the label vectors: ``W`` (N, hidden + 1) holds [w_l, c_l] and
    :meth:`query` turns h into [h, 1], so a logit is one inner product <query(h), W_l>. The LSH tables hash
    these rows and are queried with these vectors, and the exact drawer samples from this very softmax (with
    w_l alone it sampled from a softmax that was not the model's). Measured on the Debian bag of words (37K
    labels, K=10, L=16, batch 512, CPU): the biases carry much of the logit (log-uniform negatives, drawn by
    frequency, have mean rank 0.12, exact ones 0.13-0.15), folding them in moved LSH-Embedding's mean rank
    only from 0.27 to 0.26 at step 100, and its negatives still lose hardness as training goes on (0.26 at
    step 100, 0.39 at step 300; a freshly rehashed index gives 0.14 then 0.41). Simple-LSH (hashing for inner
    products) was tried there too and was worse (0.44-0.47): at K=10 its transformed angles are all near 90.
    """

    def __init__(self, num_features: int, num_labels: int, hidden: int = 128, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.embed = nn.EmbeddingBag(num_features, hidden, mode="sum", sparse=True)
        nn.init.normal_(self.embed.weight, std=hidden ** -0.5, generator=g)
        self.b = nn.Parameter(torch.zeros(hidden))
        self.out = nn.Embedding(num_labels, hidden + 1, sparse=True)
        with torch.no_grad():
            nn.init.normal_(self.out.weight[:, :hidden], std=hidden ** -0.5, generator=g)
            self.out.weight[:, hidden] = 0.0  # the biases

    @property
    def W(self) -> torch.Tensor:
        """(N, hidden + 1) label vectors, bias last: what the LSH tables hash."""
        return self.out.weight

    @staticmethod
    def query(h: torch.Tensor) -> torch.Tensor:
        """(B, hidden) -> (B, hidden + 1) query vectors [h, 1]: logits = query(h) @ W.T."""
        return F.pad(h, (0, 1), value=1.0)

    def hidden(self, idx: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """EmbeddingBag inputs (see :func:`workbench.lsh.bowdata.bag_tensors`) -> (B, hidden)."""
        return torch.relu(self.embed(idx, offsets, per_sample_weights=weights) + self.b)

    def full_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, hidden) -> (B, N); dense use of W (dense gradient)."""
        return self.query(h) @ self.out.weight.T

    def candidate_logits(self, h: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """(B, hidden), (B, M) label ids -> (B, M); sparse use of W (only these rows get gradients)."""
        w = self.out(cand)                                           # (B, M, hidden + 1)
        return torch.einsum("bh,bmh->bm", self.query(h), w)


def multilabel_nll(logits: torch.Tensor, is_pos: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy against the uniform distribution over each row's positives, averaged over rows.

    logits, is_pos, valid: (B, M); invalid entries are excluded from the normaliser.
    """
    logp = torch.log_softmax(logits.masked_fill(~valid, float("-inf")), dim=1)
    pos = is_pos & valid
    per_row = -(logp.masked_fill(~pos, 0.0).sum(1)) / pos.sum(1).clamp(min=1)
    return per_row[pos.any(1)].mean()


def full_loss(model: BowSoftmax, h: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Full softmax over all N labels; positives (B, P) padded with -1 (a repeated id counts once). Per row, the
    logsumexp of its N logits minus its positives' mean logit (:func:`multilabel_nll` with every label valid),
    the positives' logits formed apart from the (B, N) matrix: masked copies of it (4 and more, 10 GB each at
    batch 256 and 10^7 labels) had the step near 70 GB."""
    logits = model.full_logits(h)
    positives = positives.sort(dim=1).values  # a repeated id counts once, as in the masked definition
    repeat = F.pad(positives[:, 1:] == positives[:, :-1], (1, 0), value=False)
    q, valid = model.query(h), (positives >= 0) & ~repeat
    pos_logits = (q[:, None, :] * model.W[positives.clamp(min=0)]).sum(-1)      # (B, P)
    n = valid.sum(1)
    per_row = torch.logsumexp(logits, dim=1) - (pos_logits * valid).sum(1) / n.clamp(min=1)
    return per_row[n > 0].mean()


def sampled_loss(model: BowSoftmax, h: torch.Tensor, positives: torch.Tensor, neg: Negatives,
                 logq: bool) -> torch.Tensor:
    """Sampled softmax over [positives, negatives]; with ``logq`` the negatives' logits are lowered by their
    log expected count (positives are always scored: count 1, log 0)."""
    cand = torch.cat([positives.clamp(min=0), neg.ids], 1)
    logits = model.candidate_logits(h, cand)
    if logq:
        logits = logits - F.pad(neg.log_q.to(logits.dtype), (positives.shape[1], 0))
    is_pos = F.pad(positives >= 0, (0, neg.ids.shape[1]))
    valid = torch.cat([positives >= 0, neg.valid], 1)
    return multilabel_nll(logits, is_pos, valid)


def optimizers(model: BowSoftmax, lr: float, dense_output: bool) -> list[torch.optim.Optimizer]:
    """SparseAdam for the tables read by id, Adam for the rest; with ``dense_output`` (full softmax) the output
    layer gets dense gradients and goes to Adam."""
    sparse = [model.embed.weight] + ([] if dense_output else [model.out.weight])
    dense = [model.b] + ([model.out.weight] if dense_output else [])
    return [torch.optim.SparseAdam(sparse, lr=lr), torch.optim.Adam(dense, lr=lr)]


@torch.no_grad()
def predict_topk(model: BowSoftmax, h: torch.Tensor, k: int) -> torch.Tensor:
    """(B, hidden) -> (B, k) best label ids under the full scores (labels scanned in chunks)."""
    return topk_scores(model.query(h), model.W, k)[1]
