"""``run --like RUN``: a new run with another run's recorded parameters (e.g. from a shared report), ``-p`` on
top; the source is checked before any work. On the tiny notebook in a scratch checkout. Does not prove: that a run
on other hardware gives the same numbers (that is what it is for)."""
import json
import warnings
from pathlib import Path

import pytest

from workbench import runner
from workbench.cli import main as cli_main
from workbench.config import ConfigError


def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())


@pytest.mark.slow
def test_like_takes_the_recorded_parameters_and_profile_name(root):
    first = runner.run_study("tiny", "small", {"scale": 2}, root=root)
    # -p on top of the recorded ones; the record's file or its directory both name the run
    second = runner.run_study("tiny", overrides={"n": 3}, root=root, like=first / "config.json")
    a, b = _config(first), _config(second)
    assert b["status"] == "ok" and b["profile"] == "small" and second.name.endswith("-small")
    assert b["parameters"] == {**a["parameters"], "n": 3}   # label 'profiled' and scale 2.0 came from the record
    assert b["like"]["run_id"] == first.name and b["like"]["git_commit"] == a["git_commit"]
    assert (second / "measurements.csv").read_text().count("\n") == 4   # header + 3 rows


def test_cli_passes_like_and_refuses_it_with_a_profile(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_run_study(study, profile, overrides, **kw):
        seen.update(study=study, profile=profile, overrides=overrides, like=kw["like"])
        if profile is not None and kw["like"] is not None:
            raise ConfigError("give --profile or --like, not both")
        return tmp_path
    monkeypatch.setattr(runner, "run_study", fake_run_study)
    assert cli_main(["run", "tiny", "--like", "reports/tiny/r1"]) == 0
    assert seen == {"study": "tiny", "profile": None, "overrides": {}, "like": Path("reports/tiny/r1")}
    assert cli_main(["run", "tiny", "--profile", "small", "--like", "r1"]) == 2
    assert "not both" in capsys.readouterr().err


def _record(tmp_path, **fields):
    rec = {"study": "tiny", "run_id": "20260101-000000-small", "profile": "small", "git_commit": "0" * 40,
           "parameters": {"n": 2, "scale": 1.0, "label": "x", "fail": False, "sleep_s": 0.0, "fail_once": False}}
    rec.update(fields)
    path = tmp_path / "shared_run" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(rec))
    return path


@pytest.mark.parametrize("fields, message", [
    ({"study": "lr_scaling"}, r"that run is of study 'lr_scaling', not 'tiny'"),
    ({"parameters": None}, r"is not a run record \(no 'parameters' mapping\)"),
    ({"parameters": {"n": 2, "nn": 1}}, r"unknown parameter\(s\) \['nn'\] in tiny \(the parameters of run '20260101"),
])
def test_like_refuses_a_record_that_does_not_fit_before_any_work(root, tmp_path, fields, message):
    path = _record(tmp_path, **fields)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the made-up commit
        with pytest.raises(ConfigError, match=message):
            runner.run_study("tiny", root=root, like=path)
    assert not (root / "reports" / "tiny").exists() or not any((root / "reports" / "tiny").iterdir())


def test_like_refuses_other_sources_and_combinations(root, tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read a run record there"):
        runner.run_study("tiny", root=root, like=tmp_path / "nowhere")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot read a run record there"):
        runner.run_study("tiny", root=root, like=tmp_path / "bad.json")
    path = _record(tmp_path)
    with pytest.raises(ConfigError, match=r"give --profile or --like, not both"):
        runner.run_study("tiny", "small", root=root, like=path)
    with pytest.raises(ConfigError, match=r"no --like with it"):
        runner.run_study("tiny", root=root, like=path, resume="latest")


def test_like_warns_when_the_run_came_from_other_code(tmp_path):
    path = _record(tmp_path, git_commit="abc123")
    with pytest.warns(RuntimeWarning, match=r"made by commit abc123, this checkout is def456"):
        rec = runner._like_record("tiny", path.parent, {"git_commit": "def456"})
    assert rec["parameters"]["n"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the same commit: no warning
        runner._like_record("tiny", path, {"git_commit": "abc123"})
