"""The runner's bookkeeping without executing a notebook (papermill's execute_notebook replaced by a stand-in
that writes what a notebook's config cell writes): -p over the profile, the uncommitted patch kept at the start,
the record's effective configuration read from the notebook, which run "latest" resumes and which runs count as
live, the attempts' history, what a resume clears, and the CLI's bare --resume and interrupt exit code.
Not proven: anything papermill or the kernel does (test_runner.py runs the tiny notebook for real)."""
from __future__ import annotations

import json
import os
import platform
import signal

import pytest

from tests.foundation.test_runner import _config, _fake_run
from workbench import runner
from workbench.config import ConfigError
from workbench.notebooks import notebook_path, parameters
from workbench.report import RUN_DIR_ENV


def _spec(root):
    return parameters(notebook_path("tiny", root))


def test_command_line_values_override_the_profile(root):
    """Profile 'small' sets n 4 and label 'profiled'; -p n=7 wins over the profile, the profile's label stays."""
    _, record = runner._first_attempt("tiny", _spec(root), root / "reports" / "tiny", root, "small", {"n": 7}, {})
    assert record["parameters"]["n"] == 7 and record["parameters"]["label"] == "profiled"


@pytest.fixture
def fake_papermill(monkeypatch):
    """execute_notebook replaced: it writes the notebook's effective_config.json (a derived field added, as a
    study's config class may) into the run directory, and nothing else."""
    import papermill

    def execute(nb, out, parameters, **kw):
        run_dir = os.environ[RUN_DIR_ENV]
        written = {"parameters": {**parameters, "derived": 1}, "git_commit": "abc123-dirty"}
        with open(os.path.join(run_dir, "effective_config.json"), "w") as f:
            json.dump(written, f)
    monkeypatch.setattr(papermill, "execute_notebook", execute)
    env = runner.environment()
    monkeypatch.setattr(runner, "environment", lambda: {**env, "git_commit": "abc123-dirty"})
    monkeypatch.setattr(runner, "uncommitted_diff", lambda: "diff --git a/x b/x\n")


def test_a_dirty_checkout_keeps_its_patch_and_the_record_takes_the_notebooks_config(root, fake_papermill):
    run_dir = runner.run_study("tiny", "small", None, root=root)
    cfg = _config(run_dir)
    assert cfg["status"] == "ok"
    assert (run_dir / "uncommitted.patch").read_text() == "diff --git a/x b/x\n"
    assert cfg["uncommitted_patch"]["file"] == "uncommitted.patch"
    assert cfg["uncommitted_patch"]["taken"] == "at the start"
    assert cfg["effective"] == {**cfg["parameters"], "derived": 1}  # what the notebook built, not the runner's


def test_latest_resumes_the_newest_unfinished_run(root):
    study_dir = root / "reports" / "tiny"
    _fake_run(root, "older", started="2026-01-01T00:00:00")
    newer = _fake_run(root, "newer", started="2026-01-02T00:00:00")
    _fake_run(root, "finished", status="ok", started="2026-01-03T00:00:00")
    run_dir, _ = runner._resumable(study_dir, "latest", None, None, {"host": platform.node()})
    assert run_dir == newer


def test_only_a_live_process_on_this_host_makes_a_run_live(root):
    """A live pid recorded on another host says nothing about this one: that run can be resumed here. This
    process's own pid is not another live run (a record written by this very process)."""
    d = _fake_run(root, "elsewhere", status="running", host="another-host", pid=os.getppid())
    assert runner._resumable(root / "reports" / "tiny", "elsewhere", None, None, {"host": platform.node()})[0] == d
    assert not runner._alive(os.getpid()) and runner._alive(os.getppid())


def test_a_third_attempt_keeps_the_whole_history_and_sheds_the_last_attempts_fields(root):
    patch = {"file": "uncommitted.2.patch", "bytes": 3, "sha256": "0" * 64, "taken": "at the start"}
    d = _fake_run(root, "twice", attempts=[{"status": "failed", "error": "first"}], error="second",
                  uncommitted_patch=patch, git_commit_notebook="def456", effective={"n": 3}, ended="x")
    _, record = runner._next_attempt("tiny", _spec(root), d.parent, root, "twice", None, None,
                                     {"host": platform.node()})
    assert [a["error"] for a in record["attempts"]] == ["first", "second"]
    assert record["attempts"][1]["uncommitted_patch"] == patch
    assert record["attempts"][1]["effective"] == {"n": 3} and record["attempts"][1]["git_commit_notebook"] == "def456"
    for stale in ("uncommitted_patch", "git_commit_notebook", "effective", "ended", "error"):
        assert stale not in record
    assert record["status"] == "running"


def test_an_earlier_attempt_keeps_the_environment_and_data_its_units_were_measured_with(root):
    """Units of attempt 1 are read back into attempt 2's report: attempt 1's torch, versions, host and dataset
    fingerprint stay in ``attempts``, while the record's own fields are attempt 2's."""
    d = _fake_run(root, "upgraded", torch="2.4.0", versions={"numpy": "1.26"}, host=platform.node(),
                  dataset={"name": "debian", "sha256": "old"})
    env = {"host": platform.node(), "torch": "2.13.0", "versions": {"numpy": "2.3"}}
    _, record = runner._next_attempt("tiny", _spec(root), d.parent, root, "upgraded", None, None, env)
    first = record["attempts"][0]
    assert (first["torch"], first["versions"], first["dataset"]) == ("2.4.0", {"numpy": "1.26"},
                                                                     {"name": "debian", "sha256": "old"})
    assert (record["torch"], record["versions"], "dataset" in record) == ("2.13.0", {"numpy": "2.3"}, False)


def test_a_resume_clears_the_earlier_attempts_outputs_and_keeps_its_units(tmp_path):
    for name in ("measurements.csv", "fig.png", "report.html", "tiny.ipynb", "effective_config.json",
                 "config.json", "uncommitted.patch"):
        (tmp_path / name).write_text("x")
    (tmp_path / "partial" / "k").mkdir(parents=True)
    (tmp_path / "partial" / "k" / "u.pt").write_text("x")
    runner._clear_outputs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "partial", "uncommitted.patch"]
    assert (tmp_path / "partial" / "k" / "u.pt").exists()


def test_cli_bare_resume_means_latest_and_an_interrupt_exits_130(monkeypatch, tmp_path, capsys):
    from workbench.cli import main
    asked = {}

    def fake_run(study, profile, overrides, **kw):
        asked.update(kw)
        return tmp_path
    monkeypatch.setattr(runner, "run_study", fake_run)
    assert main(["run", "tiny", "--resume"]) == 0 and asked["resume"] == "latest"

    def interrupted(*a, **kw):
        exc = KeyboardInterrupt()
        exc.run_dir = tmp_path
        raise exc
    monkeypatch.setattr(runner, "run_study", interrupted)
    assert main(["run", "tiny"]) == 130
    assert "error: KeyboardInterrupt" in capsys.readouterr().err
    with pytest.raises(ConfigError):  # an unknown run to resume is a config error, not a crash
        runner._resumable(tmp_path, "nosuch", None, None, {"host": platform.node()})


def test_units_read_back_in_two_attempts_are_listed_once(tmp_path):
    """A unit read back by the second and again by the third attempt is one resumed unit, not two."""
    from workbench.resume import UnitStore, resumed_units
    d = tmp_path / "partial" / "k"
    UnitStore(d, announce=None)("total", lambda: 3)
    for _ in range(2):
        assert UnitStore(d, announce=None)("total", lambda: 0) == 3
    assert resumed_units(tmp_path) == ["total"]


def test_training_checkpoints_alone_count_as_kept_units(tmp_path):
    assert not runner.has_kept_units(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "ngame-abc.pt").write_text("x")
    assert runner.has_kept_units(tmp_path)


def test_run_all_prints_a_studys_config_error_in_one_line(monkeypatch, capsys):
    """A study refused for its parameters (no run started) reads as its message, not as a traceback."""
    from workbench import cli

    def refuse(study, *a, **kw):
        raise ConfigError(f"{study}: parameter 'n' must be int")
    monkeypatch.setattr(runner, "run_study", refuse)
    monkeypatch.setattr(cli, "_studies", lambda: ["tiny"])
    assert cli.main(["run-all"]) == 1
    err = capsys.readouterr().err
    assert "FAILED: tiny: tiny: parameter 'n' must be int" in err and "Traceback" not in err


def test_explore_refuses_an_empty_option_list():
    import pandas as pd

    from workbench.explorer import explore
    with pytest.raises(ValueError, match="no options for 'metric'"):
        explore(pd.DataFrame(), lambda df, metric: None, choices={"metric": []})


def test_a_second_signal_while_the_report_is_written_still_finishes_the_run(root, monkeypatch):
    """The notebook is interrupted (Ctrl-C), and a second SIGINT arrives while the report is exported (users
    press Ctrl-C twice; ``timeout`` may signal again): the run still ends "failed" with its record and report,
    not "running" for good. The failed status is on disk before the export starts."""
    import signal

    import papermill

    def interrupted(nb, out, **kw):
        with open(out, "w") as f:   # the partial notebook the report is exported from
            f.write("{}")
        raise KeyboardInterrupt

    seen = []

    def export(out_nb, report, record):
        seen.append(json.loads((report.parent / "config.json").read_text())["status"])
        os.kill(os.getpid(), signal.SIGINT)   # the second Ctrl-C, mid-export
        report.write_text("<html>report</html>")
    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    monkeypatch.setattr(runner, "export_html", export)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where pytest was started in the background
    with pytest.raises(KeyboardInterrupt):
        runner.run_study("tiny", "small", None, root=root)
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    assert seen == ["failed"] and _config(run_dir)["status"] == "failed"
    assert (run_dir / "report.html").read_text() == "<html>report</html>"
    assert signal.getsignal(signal.SIGINT) is before  # restored after


def test_a_stop_asked_for_while_a_good_run_is_written_down_is_honoured_after(root, fake_papermill, monkeypatch):
    """SIGTERM (a time box) arrives while a run that went well is being finished: the record and report are
    completed (status ok), then the stop is raised, so run-all goes no further."""
    import signal
    real = runner._finish

    def finish(*a):
        os.kill(os.getpid(), signal.SIGTERM)
        real(*a)
    monkeypatch.setattr(runner, "_finish", finish)
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)   # a SIGTERM outside the hold would end pytest
    try:
        with pytest.raises(KeyboardInterrupt, match="terminated by signal 15 as the run finished") as info:
            runner.run_study("tiny", "small", None, root=root)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert _config(info.value.run_dir)["status"] == "ok"


def test_the_index_says_interrupted_for_a_running_record_whose_process_is_gone(root):
    from workbench.pages import write_index
    gone = 2 ** 22 + 12345   # above Linux's default pid_max: no such process
    _fake_run(root, "killed", status="running", host=platform.node(), pid=gone)
    _fake_run(root, "live", status="running", host=platform.node(), pid=os.getpid())
    _fake_run(root, "elsewhere", status="running", host="another-host", pid=gone)
    page = write_index(root / "reports").read_text()
    assert page.count('<tr class="interrupted">') == 1 and page.count('<tr class="running">') == 2
    assert "1 failed" in page


def test_the_record_gives_the_kernels_interpreter_and_says_when_it_is_not_the_runners(root, monkeypatch):
    """A kernelspec named python3 from another environment runs the notebook in another interpreter: the record
    takes the kernel's fields (what ran the code), keeps the runner's beside them and warns."""
    import papermill

    def execute(nb, out, parameters, **kw):
        with open(os.path.join(os.environ[RUN_DIR_ENV], "effective_config.json"), "w") as f:
            json.dump({"parameters": parameters, "executable": "/other/env/bin/python", "python": "3.99.0",
                       "torch": runner.environment()["torch"]}, f)
    monkeypatch.setattr(papermill, "execute_notebook", execute)
    with pytest.warns(UserWarning, match="another interpreter"):
        cfg = _config(runner.run_study("tiny", "small", None, root=root))
    assert cfg["python"] == "3.99.0" and cfg["executable"] == "/other/env/bin/python"
    assert cfg["runner_python"] == platform.python_version() and cfg["kernel_differs"] == ["executable", "python"]
    from workbench.pages import _record_html
    assert ("kernel&#x27;s interpreter</th><td>/other/env/bin/python, not the runner&#x27;s: executable "
            "/other/env/bin/python (runner: ") in _record_html(cfg)


def test_one_interpreter_under_two_names_is_not_another_kernel(tmp_path):
    """python3 beside python, a symlink to it: the same interpreter, no warning; an earlier attempt's reading is
    dropped when this one's kernel matches."""
    import sys
    link = tmp_path / "python3"
    link.symlink_to(sys.executable)
    record = {"executable": str(link), "python": "3.11.0", "kernel_differs": ["python"], "runner_python": "3.9"}
    runner._take_kernel_environment(record, {"executable": sys.executable, "python": "3.11.0"})
    assert "kernel_differs" not in record and "runner_python" not in record


def test_the_record_gives_the_kernel_s_torch_threads_not_the_runner_s():
    """Under a CPU quota the runner gives the kernel OMP_NUM_THREADS: the runner's own count (2) is not what the
    study ran with (1); the study's own setting comes along; no interpreter difference is claimed."""
    import sys
    record = {"executable": sys.executable, "torch_threads": 2}
    runner._take_kernel_environment(record, {"executable": sys.executable, "torch_threads": 1,
                                             "study_torch_threads": 1})
    assert (record["torch_threads"], record["study_torch_threads"]) == (1, 1) and "kernel_differs" not in record


def test_a_resume_under_other_code_warns_that_the_kept_units_are_read_back(root, monkeypatch):
    """Units are keyed by configuration, so a resume reads back what the earlier code made: another commit, or
    the same commit with another uncommitted patch (by SHA-256), warns; the same commit and patch does not."""
    import hashlib
    import warnings
    patch = {"file": "uncommitted.patch", "bytes": 6, "sha256": hashlib.sha256(b"edit 1").hexdigest()}
    d = _fake_run(root, "edited", git_commit="abc123-dirty", uncommitted_patch=patch)
    monkeypatch.setattr(runner, "uncommitted_diff", lambda: "edit 1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner._next_attempt("tiny", _spec(root), d.parent, root, "edited", None, None,
                             {"host": platform.node(), "git_commit": "abc123-dirty"})
    d = _fake_run(root, "edited-again", git_commit="abc123-dirty", uncommitted_patch=patch)
    monkeypatch.setattr(runner, "uncommitted_diff", lambda: "edit 2")
    with pytest.warns(RuntimeWarning, match="abc123-dirty, other uncommitted changes"):
        runner._next_attempt("tiny", _spec(root), d.parent, root, "edited-again", None, None,
                             {"host": platform.node(), "git_commit": "abc123-dirty"})
    d = _fake_run(root, "moved-on", git_commit="abc123")
    with pytest.warns(RuntimeWarning, match="abc123 -> def456"):
        runner._next_attempt("tiny", _spec(root), d.parent, root, "moved-on", None, None,
                             {"host": platform.node(), "git_commit": "def456"})
    # nothing to compare with: no patch recorded, or one taken at the end (it reads git_commit_notebook's tree)
    for name, kept in (("no-patch", {}), ("late-patch", {"uncommitted_patch": {**patch, "taken": "at the end"}})):
        d = _fake_run(root, name, git_commit="abc123-dirty", **kept)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            runner._next_attempt("tiny", _spec(root), d.parent, root, name, None, None,
                                 {"host": platform.node(), "git_commit": "abc123-dirty"})


def test_two_stops_while_a_good_run_is_written_down_name_the_first(root, fake_papermill, monkeypatch):
    """SIGTERM then SIGHUP while the finished run is written: both held, the stop raised after names SIGTERM (15)."""
    real = runner._finish

    def finish(*a):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        real(*a)
    monkeypatch.setattr(runner, "_finish", finish)
    before = {signal.SIGTERM: signal.signal(signal.SIGTERM, signal.SIG_DFL),  # outside the hold it ends pytest
              signal.SIGHUP: signal.signal(signal.SIGHUP, lambda s, f: None)}  # (one unheld must not end it)
    try:
        with pytest.raises(KeyboardInterrupt, match="terminated by signal 15 as the run finished"):
            runner.run_study("tiny", "small", None, root=root)
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_signals_held_takes_hup_and_term_and_leaves_an_ignored_one_ignored():
    """Inside the hold SIGHUP and SIGTERM are recorded (in arrival order), not passed to their handlers; a SIGINT
    ignored before (nohup, a background job) stays ignored; afterwards the handlers are back."""
    outer = []

    def handler(signum, frame):
        outer.append(signum)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGHUP, handler)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with runner._signals_held(held := []):
            os.kill(os.getpid(), signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
        assert held == [signal.SIGHUP, signal.SIGTERM] and outer == []
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGHUP) is handler
        os.kill(os.getpid(), signal.SIGTERM)
        assert outer == [signal.SIGTERM]
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def test_finished_units_are_dropped_after_a_good_run_only(tmp_path):
    """partial/ goes when the run ends "ok" and stays after a failure (a resume reads it back)."""
    for status in ("failed", "ok"):
        d = tmp_path / status
        (d / runner.PARTIAL_DIR / "k").mkdir(parents=True)
        runner._finish(d, {"status": status}, d / "absent.ipynb")
        assert (d / runner.PARTIAL_DIR).exists() == (status == "failed")
        assert _config(d)["status"] == status


def test_a_failed_runs_recorded_error_is_cut_to_4000_characters(root, fake_papermill, monkeypatch):
    """A 5000-character failure is kept as its first 4000 characters ("RuntimeError: " and 3986 x's)."""
    import papermill

    def fail(*a, **kw):
        raise RuntimeError("x" * 5000)
    monkeypatch.setattr(papermill, "execute_notebook", fail)
    with pytest.raises(RuntimeError) as info:
        runner.run_study("tiny", "small", None, root=root)
    assert _config(info.value.run_dir)["error"] == "RuntimeError: " + "x" * 3986


def test_signals_held_leave_a_handler_set_outside_python_alone(monkeypatch):
    """getsignal() is None for a handler installed outside Python (workbench embedded in a host program):
    signal.signal(sig, None) would raise TypeError as the run's record is written, so that signal is not held."""
    real_get, calls = signal.getsignal, []
    monkeypatch.setattr(signal, "getsignal", lambda s: None if s == signal.SIGTERM else real_get(s))
    real_set = signal.signal
    monkeypatch.setattr(signal, "signal", lambda s, h: (calls.append((s, h)), real_set(s, h))[1])
    with runner._signals_held([]):
        pass
    assert calls and all(s != signal.SIGTERM for s, _ in calls) and all(h is not None for _, h in calls)


@pytest.mark.parametrize("commit, diff", [(None, "edit"), ("abc123-dirty", None), ("abc123-dirty", "")])
def test_no_code_warning_without_a_reading_of_this_code(tmp_path, monkeypatch, commit, diff):
    """Nothing to compare with, no warning: this attempt's commit unknown (None), or its patch not readable (git
    failed: None; nothing uncommitted found: "")."""
    import hashlib
    import warnings
    record = {"git_commit": "abc123-dirty", "uncommitted_patch": {"sha256": hashlib.sha256(b"edit").hexdigest()}}
    monkeypatch.setattr(runner, "uncommitted_diff", lambda: diff)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner._warn_code_changed(tmp_path, record, commit)


def test_describe_lists_the_studys_own_profiles_or_none(root):
    """The profiles are read under the given checkout (here the scratch one's small and bad, sorted); a study
    without any says none."""
    assert runner.describe("tiny", root).splitlines()[0] == "tiny:  (profiles: bad, small)"
    for p in (root / "notebooks" / "params" / "tiny").iterdir():
        p.unlink()
    assert runner.describe("tiny", root).splitlines()[0] == "tiny:  (profiles: none)"
