"""The foundation's small contracts by hand: fixed-length tuples, the device check in from_dict, positive(),
typed_value's bools, -p parsing and profile files, atomic writes on an interrupt, JSON records with paths, and
timing's argument checks and call counts. Each case is one a one-line slip in the code once passed."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from workbench.config import ConfigError, check_value, from_dict, positive, typed_value
from workbench.io import read_json, write_json, write_text
from workbench.notebooks import load_profile, parse_assignment
from workbench.timing import median_seconds, time_interleaved


def test_fixed_length_tuples_check_length_and_each_position():
    assert check_value("xy", [1, 2.5], "tuple[float, float]") == (1.0, 2.5)  # widened, and a tuple
    for bad in ([1.0, 2.0, 3.0], [1.0]):
        with pytest.raises(ConfigError, match="'xy' must be"):
            check_value("xy", bad, "tuple[float, float]")
    with pytest.raises(ConfigError):
        check_value("pair", [1, 2], "tuple[int, str]")  # the second position is not a str
    assert check_value("pair", [1, "a"], "tuple[int, str]") == (1, "a")


def test_from_dict_checks_the_device_spec():
    @dataclasses.dataclass
    class Cfg:
        device: str = "auto"
    assert from_dict(Cfg, {"device": "cpu"}).device == "cpu"
    with pytest.raises(ConfigError, match="gpu0"):
        from_dict(Cfg, {"device": "gpu0"})


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan"), [], [1.0, 0.0]])
def test_positive_refuses_zero_infinite_nan_and_empty(value):
    @dataclasses.dataclass
    class Cfg:
        lr: object
    with pytest.raises(ConfigError, match="lr must be"):
        positive(Cfg(value), "lr")
    positive(Cfg(1e-3), "lr")
    positive(Cfg([1e-3, 2.0]), "lr")


def test_typed_value_reads_bools_in_any_case():
    assert typed_value(bool, "True", "x") is True and typed_value(bool, "FALSE", "x") is False
    with pytest.raises(ValueError, match="x takes a bool, got 'yes'"):
        typed_value(bool, "yes", "x")


def test_assignments_keep_everything_after_the_first_equals_and_an_empty_value_is_empty_text():
    assert parse_assignment("label=a=b") == ("label", "a=b")
    assert parse_assignment("label=") == ("label", "")
    assert parse_assignment("n= 3") == ("n", 3)


def test_profiles_empty_is_no_values_and_a_list_is_refused(tmp_path):
    d = tmp_path / "notebooks" / "params" / "tiny"
    d.mkdir(parents=True)
    (d / "empty.yaml").write_text("# nothing set here\n")
    (d / "listed.yaml").write_text("- n\n- 3\n")
    assert load_profile("tiny", "empty", tmp_path) == {}
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_profile("tiny", "listed", tmp_path)


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from workbench.io import atomic_write
    path = write_text(tmp_path / "r.json", "old\n")

    def interrupted(p: Path) -> None:
        p.write_text("half")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_json_records_may_hold_paths(tmp_path):
    write_json(tmp_path / "c.json", {"data": Path("/data/x.csv")})
    assert read_json(tmp_path / "c.json") == {"data": "/data/x.csv"}


def test_timing_refuses_bad_counts_and_calls_each_run_exactly_warmup_plus_repeats_times():
    for kw in ({"repeats": 0}, {"warmup": -1}, {"warmup_seconds": -1.0}):
        with pytest.raises(ValueError, match="need repeats >= 1"):
            median_seconds(lambda: None, **kw)
    calls = [0, 0]

    def run(i):
        def fn():
            calls[i] += 1
        return fn
    out = time_interleaved([run(0), run(1)], "cpu", repeats=3, warmup=2)
    assert calls == [5, 5] and len(out) == 2 and all(t >= 0 for t in out)


def test_record_block_shows_the_effective_config_and_the_kernels_commit():
    """The report's record: the notebook's effective configuration where there is one (not the runner's
    parameters), and the commit the kernel read when it differs from the runner's."""
    from workbench import pages
    rec = {"parameters": {"n": 3}, "effective": {"n": 3, "derived": 7}, "git_commit": "abc",
           "git_commit_notebook": "def"}
    html = pages._record_html(rec)
    assert "full effective configuration (2 parameters)" in html and "derived" in html
    assert pages._commit_line(rec) == "abc; the notebook's kernel read def"


def test_the_record_block_goes_inside_the_body(tmp_path):
    import nbformat

    from workbench import pages
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("hello")])
    nbformat.write(nb, str(tmp_path / "r.ipynb"))
    html = pages.export_html(tmp_path / "r.ipynb", tmp_path / "r.html", {"git_commit": "abc", "study": "lr_scaling",
                                                                           "run_id": "20260101-000000-cpu"}).read_text()
    assert html.index("<body") < html.index("workbench-run") < html.index("hello")
    assert "<title>lr_scaling 20260101-000000-cpu</title>" in html  # not nbconvert's "Notebook"
    assert "files: " in html and "all runs" not in html  # r.ipynb linked; not in the runner's layout: no index link


def test_a_report_links_its_files_and_the_index_in_the_runners_layout(tmp_path):
    """reports/<study>/<run_id>/report.html links back to reports/index.html and to the run's tables, figures and
    record (names quoted in the href), not to other files."""
    import nbformat

    from workbench import pages
    run = tmp_path / "lr_scaling" / "20260101-000000-cpu"
    run.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(run / "lr_scaling.ipynb"))
    for name in ("config.json", "a b.csv", "fig.png", "notes.txt"):
        (run / name).write_text("x")
    html = pages.export_html(run / "lr_scaling.ipynb", run / "report.html",
                             {"study": "lr_scaling", "run_id": "20260101-000000-cpu"}).read_text()
    line = html[html.index('class="workbench-files"'):].split("</p>")[0]
    assert line.count("<a ") == 5 and '<a href="../../index.html">all runs</a>' in line
    assert '<a href="a%20b.csv">a b.csv</a>' in line and "notes.txt" not in line
    assert line.index("a b.csv") < line.index("config.json") < line.index("fig.png") < line.index("lr_scaling.ipynb")


def test_a_run_keeps_its_units_by_config_and_scratch_runs_by_study(tmp_path, monkeypatch):
    """Kept units sit under partial/<config key>, so another configuration never reads them back; scratch runs
    of two studies (WORKBENCH_SCRATCH) get a folder each; an explicit run_dir keeps the tables already in it."""
    from workbench import report
    from workbench.resume import config_key
    monkeypatch.setenv(report.RUN_DIR_ENV, str(tmp_path / "run"))
    run = report.start_run("tiny", {"n": 3, "device": "cpu"})
    assert run.memo.dir == tmp_path / "run" / report.PARTIAL_DIR / config_key({"n": 3, "device": "cpu"})
    monkeypatch.delenv(report.RUN_DIR_ENV)
    monkeypatch.setenv(report.SCRATCH_ENV, str(tmp_path / "scratch"))
    assert report._default_dir("a") != report._default_dir("b")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "kept.csv").write_text("x\n")
    report.start_run("tiny", {"n": 3}, run_dir=mine)
    assert (mine / "kept.csv").exists()


def test_a_figure_titled_by_suptitle_only_is_titled(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench import report
    run = report.start_run("tiny", {"n": 1}, run_dir=tmp_path)
    fig, ax = plt.subplots()
    fig.suptitle("loss against step")
    assert run.save_figure(fig, "f").exists()
    plt.close(fig)


def test_the_same_data_in_two_places_has_one_fingerprint(tmp_path):
    from workbench.provenance import describe_path
    for where in ("a", "b"):
        (tmp_path / where / "sub").mkdir(parents=True)
        (tmp_path / where / "sub" / "x.txt").write_text("12345")
    a, b = describe_path(tmp_path / "a"), describe_path(tmp_path / "b")
    assert a["sha256"] == b["sha256"] and (a["files"], a["bytes"]) == (1, 5)


def test_the_uncommitted_patch_holds_staged_changes_too(tmp_path):
    """git diff HEAD: a change already `git add`-ed is uncommitted as well, and must be in the patch that
    rebuilds the code that ran."""
    import subprocess
    from workbench.provenance import git_commit, uncommitted_diff
    (tmp_path / "workbench").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "workbench" / "a.py").write_text("x = 1\n")

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    (tmp_path / "workbench" / "a.py").write_text("x = 2\n")
    git("add", "workbench/a.py")
    assert git_commit(tmp_path).endswith("-dirty")
    assert "+x = 2" in uncommitted_diff(tmp_path)
    (tmp_path / "workbench" / "blob.bin").write_bytes(bytes(range(256)))  # a binary file, staged
    git("add", "workbench/blob.bin")
    assert "GIT binary patch" in uncommitted_diff(tmp_path)  # re-appliable, not "Binary files differ"


def test_floats_in_exponent_text_only_where_a_float_is_asked_and_only_whole():
    """'1e-3' is read as a float for a float parameter; for a str | float one it stays the text it is; '1e-3x'
    is refused as a config error (not a bare ValueError)."""
    assert check_value("lr", "1e-3", "float") == 1e-3
    assert check_value("tag", "1e3", "str | float") == "1e3"
    with pytest.raises(ConfigError, match="'lr' must be"):
        check_value("lr", "1e-3x", "float")


def test_text_types_are_those_holding_text_only():
    from workbench.config import is_text_type
    assert is_text_type("str") and is_text_type("list[str]") and is_text_type("tuple[str, ...]")
    assert not is_text_type("list[int]") and not is_text_type("tuple[int, ...]") and not is_text_type(None)


def test_a_notebook_without_a_parameters_cell_is_refused(tmp_path):
    import nbformat

    from workbench.notebooks import parameters
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("n = 1")]), str(tmp_path / "x.ipynb"))
    with pytest.raises(ConfigError, match="no cell tagged 'parameters'"):
        parameters(tmp_path / "x.ipynb")


def test_the_index_marks_a_stated_commit_and_a_missing_data_path_is_absolute(tmp_path, monkeypatch):
    from workbench import pages
    from workbench.provenance import DATA_FIELDS, dataset_record
    assert "(stated)" in pages._commit_cell("abc (stated by WORKBENCH_GIT_COMMIT: no checkout here)")
    assert "(stated)" not in pages._commit_cell("abc")
    # no checkout and nothing stated: the hint names the variable, but nothing was stated
    assert ">unknown<" in pages._commit_cell("unknown (no git checkout here; set WORKBENCH_GIT_COMMIT to state it)")
    monkeypatch.chdir(tmp_path)
    field = next(f for f in DATA_FIELDS if f not in ("dataset", "graphs"))
    rec = dataset_record({field: "nope/x.csv"})[field]
    assert rec["missing"] and rec["path"] == str(tmp_path / "nope" / "x.csv")


def test_another_projects_checkout_is_not_workbenchs(tmp_path, monkeypatch):
    """A git repository whose top has a pyproject.toml but no workbench/ (another project, a home directory in
    git) gives neither its commit as workbench's nor its folder as the repo root."""
    import subprocess

    from workbench.provenance import git_commit
    from workbench.report import repo_root
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "sub").mkdir()
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
                   cwd=tmp_path, check=True)
    monkeypatch.delenv("WORKBENCH_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path / "sub").startswith("unknown (no git checkout here")
    assert repo_root(tmp_path / "sub") != tmp_path


def test_a_timed_call_waits_for_the_device_before_the_clock_stops(monkeypatch):
    """A stand-in device: each call queues 1 s of work, a sync waits for what is queued (a faked clock). The
    timed call counts its own 1 s (the clock stops after the sync that follows it) and not the warm-up call's
    (the sync before the clock starts pays for that)."""
    import types

    from workbench import timing
    now, queued = [0.0], [0.0]
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def sync(device):
        now[0] += queued[0]
        queued[0] = 0.0
    monkeypatch.setattr(timing, "sync", sync)
    assert median_seconds(lambda: queued.__setitem__(0, queued[0] + 1.0), "cpu", repeats=1, warmup=1) == 1.0


def test_registry_lists_names_sorted():
    from workbench.registry import Registry
    r = Registry("thing")
    for name in ("b", "c", "a"):
        r.register(name)(object())
    assert r.names() == ["a", "b", "c"] and "a" in r and "z" not in r


def test_cpu_model_reads_the_model_name_line(monkeypatch):
    """x86's /proc/cpuinfo lists 'model : 85' before 'model name : ...': the name is the record's CPU."""
    import types

    from workbench import provenance
    info = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold\n"
    monkeypatch.setattr(provenance, "Path", lambda p: types.SimpleNamespace(read_text=lambda: info))
    assert provenance.cpu_model() == "Intel(R) Xeon(R) Gold"


def test_files_under_64_mib_are_fingerprinted_by_content(tmp_path):
    """A 1 MiB data file (most of the shipped ones are smaller) is hashed by its bytes, so an edit of the same size
    changes its fingerprint; only files from 64 MiB on fall back to size and mtime."""
    from workbench.provenance import describe_path
    p = tmp_path / "d.bin"
    p.write_bytes(bytes(1 << 20))
    first = describe_path(p)
    p.write_bytes(b"\x01" + bytes((1 << 20) - 1))
    assert first["sha256_of"] == "content" and describe_path(p)["sha256"] != first["sha256"]


def test_a_stream_left_blank_by_its_carriage_returns_is_dropped():
    """A progress bar cleared by spaces after its last carriage return ("50%\\r   ") leaves a blank stream: dropped;
    "a\\rb\\n" keeps the line's last state "b\\n"."""
    import nbformat

    from workbench.pages import settle_streams
    cell = nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("stream", name="stderr", text="50%\r   "),
                                                  nbformat.v4.new_output("stream", name="stdout", text="a\rb\n")])
    nb = settle_streams(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stdout", "b\n")]


def test_record_block_defaults_for_an_old_or_cpu_record():
    """A record without a profile shows the default profile "cpu"; no CUDA version reads "none"; a resumed run says
    it is attempt 2 (one earlier attempt) and lists that attempt's start, status and commit."""
    from workbench import pages
    html = pages._record_html({"study": "s", "run_id": "r", "python": "3.12", "torch": "2.5", "cuda": None,
                               "attempts": [{"started": "t1", "status": "failed", "git_commit": "abc"}]})
    assert "<tr><th>profile</th><td>cpu</td></tr>" in html
    assert "<td>3.12 / 2.5 / none</td>" in html
    assert "<td>attempt 2; earlier: t1 failed (commit abc)</td>" in html


def test_commit_line_names_the_patch_by_12_hex_digits_and_when_it_was_taken():
    """A patch taken at the start is named with its sha256's first 12 characters and no "taken at the end"."""
    from workbench import pages
    rec = {"git_commit": "abc-dirty", "uncommitted_patch": {"file": "uncommitted.patch", "sha256": "0123456789abcdef",
                                                            "taken": "at the start"}}
    assert pages._commit_line(rec) == "abc-dirty; its uncommitted changes: uncommitted.patch (sha256 0123456789ab)"


def test_dataset_line_by_hand():
    """A described directory: 1,340,000 bytes read "1.3 MB", a truncated walk says so; a graph whose directory could
    not be described (path but no sha256) lists its record's fields; no data at all is None, not ""."""
    from workbench.pages import _dataset_line
    d = {"value": "d", "path": "/x/d", "files": 3, "bytes": 1_340_000, "sha256": "ab" * 32, "truncated": "stopped"}
    assert _dataset_line({"data_dir": d}) == "data_dir=d: /x/d, 3 file(s), 1.3 MB, sha256 abababababab (truncated walk)"
    g = {"value": ["cora"], "cora": {"embedded": True, "path": "/p/cora", "error": "OSError: gone"}}
    assert _dataset_line({"graphs": g}) == "graphs=['cora']; cora: embedded True, path /p/cora, error OSError: gone"
    assert _dataset_line(None) is None and _dataset_line({}) is None


def test_log_y_only_for_positive_values_spanning_more_than_the_factor():
    """[1, 20] spans exactly the factor 20: linear; [1, 21]: log; [0, 100] holds a zero a log axis cannot show."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.report import log_y_if_wide
    scales = []
    for values in ([1, 20], [1, 21], [0, 100]):
        fig, ax = plt.subplots()
        log_y_if_wide(ax, values)
        scales.append(ax.get_yscale())
        plt.close(fig)
    assert scales == ["linear", "log", "linear"]


def test_a_scratch_rerun_removes_the_old_figures_and_records_its_start(tmp_path, monkeypatch):
    """Rerunning in scratch removes the earlier run's PNGs as well as its tables; effective_config.json records
    a start time, and the device of a config without one is resolved as "auto"."""
    from workbench import report
    monkeypatch.delenv(report.RUN_DIR_ENV, raising=False)
    monkeypatch.setenv(report.SCRATCH_ENV, str(tmp_path))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "old.png").write_bytes(b"png")
    seen = []
    real = report.environment
    monkeypatch.setattr(report, "environment", lambda device: seen.append(device) or real("cpu"))
    run = report.start_run("demo", {"a": 1})
    assert not (tmp_path / "demo" / "old.png").exists() and seen == ["auto"]
    started = json.loads((run.dir / "effective_config.json").read_text())["started"]
    assert isinstance(started, str) and started.endswith("+00:00")


def test_checkpoints_are_kept_under_the_runner_only(tmp_path, monkeypatch):
    """In JupyterLab (no run directory from the runner) a training takes no checkpoint dir and the scratch folder's
    old checkpoints go: the next Run All read them back silently. Under the runner: <run>/checkpoints."""
    from workbench import report
    monkeypatch.delenv(report.RUN_DIR_ENV, raising=False)
    monkeypatch.setenv(report.SCRATCH_ENV, str(tmp_path))
    (tmp_path / "demo" / "checkpoints").mkdir(parents=True)
    (tmp_path / "demo" / "checkpoints" / "full-abc.pt").write_bytes(b"old")
    assert report.start_run("demo", {"device": "cpu"}).checkpoint_dir is None
    assert not (tmp_path / "demo" / "checkpoints").exists()
    monkeypatch.setenv(report.RUN_DIR_ENV, str(tmp_path / "run"))
    assert report.start_run("demo", {"device": "cpu"}).checkpoint_dir == tmp_path / "run" / "checkpoints"


def test_parse_assignment_signs_separators_blanks_and_comments():
    """A negative integer is the number; "1_000.5" (YAML 1.1's digit separator) stays text; a blank value is "";
    a text parameter's value loses its surrounding spaces; a value that is all comment is refused."""
    from workbench.config import ConfigError
    from workbench.notebooks import parse_assignment
    assert parse_assignment("seed=-3") == ("seed", -3) and parse_assignment("seed=+4") == ("seed", 4)
    assert parse_assignment("lr=1_000.5") == ("lr", "1_000.5")
    assert parse_assignment("label=   ") == ("label", "")
    assert parse_assignment("name= abc ", {"name": "str"}) == ("name", "abc")
    with pytest.raises(ConfigError, match="YAML comment"):
        parse_assignment("n=#3")


def test_load_profile_reads_a_written_default_profile_and_refuses_dot_dot(tmp_path):
    """notebooks/params/<study>/cpu.yaml, when there is one, is what no profile means; ".." is not a profile name."""
    from workbench.config import ConfigError
    from workbench.notebooks import load_profile
    (tmp_path / "notebooks" / "params" / "tiny").mkdir(parents=True)
    (tmp_path / "notebooks" / "params" / "tiny" / "cpu.yaml").write_text("n: 3\n")
    assert load_profile("tiny", None, tmp_path) == {"n": 3}
    with pytest.raises(ConfigError, match="is not a name"):
        load_profile("tiny", "..", tmp_path)


def test_check_config_names_where_once():
    """A bad value's error is from_dict's own ConfigError, not wrapped again with a second "where:" prefix."""
    from workbench.config import ConfigError
    from workbench.notebooks import check_config
    with pytest.raises(ConfigError) as info:
        check_config("lr_scaling", {"no_such_parameter": 1}, "profile x")
    assert str(info.value).count("profile x") == 1


def test_registry_error_lists_known_names_sorted():
    from workbench.registry import Registry
    r = Registry("thing")
    r.register("b")(object)
    r.register("a")(object)
    with pytest.raises(ValueError, match=r"known: \['a', 'b'\]"):
        r.get("c")


def test_atomic_write_writes_its_temporary_file_beside_the_target(tmp_path):
    """The temporary file lies in the target's folder (a rename across file systems is not atomic)."""
    from workbench.io import atomic_write
    seen = []
    atomic_write(tmp_path / "sub" / "t.txt", lambda p: (seen.append(p.parent), p.write_text("x")))
    assert seen == [tmp_path / "sub"] and (tmp_path / "sub" / "t.txt").read_text() == "x"


def test_current_umask_without_proc_leaves_the_umask_as_it_was(monkeypatch):
    """Where /proc cannot be read, the umask is read by setting and restoring it: 027 in, 027 read, 027 after."""
    import os

    from workbench import io
    def no_proc(*args, **kwargs):
        raise OSError("no /proc")
    monkeypatch.setattr(io, "open", no_proc, raising=False)
    before = os.umask(0o027)
    try:
        assert io.current_umask() == 0o027
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(before)


def test_usable_cores_counts_the_affinity_mask(monkeypatch):
    """One core in the affinity mask is 1 whatever the machine has; an empty mask still counts 1."""
    import os

    from workbench.device import usable_cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5}, raising=False)
    assert usable_cores() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(), raising=False)
    assert usable_cores() == 1


def test_cpu_device_name_prefers_the_processor_name(monkeypatch):
    import platform

    import torch

    from workbench.device import device_name
    monkeypatch.setattr(platform, "processor", lambda: "Xeon X")
    assert device_name(torch.device("cpu")).startswith("cpu (Xeon X, ")


def test_host_memory_reads_a_memory_stat_with_blank_lines(tmp_path):
    """A blank line in memory.stat is skipped: limit 64 MiB - (usage 32 MiB - inactive 16 MiB) = 48 MiB."""
    from workbench.device import host_memory_available
    (tmp_path / "memory.max").write_text(f"{64 << 20}\n")
    (tmp_path / "memory.current").write_text(f"{32 << 20}\n")
    (tmp_path / "memory.stat").write_text(f"anon 1\n\ninactive_file {16 << 20}\n\n")
    assert host_memory_available(tmp_path) == 48 << 20


def test_a_report_outside_the_runners_layout_links_no_index_and_the_index_link_comes_first(tmp_path):
    """The index link needs both <study>/<run_id>/ (a scratch folder named like the run id is not the runner's
    layout) and leads the line; a folder with no such files gets no files line at all."""
    import nbformat

    from workbench import pages
    rec = {"study": "lr_scaling", "run_id": "20260101-000000-cpu"}
    scratch = tmp_path / "scratch" / "20260101-000000-cpu"
    scratch.mkdir(parents=True)
    (scratch / "config.json").write_text("x")
    assert pages._files_html(scratch, rec).count("<a ") == 1 and "all runs" not in pages._files_html(scratch, rec)
    other = tmp_path / "lr_scaling" / "other-run"
    other.mkdir(parents=True)
    (other / "config.json").write_text("x")
    assert "all runs" not in pages._files_html(other, rec)
    run = tmp_path / "lr_scaling" / "20260101-000000-cpu"
    run.mkdir()
    (run / "config.json").write_text("x")
    nbformat.write(nbformat.v4.new_notebook(), str(run / "lr_scaling.ipynb"))
    html = pages.export_html(run / "lr_scaling.ipynb", run / "report.html", rec).read_text()
    line = html[html.index('class="workbench-files"'):].split("</p>")[0]
    assert line.index("all runs") < line.index("config.json") < line.index("lr_scaling.ipynb")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    assert pages._files_html(empty, {}) == ""
