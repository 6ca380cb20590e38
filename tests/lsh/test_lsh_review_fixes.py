"""Regression tests for two review findings: label 0 lost from positive masks, and an O(N) copy per race step.

Does not prove: anything about CUDA scatter ordering beyond the CPU case (the fix has no duplicate indices,
so ordering cannot matter there either).
"""
import torch

from workbench.lsh.adaptivity import adaptivity_rows
from workbench.lsh.drawers import DRAWERS
from workbench.lsh.params import LSHParams
from workbench.lsh.query import positive_mask
from workbench.lsh.race import _maintain
from workbench.lsh.softmax_model import BowSoftmax, full_loss


def test_positive_mask_keeps_label_zero_next_to_padding():
    pos = torch.tensor([[0, -1, -1], [3, 0, -1], [-1, -1, -1], [4, 2, 1]])
    m = positive_mask(pos, 5)
    want = torch.zeros(4, 5, dtype=torch.bool)
    want[0, 0] = want[1, 3] = want[1, 0] = want[3, 4] = want[3, 2] = want[3, 1] = True
    assert torch.equal(m, want)


def test_exact_drawer_never_draws_label_zero_when_it_is_the_positive():
    # label 0 has by far the largest logit; it is the only positive, followed by padding
    W = torch.eye(4)
    q = torch.tensor([[10.0, 0.0, 0.0, 0.0]])
    pos = torch.tensor([[0, -1]])
    neg = DRAWERS.get("exact")(4, 64)(q, pos, W, torch.Generator().manual_seed(0))
    assert not (neg.ids == 0).any()


def test_full_loss_counts_label_zero_as_positive():
    model = BowSoftmax(num_features=5, num_labels=3, hidden=4, seed=0)
    h = torch.randn(1, 4)
    logp = torch.log_softmax(model.full_logits(h), 1)
    loss = full_loss(model, h, torch.tensor([[0, -1]]))
    assert torch.allclose(loss, -logp[0, 0])


def test_adaptivity_reference_excludes_label_zero_positive():
    W, h = torch.eye(3), torch.tensor([[5.0, 1.0, 0.0]])
    rows = adaptivity_rows(h, W, torch.tensor([[0, -1]]), {"exact": DRAWERS.get("exact")(3, 64)},
                           repeats=4, generator=torch.Generator().manual_seed(0))
    # the reference softmax must put no mass on label 0 (logit 5, a positive), like the exact drawer: with label
    # 0 left in, the reference gives it ~0.97 and the TV to the drawer's labels 1, 2 is ~0.97
    assert rows[0]["tv"] < 0.2


class _Model:
    """Counts reads of W: the race must not copy the output layer on steps with no rehash."""
    def __init__(self):
        self.reads, self._W = 0, torch.randn(10, 4)

    @property
    def W(self):
        self.reads += 1
        return self._W


class _Index:
    def __init__(self):
        self.events = []

    def rehash(self, W):
        self.events.append("rehash")
        return 0.0

    def redraw(self, W):
        self.events.append("redraw")
        return 0.0


def test_race_maintain_reads_weights_only_when_due():
    m, p, last = _Model(), LSHParams(rehash_every=5, redraw_every=0), {"rehash": None, "redraw": None}
    for step in range(10):
        _maintain(_Index(), p, m, step, last)
    assert m.reads == 2   # steps 0 and 5


def test_race_and_sampler_keep_one_rehash_schedule():
    """A redraw restarts the rehash clock in both: the race once rehashed by ``step % rehash_every`` (steps 6 and
    8 here, one step after the redraw at 5) while the sampler counted from the last event (7 and 9)."""
    p, index, last = LSHParams(rehash_every=2, redraw_every=5), _Index(), {"rehash": None, "redraw": None}
    steps = []
    for step in range(11):
        before = len(index.events)
        _maintain(index, p, _Model(), step, last)
        steps += [(e, step) for e in index.events[before:]]
    # the sampler's schedule for the same parameters (test_lsh_sampler checks it from its costs)
    assert steps == [("rehash", 0), ("rehash", 2), ("rehash", 4), ("redraw", 5), ("rehash", 7), ("rehash", 9),
                     ("redraw", 10)]
    assert [p.due(s, None, None) for s in (0, 3)] == ["build", "build"]
    assert p.due(3, 2, 0) is None and p.due(4, 2, 0) == "rehash" and p.due(5, 4, 0) == "redraw"


def test_output_bias_is_the_last_coordinate_of_the_label_vectors():
    """logits = query(h) @ W.T = h w_l + c_l, for the full and the candidate path, and the exact drawer fed the
    race's vectors samples from that softmax: a label with a large bias dominates its draws."""
    model = BowSoftmax(num_features=5, num_labels=4, hidden=3, seed=0)
    with torch.no_grad():
        model.W[2, -1] = 20.0
    h = torch.rand(2, 3, generator=torch.Generator().manual_seed(0))
    want = h @ model.W[:, :3].T + model.W[:, 3]
    torch.testing.assert_close(model.full_logits(h), want)
    cand = torch.tensor([[2, 0], [1, 3]])
    torch.testing.assert_close(model.candidate_logits(h, cand), want.gather(1, cand))
    neg = DRAWERS.get("exact")(4, 64)(model.query(h), torch.full((2, 1), -1), model.W.detach(),
                                      torch.Generator().manual_seed(1))
    assert (neg.ids == 2).float().mean() > 0.95


def test_params_refuse_codes_wider_than_the_families_take():
    """SimHash takes K <= 24 bits, DWTA K x log2(bin_size) <= 24: refused at validation (before a study runs),
    with the same limits the families enforce when built."""
    import pytest

    from workbench.lsh.params import build_index
    for bad in (LSHParams(K=25), LSHParams(family="dwta", K=10, bin_size=8)):
        with pytest.raises(ValueError, match="exceed 24"):
            bad.validate()
    for ok in (LSHParams(K=24, L=1), LSHParams(family="dwta", K=8, L=1, bin_size=8)):
        ok.validate()
        build_index(ok, dim=16)
