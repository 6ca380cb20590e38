"""``largest_batch`` on a CPU with the CUDA calls faked: ascending sizes, stop at the first out-of-memory, the
memory fraction set to the cap and reset to 1.0 afterwards (also when ``try_batch`` raises something else).

Does not prove: that ``set_per_process_memory_fraction`` really limits allocations, nor any batch size on a
real GPU (that needs a lent GPU and the study's notebook).
"""
import types

import pytest
import torch

from workbench.xmc_train import capacity


@pytest.fixture
def fake_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(capacity, "require_cuda", lambda what: None)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev: types.SimpleNamespace(total_memory=2**30))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda frac, dev=None: calls.append(("fraction", frac)))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    return calls


def test_stops_at_the_first_oom_and_resets_the_fraction(fake_cuda):
    # sizes given out of order: tried ascending; 64 fails, so 128 is never tried (catches a sweep that goes on
    # after an OOM, reports the failing size, or leaves the cap in force)
    seen = []

    def try_batch(bs):
        seen.append(bs)
        if bs > 32:
            raise torch.OutOfMemoryError("fake OOM")

    out = capacity.largest_batch(try_batch, [128, 8, 32, 64, 16], cap_fraction=0.25)
    assert seen == [8, 16, 32, 64]
    assert out["largest_batch"] == 32 and out["tried"] == [(8, True), (16, True), (32, True), (64, False)]
    assert out["cap_mib"] == 0.25 * 1024 and out["bounded"]
    assert fake_cuda == [("fraction", 0.25), ("fraction", 1.0)]
    assert not capacity.largest_batch(lambda bs: None, [8, 16], cap_fraction=0.25)["bounded"]   # 16: a lower bound


def test_other_errors_propagate_but_the_fraction_is_reset(fake_cuda):
    # only an OOM means "does not fit"; a bug in try_batch must surface, with the cap lifted
    def try_batch(bs):
        raise ValueError("a bug, not a memory limit")

    with pytest.raises(ValueError, match="a bug"):
        capacity.largest_batch(try_batch, [4], cap_fraction=0.5)
    assert fake_cuda[-1] == ("fraction", 1.0)


def test_nothing_fits(fake_cuda):
    out = capacity.largest_batch(lambda bs: (_ for _ in ()).throw(torch.OutOfMemoryError("oom")), [4, 8], 0.5)
    assert out["largest_batch"] == 0 and out["tried"] == [(4, False)]


def test_capped_comparison_tags_runs_flags_bounds_and_survives_an_oom(fake_cuda, monkeypatch):
    """ance runs out of memory above batch 128 in its trial; ngame never does (a lower bound) and then runs out
    of memory in its full run: a recorded result, not a crash; the memory fraction is lifted after each."""
    from workbench.xmc_train import compare
    from workbench.xmc_train.study import NegativeMiningConfig
    monkeypatch.setattr(compare.torch.cuda, "set_per_process_memory_fraction",
                        lambda frac, dev=None: fake_cuda.append(("fraction", frac)))
    monkeypatch.setattr(compare.torch.cuda, "empty_cache", lambda: None)
    full_runs = []

    def fake_train(cfg, prep, name, progress=True, batch_size=None, max_steps=None, eval_every=None,
                   bare_probe_every=None, time_budget_s=None):
        assert bare_probe_every == 0  # no bare-encoder step under the cap: it is not part of what is measured
        if max_steps == 2:                                           # the trial steps
            assert time_budget_s == 0.0  # both steps run, whatever the comparison's time budget
            if name == "ance" and batch_size > 128:
                raise torch.OutOfMemoryError("fake OOM")
            return [], None, None
        # evaluated every eval_every x batch_size training queries, as the comparison runs: 8 x 128 / 128 = 8
        # for ance, 8 x 128 / 256 = 4 for ngame (at its own steps' count its evaluations would come half as often)
        assert eval_every == {"ance": 8, "ngame": 4}[name]
        full_runs.append((name, batch_size))
        if name == "ngame":
            raise torch.OutOfMemoryError("fake OOM in the full run")
        return [{"sampler": name, "step": 1, "P@1": 10.0}], None, None
    monkeypatch.setattr(compare, "train_sampler", fake_train)
    cfg = NegativeMiningConfig(memory_cap_fraction=0.25, batch_size=128, eval_every=8, time_budget_s=30.0)
    caps, rows = compare.capped_comparison(cfg, prep=None, sizes=[64, 128, 256])
    by = {c["sampler"]: c for c in caps}
    assert by["ance"]["largest_batch"] == 128 and by["ance"]["fit"] == "largest that fits"
    assert by["ance"]["first_oom"] == 160 and by["ngame"]["first_oom"] != by["ngame"]["first_oom"]  # 256, 192, 160
    assert by["ngame"]["largest_batch"] == 256 and by["ngame"]["fit"].startswith("at least")
    assert by["ance"]["full_run"] == "ok" and by["ngame"]["full_run"] == "out of memory after the trial steps"
    assert full_runs == [("ance", 128), ("ngame", 256)]
    assert rows == [{"sampler": "ance@cap", "step": 1, "P@1": 10.0}]
    assert fake_cuda[-1] == ("fraction", 1.0)


def test_capped_ngame_records_how_large_its_clusters_were(fake_cuda, monkeypatch):
    """ngame@cap trains 2 epochs at batch 256 over 512 queries and clustered at epoch 1 into 16 clusters (bound
    32, 32 points each): its cap row holds cluster_bound 32 and mean_cluster_points 512 / 16 = 32.0."""
    from workbench.xmc_train import compare
    from workbench.xmc_train.study import NegativeMiningConfig
    monkeypatch.setattr(compare.torch.cuda, "set_per_process_memory_fraction", lambda frac, dev=None: None)
    monkeypatch.setattr(compare.torch.cuda, "empty_cache", lambda: None)
    sampler = types.SimpleNamespace(pos=types.SimpleNamespace(num_queries=512), costs=[{"epoch": 1, "clusters": 16}],
                                    cluster_size=lambda e: 32 if e >= 1 else 1)

    def fake_train(cfg, prep, name, max_steps=None, **_):
        if max_steps == 2:
            return [], None, None
        return [{"sampler": name, "step": 4, "P@1": 10.0}], None, sampler
    monkeypatch.setattr(compare, "train_sampler", fake_train)
    caps, _ = compare.capped_comparison(NegativeMiningConfig(memory_cap_fraction=0.25), types.SimpleNamespace(
        train=range(512)), samplers=("ngame",), sizes=[256])
    assert (caps[0]["cluster_bound"], caps[0]["mean_cluster_points"]) == (32, 32.0)


def test_refine_bisects_between_the_last_fit_and_the_first_oom(fake_cuda):
    # fits up to 90: powers of two stop at 64 (128 fails); two bisections try 96 (fails) then 80 (fits)
    def try_batch(bs):
        if bs > 90:
            raise torch.OutOfMemoryError("fake OOM")

    out = capacity.largest_batch(try_batch, [16, 32, 64, 128, 256], cap_fraction=0.5, refine=2)
    assert out["largest_batch"] == 80 and out["bounded"]
    assert out["tried"][-3:] == [(128, False), (96, False), (80, True)]
    # no bracket to refine: nothing fits, or nothing ran out of memory
    assert capacity.largest_batch(lambda bs: None, [8, 16], 0.5, refine=3)["tried"] == [(8, True), (16, True)]
    assert capacity.largest_batch(lambda bs: (_ for _ in ()).throw(torch.OutOfMemoryError("oom")), [4], 0.5,
                                  refine=3)["largest_batch"] == 0
    assert capacity.largest_batch(try_batch, [90, 91], 0.5, refine=4)["largest_batch"] == 90  # bracket of one
