"""The study runner end to end on a tiny real notebook (tests/notebooks/tiny.ipynb) in a scratch checkout."""
import json
import os
import re
from pathlib import Path

import pytest

from workbench import runner
from workbench.cli import main as cli_main
from workbench.config import ConfigError

def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())


@pytest.mark.slow
def test_run_writes_report_config_tables_and_index(root):
    run_dir = runner.run_study("tiny", "small", {"scale": 2}, root=root)
    cfg = _config(run_dir)
    assert cfg["status"] == "ok" and cfg["profile"] == "small"
    assert cfg["parameters"] == {"n": 4, "scale": 2.0, "label": "profiled", "fail": False, "sleep_s": 0.0,
                                "fail_once": False}  # full, not overrides
    assert cfg["effective"] == cfg["parameters"]
    for key in ("git_commit", "python", "torch", "device", "cpu", "versions", "started", "ended"):
        assert key in cfg
    assert (run_dir / "measurements.csv").read_text().count("\n") == 5  # header + n rows
    html = (run_dir / "report.html").read_text()
    # the figure is embedded (an <img>: the page's CSS also holds the string), also under the MPLBACKEND=Agg that
    # tests/conftest.py and the scripts export: the runner gives the kernel the inline backend
    assert os.environ.get("MPLBACKEND") == "Agg"
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64', html)) == 1
    assert "build_config" not in html  # no code in the report
    assert "workbench-run" in html and cfg["git_commit"] in html and "profiled" in html  # the run's record
    index = (root / "reports" / "index.html").read_text()
    link = f"tiny/{run_dir.name}/report.html"
    assert f'href="{link}"' in index and (root / "reports" / link).exists()


@pytest.mark.slow
def test_failed_run_is_marked_and_index_stays_valid(root):
    with pytest.raises(Exception, match="failing on purpose"):
        runner.run_study("tiny", None, {"fail": True}, root=root)
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    cfg = _config(run_dir)
    assert cfg["status"] == "failed" and "failing on purpose" in cfg["error"]
    assert (run_dir / "tiny.ipynb").exists()  # the partial notebook papermill saved
    index = (root / "reports" / "index.html").read_text()
    assert re.search(r'<tr class="failed">.*tiny', index)
    # the index's short reason is the cell's exception, not papermill's row of dashes
    row = next(r for r in index.split("<tr") if 'class="failed"' in r)
    assert re.search(r"<small[^>]*>AssertionError: failing on purpose \(cell In \[\d+\]\)</small>", row), row


@pytest.mark.parametrize("profile,overrides,message", [
    (None, {"nn": 3},
     r"unknown parameter\(s\) \['nn'\].*valid names: \['fail', 'fail_once', 'label', 'n', 'scale', 'sleep_s'\]"),
    (None, {"n": "three"}, r"parameter 'n' must be int"),
    ("bad", {}, r"unknown parameter\(s\) \['nn'\]"),
    ("nope", {}, r"no profile 'nope'.*known profiles: \['bad', 'small'\]"),
    ("/tmp/small", {}, r"profile '/tmp/small' is not a name.*known profiles: \['bad', 'small'\]"),  # run id: a name
])
def test_bad_parameters_fail_before_any_work(root, profile, overrides, message):
    with pytest.raises(ConfigError, match=message):
        runner.run_study("tiny", profile, overrides, root=root)
    assert not (root / "reports").exists()


def test_cli_reports_bad_parameters_and_lists(root, monkeypatch, capsys):
    monkeypatch.chdir(root)
    (root / "pyproject.toml").write_text("")
    (root / "workbench").mkdir()
    assert cli_main(["run", "tiny", "-p", "n=oops"]) == 2
    assert "parameter 'n' must be int" in capsys.readouterr().err
    assert cli_main(["run", "nosuch"]) == 2
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"n\s+int\s+= 10\s+how many integers to sum", out)


@pytest.mark.slow  # 21-24 s each on the shared 2-core machine: a kernel start, papermill, the HTML export
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_a_signal_leaves_a_failed_run_with_its_partial_report(root, how):
    """`timeout` sends SIGTERM; Ctrl-C sends SIGINT to the terminal's process group. Either way the run is
    marked failed, with the cells done so far in report.html, and stderr holds no traceback (a graceful kernel
    shutdown after Ctrl-C printed the kernel's ZMQError under the one-line error).

    The signal is sent once the kernel has run the config cell (effective_config.json, written after the CLI
    installed its handler) and papermill has saved the partial notebook the report is exported from; the
    next cell sleeps 120 s, so the run is inside it. A run that dies or stalls before that fails with its
    stderr, not with a confusing unpacking error further down."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    (root / "pyproject.toml").write_text("")
    (root / "workbench").mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    log = root / "stderr.txt"
    with open(log, "w") as err:
        # its own process group, with SIGINT's default action (a shell's background job would ignore it)
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "run", "tiny", "-p", "sleep_s=120"], cwd=root,
                                env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        def started():
            runs = list((root / "reports").glob("tiny/*"))
            return runs and (runs[0] / "effective_config.json").exists() and (runs[0] / "tiny.ipynb").exists()

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not started():
            time.sleep(0.2)
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before the signal: {log.read_text()[-2000:]}"
        assert started(), f"no effective_config.json / partial notebook after 120 s: {log.read_text()[-2000:]}"
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    record = json.loads((run_dir / "config.json").read_text())
    assert record["status"] == "failed" and ("signal" if how == "sigterm" else "KeyboardInterrupt") in record["error"]
    assert (run_dir / "report.html").exists()
    assert "Traceback" not in log.read_text() and "error: " in log.read_text(), log.read_text()[-3000:]
    assert record.get("effective", {}).get("sleep_s") == 120.0  # the config cell ran and its record was kept


@pytest.mark.slow
def test_resume_reads_back_finished_units_and_writes_tables_anew(root):
    with pytest.raises(Exception, match="failing once") as err:
        runner.run_study("tiny", "small", {"fail_once": True}, root=root)
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    assert f"--resume {run_dir.name}" in "".join(getattr(err.value, "__notes__", []))
    assert _config(run_dir)["status"] == "failed" and list(run_dir.glob("partial/*/*.pt"))  # the unit is kept
    assert (run_dir / "measurements.csv").read_text().count("\n") == 5

    assert runner.run_study("tiny", "small", resume="latest", root=root) == run_dir
    cfg = _config(run_dir)
    assert cfg["status"] == "ok" and cfg["parameters"]["fail_once"] is True  # the recorded parameters
    assert (run_dir / "computed.txt").read_text() == "total\n"  # computed once, read back in the second attempt
    assert cfg["resumed_units"] == ["total"] and len(cfg["attempts"]) == 1
    assert cfg["attempts"][0]["status"] == "failed" and "failing once" in cfg["attempts"][0]["error"]
    assert "error" not in cfg   # the first attempt's error is in its history, not on the run that ended well
    assert (run_dir / "measurements.csv").read_text().count("\n") == 5  # written anew, not appended to
    assert not (run_dir / "partial").exists()  # units go once the run has ended well
    html = (run_dir / "report.html").read_text()
    assert "attempt 2" in html and "units read back from earlier attempts" in html
    assert len(list((root / "reports" / "tiny").iterdir())) == 1


@pytest.mark.slow
def test_resume_refuses_finished_runs_new_parameters_and_unknown_runs(root):
    run_dir = runner.run_study("tiny", None, {"n": 3}, root=root)
    with pytest.raises(ConfigError, match="ended ok: nothing to resume"):
        runner.run_study("tiny", resume=run_dir.name, root=root)
    with pytest.raises(ConfigError, match="no unfinished tiny run of profile 'cpu'"):
        runner.run_study("tiny", resume="latest", root=root)
    with pytest.raises(ConfigError, match="recorded parameters; drop -p"):
        runner.run_study("tiny", None, {"n": 5}, resume="latest", root=root)
    with pytest.raises(ConfigError, match="no run 'nosuch' to resume"):
        runner.run_study("tiny", resume="nosuch", root=root)
    with pytest.raises(Exception, match="failing once"):
        runner.run_study("tiny", None, {"fail_once": True}, root=root)
    (failed,) = [d.name for d in (root / "reports" / "tiny").iterdir() if _config(d)["status"] == "failed"]
    with pytest.raises(ConfigError, match="has profile 'cpu', not 'small'"):
        runner.run_study("tiny", "small", resume=failed, root=root)
    with pytest.raises(ConfigError, match="no unfinished tiny run of profile 'small'"):
        runner.run_study("tiny", "small", resume="latest", root=root)


def _fake_run(root, run_id, **record):
    """A run directory left by an earlier attempt, as its config.json says."""
    from workbench.provenance import environment
    d = root / "reports" / "tiny" / run_id
    d.mkdir(parents=True)
    full = {"study": "tiny", "run_id": run_id, "profile": None, "status": "failed", "device": environment()["device"],
            "parameters": {"n": 3}, **record}
    (d / "config.json").write_text(json.dumps(full))
    return d


def test_resume_refuses_a_live_run_and_another_device(root):
    import os
    import platform
    _fake_run(root, "live", status="running", host=platform.node(), pid=os.getppid())
    with pytest.raises(ConfigError, match="is still running"):
        runner.run_study("tiny", resume="live", root=root)
    _fake_run(root, "h100", device="NVIDIA H100 80GB HBM3")
    with pytest.raises(ConfigError, match="was measured on 'NVIDIA H100 80GB HBM3'"):
        runner.run_study("tiny", resume="h100", root=root)


@pytest.mark.slow
def test_resume_takes_over_a_run_left_running_by_a_killed_process(root):
    """SIGKILL leaves status 'running' with a pid that no longer exists: that run can be resumed."""
    import platform
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    d = _fake_run(root, "killed", status="running", host=platform.node(), pid=dead.pid)
    assert runner.run_study("tiny", resume="latest", root=root) == d
    cfg = _config(d)
    assert cfg["status"] == "ok" and cfg["attempts"][0]["status"] == "running"


def test_units_of_another_configuration_are_reported(tmp_path):
    from workbench.resume import config_key
    (tmp_path / "partial" / "0123456789ab").mkdir(parents=True)
    with pytest.warns(RuntimeWarning, match="another configuration"):
        runner._warn_stale_units(tmp_path, {"n": 3})
    (tmp_path / "partial" / config_key({"n": 3})).mkdir()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner._warn_stale_units(tmp_path, {"n": 3})


def test_run_ids_of_one_second_count_up(tmp_path, monkeypatch):
    """Runs started within one second get -2, -3, ...: with X and X-2 taken, the next is X-3."""
    import datetime as dt

    class Fixed(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(runner._dt, "datetime", Fixed)
    (tmp_path / "20260102-030405-cpu").mkdir()
    (tmp_path / "20260102-030405-cpu-2").mkdir()
    assert runner.new_run_id(tmp_path, "cpu") == "20260102-030405-cpu-3"
