"""Excluded (query, label) pairs, e.g. a dataset's filter pairs, are neither positives nor negatives: the shortlist
samplers skip them, and every sampler's batch marks them invalid where they are scored (one mask, in the
trainer). Does not prove: that excluding them trains a better model (the negative-mining study measures it)."""
import numpy as np
import scipy.sparse as sp
import torch

from workbench.samplers import SamplerConfig, build_sampler
from workbench.samplers.base import SampledBatch, mask_excluded
from workbench.samplers.positives import Positives
from workbench.xmc_train.encoders import get_encoder, tokenize
from workbench.xmc_train.losses import build_loss
from workbench.xmc_train.models import XMCModel
from workbench.xmc_train.stages import excluding_filter_pairs
from workbench.xmc_train.study import NegativeMiningConfig, prepare
from workbench.xmc_train.toy import toy_text_dataset
from workbench.xmc_train.train_config import TrainConfig
from workbench.xmc_train.trainer import Trainer


def _Y():
    # 4 queries over 6 labels; query i's positive is label i; pairs (i, i + 1) are excluded
    return sp.csr_matrix((np.ones(4, np.float32), (np.arange(4), np.arange(4))), shape=(4, 6))


EXCLUDED = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])


def test_not_negative_is_positive_or_excluded():
    pos = Positives(_Y())
    q, labels = torch.arange(4), torch.tensor([[0, 1, 5]] * 4)
    assert not pos.not_negative(q, labels)[0, 1]
    pos.exclude(EXCLUDED)
    got = pos.not_negative(q, labels)
    assert got[0].tolist() == [True, True, False]          # its positive, its excluded label, a negative
    assert got[1].tolist() == [False, True, False]         # query 1: its positive 1 (its excluded 2 not scored)
    assert not pos.is_positive(q, labels)[0, 1]            # excluded is not a positive: targets are unchanged


def test_mask_excluded_marks_scored_pairs_invalid_for_pool_and_candidate_batches():
    pos = Positives(_Y())
    pos.exclude(EXCLUDED)
    q = torch.tensor([0, 1])
    pool = torch.arange(6)                                 # every query scores the whole (sorted) pool
    whole = SampledBatch(q, pool, None, pos.pool_targets(q, pool))
    valid = mask_excluded(whole, pos).valid
    assert valid.tolist() == [[True, False, True, True, True, True], [True, True, False, True, True, True]]
    shuffled = SampledBatch(q, pool.flip(0), None, pos.is_positive(q, pool.flip(0)))  # unsorted pool
    assert mask_excluded(shuffled, pos).valid.tolist() == [v[::-1] for v in valid.tolist()]
    cand = SampledBatch(q, pool, torch.tensor([[0, 1, 5], [1, 2, 3]]), torch.tensor([[True, False, False]] * 2),
                        valid=torch.tensor([[True, True, False], [True, True, True]]))
    assert mask_excluded(cand, pos).valid.tolist() == [[True, False, False], [True, False, True]]
    assert mask_excluded(whole, Positives(_Y())) is whole  # nothing excluded: the batch as it was


def test_ance_shortlist_skips_excluded_labels():
    cfg = SamplerConfig(num_negatives=2)
    s = build_sampler("ance", _Y(), cfg)
    s.pos.exclude(EXCLUDED)
    s.shortlist = torch.tensor([[1, 5, 4], [2, 5, 0], [3, 5, 0], [4, 5, 0]])  # each query's excluded label first
    negs = torch.cat([s.hard_negatives(torch.arange(4), 2, torch.Generator().manual_seed(i)) for i in range(20)])
    assert not any(int(negs[r, c]) == r % 4 + 1 for r in range(len(negs)) for c in range(2))


def test_the_study_excludes_the_training_filter_pairs_only_when_asked():
    data = toy_text_dataset(n_train=40, n_test=10, num_labels=10)
    data.filter_train = np.array([[0, 9], [1, 8]])
    for flag in (True, False):
        cfg = NegativeMiningConfig(exclude_filter_pairs=flag, device="cpu", max_length=12)
        prep = prepare(cfg, data)
        s = excluding_filter_pairs(cfg, prep, build_sampler("in_batch", prep.data.Y_train, cfg.sampler_config()))
        assert (s.pos.excluded is not None) == flag
        if flag:
            assert s.pos.not_negative(torch.tensor([0, 1]), torch.tensor([[9], [8]])).all()


def test_the_trainer_hands_the_loss_excluded_pairs_masked():
    """One training step with the `full` sampler (it scores every label): the `valid` mask the loss receives is
    False at every excluded pair of the batch and True elsewhere. Catches a trainer that skips mask_excluded (the
    tests above call it directly)."""
    data = toy_text_dataset(n_train=40, n_test=10, num_labels=10)
    enc = get_encoder("tiny", 0)
    model = XMCModel(enc, tokenize(enc.tokenizer, data.train_texts, 12), tokenize(enc.tokenizer, data.label_texts, 12))
    sampler = build_sampler("full", data.Y_train, SamplerConfig())
    Y = data.Y_train.toarray()
    pairs = np.argwhere(Y == 0)[::7]
    sampler.pos.exclude(pairs)
    softmax, batches, masks = build_loss("softmax"), [], []
    sample = sampler.sample
    sampler.sample = lambda queries, gen: batches.append(queries) or sample(queries, gen)

    def loss(scores, targets, valid, *rest):
        masks.append(valid)
        return softmax(scores, targets, valid, *rest)
    Trainer(model, sampler, loss, TrainConfig(epochs=1, batch_size=40, max_steps=1, device="cpu"), progress=False).run()
    excluded = np.zeros_like(Y, dtype=bool)
    excluded[pairs[:, 0], pairs[:, 1]] = True
    assert masks[0] is not None
    assert (masks[0].numpy() == ~excluded[batches[0].numpy()]).all()
