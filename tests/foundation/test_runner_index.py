"""What the runner records and lists: the default profile's name, UTC run ids, the index's failed runs with their
errors. On the tiny notebook of test_runner. Does not prove that the index renders well in a browser."""
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys

import pytest

from tests.foundation.test_runner import _fake_run
from workbench import pages, runner


@pytest.mark.slow
def test_no_profile_is_the_cpu_profile_and_run_ids_are_utc(root):
    run_dir = runner.run_study("tiny", None, {"n": 2}, root=root)
    record = json.loads((run_dir / "config.json").read_text())
    assert record["profile"] == "cpu" and run_dir.name.endswith("-cpu")
    started = dt.datetime.fromisoformat(record["started"])
    stamp = dt.datetime.strptime(run_dir.name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.timezone.utc)
    assert abs((started - stamp).total_seconds()) < 60  # the id's time is the UTC start, not local time


def test_index_counts_failed_runs_and_shows_why(root):
    _fake_run(root, "old", error="PapermillExecutionError: failing on purpose at In [3]\nTraceback ...",
              started="2026-01-01T00:00:00+00:00", git_commit="0123456789abcdef")
    _fake_run(root, "good", status="ok", started="2026-01-02T00:00:00+00:00")
    page = pages.write_index(root / "reports").read_text()
    assert "2 run(s), 1 failed." in page
    row = next(r for r in page.split("<tr") if ">old<" in r)
    assert 'class="failed"' in row and "failing on purpose at In [3]" in row and "0123456789" in row
    assert "Traceback" not in row.split("title=")[0]  # the first line shows; the rest only on hover
    # a record from before DEFAULT_PROFILE existed (profile None) is listed as the cpu profile
    assert ">cpu<" in row


@pytest.mark.slow
def test_a_run_of_another_profile_resumes_by_id_without_naming_it(root):
    d = _fake_run(root, "20260101-000000-gpu", profile="gpu")
    assert runner.run_study("tiny", resume=d.name, root=root) == d
    assert json.loads((d / "config.json").read_text())["status"] == "ok"
    with pytest.raises(runner.ConfigError, match="has profile 'cpu', not 'gpu'"):  # an old None record is cpu
        runner.run_study("tiny", "gpu", resume=_fake_run(root, "old").name, root=root)


def test_a_dirty_tree_keeps_its_patch_and_the_index_keeps_the_mark(root, monkeypatch, tmp_path):
    """A run from a tree with uncommitted changes saves them (``git diff HEAD``) beside its record, with their
    hash; a clean tree saves nothing; the index's short commit keeps the ``-dirty`` mark. Does not prove that the
    patch applies (that is git's part)."""
    monkeypatch.setattr(runner, "uncommitted_diff", lambda: "diff --git a/x b/x\n+changed\n")
    record = {"git_commit": "0123456789abcdef0123456789abcdef01234567-dirty"}
    runner._save_uncommitted(tmp_path, record)
    assert (tmp_path / "uncommitted.patch").read_text() == "diff --git a/x b/x\n+changed\n"
    patch = record["uncommitted_patch"]
    assert patch["file"] == "uncommitted.patch" and patch["bytes"] == 28 and patch["taken"] == "at the start"
    assert patch["sha256"] == hashlib.sha256(b"diff --git a/x b/x\n+changed\n").hexdigest()
    assert "uncommitted.patch (sha256 " in pages._commit_line(record)
    again = {"git_commit": record["git_commit"], "attempts": [{}]}  # a resumed run's second attempt
    runner._save_uncommitted(tmp_path, again)
    assert again["uncommitted_patch"]["file"] == "uncommitted.2.patch"
    assert (tmp_path / "uncommitted.2.patch").exists()
    clean = {"git_commit": "0123456789abcdef0123456789abcdef01234567"}
    runner._save_uncommitted(tmp_path / "clean", clean)
    assert "uncommitted_patch" not in clean and not (tmp_path / "clean").exists()
    _fake_run(root, "dirty", git_commit=record["git_commit"])
    row = next(r for r in pages.write_index(root / "reports").read_text().split("<tr") if ">dirty<" in r)
    assert ">0123456789-dirty<" in row and record["git_commit"] in row  # short in the cell, full on hover


def test_a_tree_dirtied_after_the_runners_record_gets_its_patch_at_the_end(monkeypatch, tmp_path):
    """The runner read a clean commit, the kernel a dirty one (a file changed in between): the diff is taken when
    the run ends and marked so. Does not prove it is the diff the kernel ran (a later edit would be in it too)."""
    monkeypatch.setattr(runner, "uncommitted_diff", lambda: "diff --git a/y b/y\n")
    record = {"git_commit": "0123456789abcdef0123456789abcdef01234567",
              "git_commit_notebook": "0123456789abcdef0123456789abcdef01234567-dirty"}
    runner._save_uncommitted(tmp_path, record)  # the runner's own reading is clean: nothing
    assert "uncommitted_patch" not in record
    runner._save_uncommitted(tmp_path, record, "git_commit_notebook")
    assert record["uncommitted_patch"]["taken"] == "at the end" and (tmp_path / "uncommitted.patch").exists()
    assert "taken at the end" in pages._commit_line(record)


@pytest.mark.parametrize("content", ['["not", "a", "record"]', "null", '"x"', '{"study": "ti'])
def test_a_config_json_that_is_not_a_run_record_is_listed_not_fatal(root, content):
    """Valid JSON that is not an object (a stray or hand-edited file) broke the index, every later run (after
    writing its directory) and --resume with a TypeError; it is listed as an unreadable config now, and resuming
    it names the run."""
    stray = root / "reports" / "tiny" / "stray"
    stray.mkdir(parents=True)
    (stray / "config.json").write_text(content)
    _fake_run(root, "good", status="ok", started="2026-01-02T00:00:00+00:00")
    page = pages.write_index(root / "reports").read_text()
    assert "2 run(s)" in page and "unreadable config" in page
    for resume in ("latest", "stray"):
        with pytest.raises(runner.ConfigError, match=r"run .*stray cannot be resumed: its config.json is not a "
                                                     "readable run record"):
            runner.run_study("tiny", resume=resume, root=root)


def test_index_by_hand(tmp_path):
    """Hand-written run records: newest first, scratch (``_*``) folders left out, a running run not counted as
    failed, a link only to a report that exists, and a failed run's error cut to 100 characters with "..."."""
    from workbench.io import write_json
    from workbench.pages import first_line, list_runs, write_index
    reports = tmp_path / "reports"
    for study, run, started, status in [("a", "old", "2026-01-01T00:00:00", "ok"),
                                        ("a", "new", "2026-01-02T00:00:00", "running"),
                                        ("_scratch", "x", "2026-01-03T00:00:00", "failed"),
                                        ("b", "bad", "2026-01-01T12:00:00", "failed")]:
        (reports / study / run).mkdir(parents=True)
        write_json(reports / study / run / "config.json", {"study": study, "run_id": run, "started": started,
                                                           "status": status, "error": "E" * 300})
    (reports / "a" / "old" / "report.html").write_text("<html></html>")
    assert [r["run_id"] for r in list_runs(reports)] == ["new", "bad", "old"]
    page = write_index(reports).read_text()
    assert "3 run(s), 1 failed" in page and "scratch" not in page
    assert 'href="a/old/report.html"' in page and 'href="a/new/report.html"' not in page
    assert first_line("x" * 20, 10) == "x" * 7 + "..." and len(first_line("x" * 20, 10)) == 10


def test_a_running_record_whose_process_is_gone_reads_interrupted():
    """A run recorded as running on this host whose process is gone (a reaped child's pid) reads "interrupted"; a
    live pid, or a pid on another host (which this host cannot check), stays "running"."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    here = platform.node()
    assert pages._status({"status": "running", "host": here, "pid": p.pid}) == "interrupted"
    assert pages._status({"status": "running", "host": here, "pid": os.getpid()}) == "running"
    assert pages._status({"status": "running", "host": here + "-elsewhere", "pid": p.pid}) == "running"


def test_the_reports_configuration_table_escapes_parameter_values():
    """A parameter value holding markup is shown as text in the report's record, not injected into the page."""
    out = pages._record_html({"study": "s", "parameters": {"data_path": "<img src=x onerror=alert(1)>"}})
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out


def test_index_cuts_a_failed_runs_error_to_100_characters(tmp_path):
    """The index shows a failed run's error cut to 97 characters and "..." (100 in all); the full error on hover."""
    from workbench.io import write_json
    from workbench.pages import write_index
    (tmp_path / "a" / "r").mkdir(parents=True)
    write_json(tmp_path / "a" / "r" / "config.json", {"study": "a", "run_id": "r", "status": "failed",
                                                      "error": "E" * 150})
    page = write_index(tmp_path).read_text()
    assert f'title="{"E" * 150}">{"E" * 97}...</small>' in page


def test_first_line_skips_blank_lines_and_keeps_a_line_of_exactly_the_width():
    """A whitespace-only first line is blank; a line of exactly ``width`` characters is kept whole."""
    from workbench.pages import first_line
    assert first_line("   \n  second  \n", 10) == "second"
    assert first_line("abcde", 5) == "abcde" and first_line("abcdef", 5) == "ab..."
