"""Units of resumable runs (workbench.resume): computed once, read back after, never half-written."""
import pytest

from workbench.resume import UnitStore, config_key, no_memo, resumed_units


def test_a_unit_is_computed_once_and_read_back_by_a_later_store(tmp_path):
    calls = []
    store = UnitStore(tmp_path / "partial" / "k", announce=None)
    assert store("a", lambda: calls.append(1) or {"rows": [1.5, float("nan")]})["rows"][0] == 1.5
    said = []
    again = UnitStore(tmp_path / "partial" / "k", announce=said.append)  # a later attempt of the run
    assert again("a", lambda: calls.append(2) or {"rows": []})["rows"][0] == 1.5
    assert calls == [1] and len(said) == 1 and "'a'" in said[0]
    assert again.resumed() == ["a"] and resumed_units(tmp_path) == ["a"]


def test_a_failed_unit_leaves_nothing_and_is_computed_again(tmp_path):
    store = UnitStore(tmp_path, announce=None)

    def boom():
        raise RuntimeError("crash inside the unit")
    with pytest.raises(RuntimeError):
        store("b", boom)
    assert list(tmp_path.iterdir()) == []
    assert store("b", lambda: 7) == 7


def test_names_with_odd_characters_get_distinct_files(tmp_path):
    store = UnitStore(tmp_path, announce=None)
    names = ["spectra-[('epoch', 0)]-B16", "spectra-[('epoch', 0)]-B16 ", "x/y", "x_y", "a" * 200, "a" * 201]
    paths = {store.path(n) for n in names}
    assert len(paths) == len(names) and all(p.parent == tmp_path for p in paths)
    with pytest.raises(ValueError):
        store.path("")


def test_config_key_follows_every_field_and_no_memo_computes():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1, "b": [1, 2]}) != config_key({"a": 1, "b": [1, 3]})
    assert no_memo("anything", lambda: 3) == 3


def test_a_result_that_cannot_be_saved_is_returned_with_a_warning(tmp_path):
    store = UnitStore(tmp_path, announce=None)
    with pytest.warns(RuntimeWarning, match="could not be kept"):
        out = store("gen", lambda: (i for i in range(3)))  # a generator does not pickle
    assert list(out) == [0, 1, 2] and not list(tmp_path.glob("*.pt"))


def test_a_name_asked_twice_in_one_attempt_is_a_new_unit(tmp_path):
    """A loop over [cpu, gpu, cpu] measures cpu twice; a resumed attempt gets each occurrence back in turn."""
    first = UnitStore(tmp_path, announce=None)
    assert [first("cpu", lambda: 1), first("gpu", lambda: 2), first("cpu", lambda: 3)] == [1, 2, 3]
    again = UnitStore(tmp_path, announce=None)
    assert [again("cpu", lambda: 0), again("gpu", lambda: 0), again("cpu", lambda: 0)] == [1, 2, 3]
    assert again.resumed() == ["cpu", "gpu", "cpu#2"]


def test_an_unreadable_unit_is_computed_again_with_a_warning(tmp_path):
    UnitStore(tmp_path, announce=None)("u", lambda: 1)
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="could not be read back"):
        assert UnitStore(tmp_path, announce=None)("u", lambda: 2) == 2
    assert UnitStore(tmp_path, announce=None)("u", lambda: 3) == 2  # the recomputed unit was kept


def test_runs_outside_the_runner_compute_every_unit(tmp_path, monkeypatch):
    from workbench import report
    monkeypatch.delenv(report.RUN_DIR_ENV, raising=False)
    run = report.start_run("tiny", {"a": 1}, run_dir=tmp_path / "scratch")
    assert run.memo is no_memo
    monkeypatch.setenv(report.RUN_DIR_ENV, str(tmp_path / "run"))
    run = report.start_run("tiny", {"a": 1})
    assert isinstance(run.memo, UnitStore) and run.memo is run.memo  # one store per run: it counts repeats
