"""How the CLI and the runner fail: shareable files, studies found from any directory, one clear line for a failed
run, -p values read as the parameter's type, refusals before any work (device, resume hint).

The failing runs execute tests/notebooks/tiny.ipynb in a scratch checkout (test_runner's ``root``). Does not
prove: the wording of errors raised inside the real study notebooks (only that a cell's exception is reported).
"""
import os
import re
import signal
import stat
from pathlib import Path

import pytest
import torch

from workbench import notebooks, runner
from workbench.cli import main as cli_main
from workbench.config import ConfigError
from workbench.io import atomic_write, current_umask, write_text
from workbench.report import repo_root

REPO = Path(__file__).resolve().parents[2]


def _checkout(root, monkeypatch):
    """Make ``root`` the checkout the CLI finds from its working directory."""
    (root / "pyproject.toml").write_text("")
    (root / "workbench").mkdir()
    monkeypatch.chdir(root)


# -- 1. files are as shareable as the umask allows ------------------------------------------------------------

@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_gives_the_mode_the_umask_allows(tmp_path, mask, mode):
    before = os.umask(mask)
    try:
        write_text(tmp_path / "config.json", "{}")
        atomic_write(tmp_path / "figure.png", lambda p: p.write_bytes(b"png"))
        assert current_umask() == mask  # reading it leaves it as it was
    finally:
        os.umask(before)
    for name in ("config.json", "figure.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


# -- 2. the studies are found outside the checkout; none found is an error --------------------------------------

def test_outside_the_checkout_the_package_checkout_is_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert repo_root() == REPO
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    known = sorted(p.stem for p in (REPO / "notebooks" / "params" / "lr_scaling").glob("*.yaml"))
    assert f"lr_scaling:  (profiles: {', '.join(known)})" in out and "cpu" in known  # --profile's choices


def test_no_studies_is_an_error_not_an_empty_success(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notebooks, "repo_root", lambda: tmp_path)  # a checkout without notebooks/
    monkeypatch.setattr(runner, "repo_root", lambda: tmp_path)
    reports = ["--reports", str(tmp_path / "reports")]
    assert cli_main(["run-all", *reports]) == 2
    assert f"no study notebooks in {tmp_path / 'notebooks'}" in capsys.readouterr().err
    assert cli_main(["list"]) == 2
    assert cli_main(["run", "lr_scaling", *reports]) == 2
    assert "unknown study 'lr_scaling': no study notebooks" in capsys.readouterr().err


# -- 3. refused before any work --------------------------------------------------------------------------------

def test_a_device_this_machine_lacks_is_refused_before_any_work(tmp_path):
    spec = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda:0"
    with pytest.raises(ConfigError, match=f"device '{spec}' was asked for, but this machine has"):
        runner.run_study("lsh_sampling", None, {"device": spec}, reports=tmp_path / "reports", root=REPO)
    assert not (tmp_path / "reports").exists()


def test_kept_units_are_what_the_resume_hint_needs(tmp_path):
    assert not runner.has_kept_units(tmp_path)
    (tmp_path / "partial" / "abc").mkdir(parents=True)
    assert not runner.has_kept_units(tmp_path)  # an empty store: a resume would start over
    (tmp_path / "partial" / "abc" / "total-0123abcd.pt").write_bytes(b"")
    assert runner.has_kept_units(tmp_path)


# -- 5. -p values as the parameter's type ----------------------------------------------------------------------

@pytest.mark.parametrize("text,types,expected", [
    ("data_variant=no", {"data_variant": "str"}, "no"),
    ("data_path=~", {"data_path": "str"}, "~"),
    ("label='quoted text'", {"label": "str"}, "quoted text"),
    ("methods=[full, no, on]", {"methods": "list[str]"}, ["full", "no", "on"]),
    ("center=no", {"center": "bool"}, False),  # YAML's reading stays for other types
    ("lr=1e-3", {"lr": "float"}, "1e-3"),  # a string here; check_value reads it as the float
    ("data_variant=no", None, False),  # no types: plain YAML, as before
    # text is the text written: YAML would read ' #2' as a comment, 'a: b' as a mapping, '- x' as a list
    ("data_path=/data/fm #2", {"data_path": "str"}, "/data/fm #2"), ("data_path=a: b", {"data_path": "str"}, "a: b"),
    ("data_path=- x", {"data_path": "str"}, "- x"),
    # integers in decimal, as written (YAML 1.1: 010 is 8, 1:30 is 90, 0x10 is 16); other forms stay text, which
    # the parameter's type check then refuses
    ("seed=010", {"seed": "int"}, 10), ("batch_sizes=[016, 032, 128]", {"batch_sizes": "list[int]"}, [16, 32, 128]),
    ("time_budget_s=1:30", {"time_budget_s": "float"}, "1:30"), ("seed=0x10", {"seed": "int"}, "0x10"),
])
def test_parse_assignment_keeps_text_for_text_parameters(text, types, expected):
    assert notebooks.parse_assignment(text, types)[1] == expected


def test_a_comment_in_a_value_that_is_not_text_is_refused():
    with pytest.raises(ConfigError, match="YAML comment"):
        notebooks.parse_assignment("seeds=[0, 1] #2", {"seeds": "list[int]"})
    with pytest.raises(ConfigError, match="YAML comment"):
        notebooks.parse_assignment("methods=[a, b #c]", {"methods": "list[str]"})
    # inside quotes a ' #' is text, as the error advises
    assert notebooks.parse_assignment('data_path="/d #2"', {"data_path": "str"})[1] == "/d #2"
    assert notebooks.parse_assignment('methods=[full, "a #1"]', {"methods": "list[str]"})[1] == ["full", "a #1"]


def test_profiles_read_integers_in_decimal(root):
    (root / "notebooks" / "params" / "tiny" / "octal.yaml").write_text("seed: 010\nsizes: [016, 128]\n")
    assert notebooks.load_profile("tiny", "octal", root) == {"seed": 10, "sizes": [16, 128]}


def test_cli_overrides_reach_the_study_as_typed(monkeypatch):
    got = {}
    monkeypatch.setattr(runner, "run_study", lambda study, profile, overrides, **kw: got.update(overrides) or REPO)
    assert cli_main(["run", "lsh_sampling", "-p", "lr=1e-3", "-p", "data_variant=no", "-p", "time_budget_s=2E0",
                     "-p", "dataset=debian"]) == 0
    spec = notebooks.parameters(notebooks.notebook_path("lsh_sampling", REPO))
    values = notebooks.effective_parameters(spec, got, "-p")
    assert values["lr"] == 0.001 and values["time_budget_s"] == 2.0 and values["data_variant"] == "no"
    with pytest.raises(ConfigError, match="data_variant"):  # "no" reaches the config, which names the variants
        notebooks.check_config("lsh_sampling", values, "-p")
    spec = notebooks.parameters(notebooks.notebook_path("lr_scaling", REPO))
    lrs = notebooks.parse_assignment("tune_lrs=[1e-2, 3e-2]", {n: p.type for n, p in spec.items()})
    assert notebooks.effective_parameters(spec, dict([lrs]), "-p")["tune_lrs"] == [0.01, 0.03]


def test_profiles_read_exponent_floats(root):
    (root / "notebooks" / "params" / "tiny" / "sci.yaml").write_text("scale: 2E0\n")
    spec = notebooks.parameters(root / "notebooks" / "tiny.ipynb")
    assert notebooks.effective_parameters(spec, notebooks.load_profile("tiny", "sci", root), "sci")["scale"] == 2.0


# -- 6. a failed run is one line; an internal error keeps its traceback ---------------------------------------

@pytest.mark.slow  # two kernel starts: ~30 s on the shared 2-core machine
def test_a_failed_cell_is_one_line_naming_the_cell_and_the_report(root, monkeypatch, capsys):
    _checkout(root, monkeypatch)
    assert cli_main(["run", "tiny", "-p", "fail=true"]) == 1
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "-----" not in err, err  # no traceback, not papermill's header
    assert re.fullmatch(r"error: AssertionError: failing on purpose \(cell In \[\d+\]\); report: "
                        + re.escape(f"{run_dir}/report.html"), err.splitlines()[-1]), err  # above: progress bars
    # nothing was kept, so no "--resume (continues it)" hint: a resume would only start over

    (root / "notebooks" / "params" / "tiny" / "failing.yaml").write_text("fail: true\n")
    assert cli_main(["run-all", "--profile", "failing"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"FAILED: tiny: AssertionError: failing on purpose \(cell In \[\d+\]\); report: ", err), err
    assert "-----" not in err  # not papermill's header


def test_the_resume_hint_follows_the_error_line(monkeypatch, capsys, tmp_path):
    def fails(*args, **kwargs):
        exc = RuntimeError("kernel died")
        exc.run_dir = tmp_path
        exc.add_note("run ... failed; its finished units are kept: python -m workbench run x --resume y")
        raise exc
    monkeypatch.setattr(runner, "run_study", fails)
    assert cli_main(["run", "lr_scaling"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: RuntimeError: kernel died; record: {tmp_path / 'config.json'}",
                   "run ... failed; its finished units are kept: python -m workbench run x --resume y"]


def test_an_internal_error_keeps_its_traceback(monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the runner")
    monkeypatch.setattr(runner, "run_study", bug)
    with pytest.raises(RuntimeError, match="a bug in the runner"):
        cli_main(["run", "lr_scaling"])


def test_data_subcommand_help_is_the_builders_own(capsys):
    """`python -m workbench data -h` shows the dataset builders' options (argparse's REMAINDER would not pass a
    leading -h on, leaving a help that lists only `rest`)."""
    with pytest.raises(SystemExit) as exit_:
        cli_main(["data", "-h"])
    assert exit_.value.code == 0 and "build" in capsys.readouterr().out


def test_a_missing_or_malformed_source_file_of_a_data_build_is_one_error_line(tmp_path, capsys):
    """`python -m workbench data build debian` with an index that does not exist, or that holds no stanzas, prints
    `error: <the builder's message>` and exits 2, as `run` does, instead of a traceback; nothing is written."""
    empty = tmp_path / "Packages"
    empty.write_text("")
    out = tmp_path / "out"
    for packages in (tmp_path / "nope" / "Packages.xz", empty):
        code = cli_main(["data", "build", "debian", "--packages", str(packages), "--translations", str(empty),
                         "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith(f"error: {packages}") and "Traceback" not in err
    assert not out.exists()


def test_index_of_a_reports_folder_that_does_not_exist_is_refused(tmp_path, capsys):
    """`index --reports <typo>` used to create the folder and an empty index in it; now it is an error, exit 2."""
    missing = tmp_path / "nope"
    assert cli_main(["index", "--reports", str(missing)]) == 2
    assert f"--reports {missing}: no such directory" in capsys.readouterr().err and not missing.exists()


# -- 6. what the reviews of 2026-11-25 found ----------------------------------------------------------------------

def test_run_all_interrupted_is_one_line_and_names_what_did_not_run(monkeypatch, capsys):
    """Ctrl-C (or a time box) during run-all's first study: exit 130, the failed run's line, the studies left,
    no traceback through papermill."""
    def interrupted(study, *a, **kw):
        exc = KeyboardInterrupt("terminated by signal 15 (e.g. `timeout`)")
        exc.run_dir = Path("/reports") / study / "r1"
        raise exc
    monkeypatch.setattr(runner, "run_study", interrupted)
    assert cli_main(["run-all"]) == 130
    err = capsys.readouterr().err
    first, *rest = notebooks.studies()
    assert "Traceback" not in err and f"error: KeyboardInterrupt: terminated by signal 15" in err
    assert f"not run: {rest}" in err


@pytest.mark.parametrize("name", ["./lr_scaling", "../notebooks/lr_scaling", "notebooks/../lr_scaling"])
def test_a_study_given_as_a_path_is_not_a_study(name):
    # such a name found the notebook, skipped the config check and wrote its run folder outside reports/
    with pytest.raises(ConfigError, match="unknown study"):
        notebooks.notebook_path(name, REPO)


def test_a_reports_folder_that_cannot_be_written_is_one_error_line(tmp_path, capsys, monkeypatch):
    def refuse(self, *a, **kw):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "mkdir", refuse)
    assert cli_main(["run", "lr_scaling", "--reports", str(tmp_path / "ro")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot create the run folder") and "Permission denied" in err
    assert "Traceback" not in err


def test_a_parameter_given_twice_is_refused(capsys):
    assert cli_main(["run", "lr_scaling", "-p", "seeds=[]", "-p", "seeds=[0]"]) == 2
    assert "-p sets ['seeds'] more than once" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["mps", "xpu:0", "meta"])
def test_devices_other_than_cpu_and_cuda_are_refused_before_any_work(spec):
    from workbench.device import check_device_spec
    with pytest.raises(ValueError, match="'cpu' or 'cuda"):
        check_device_spec(spec)


def test_index_links_are_url_encoded(root):
    from tests.foundation.test_runner import _fake_run
    from workbench.pages import write_index
    d = _fake_run(root, "20260101-000000-try#2", status="ok")
    (d / "report.html").write_text("r")
    page = write_index(root / "reports").read_text()
    assert 'href="tiny/20260101-000000-try%232/report.html"' in page


def test_terminate_turns_a_signal_into_keyboardinterrupt():
    from workbench.cli import _terminate
    with pytest.raises(KeyboardInterrupt, match="terminated by signal 15"):
        _terminate(signal.SIGTERM, None)


def test_run_and_run_all_install_the_sigterm_and_sighup_handlers(monkeypatch, tmp_path):
    """During `run` and `run-all` a time box's SIGTERM or a closed terminal's SIGHUP raise KeyboardInterrupt
    (cli._terminate), so the runner marks the run failed."""
    from workbench import cli
    seen = []

    def fake_run(study, *a, **kw):
        seen.append((signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)))
        return tmp_path
    monkeypatch.setattr(runner, "run_study", fake_run)
    monkeypatch.setattr(cli, "_studies", lambda: ["tiny"])
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for cmd in (["run", "tiny"], ["run-all"]):
            for s in saved:
                signal.signal(s, signal.SIG_DFL)
            assert cli_main(cmd) == 0
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    assert seen == [(cli._terminate, cli._terminate)] * 2


def test_run_all_prints_an_internal_errors_traceback_and_goes_on(monkeypatch, capsys):
    """An internal error (not a ConfigError, no run folder) in one study: its traceback and type, the next study
    still runs, exit 1."""
    from workbench import cli
    ran = []

    def fake_run(study, *a, **kw):
        ran.append(study)
        if study == "a":
            raise ValueError("boom")
        return Path("/r")
    monkeypatch.setattr(runner, "run_study", fake_run)
    monkeypatch.setattr(cli, "_studies", lambda: ["a", "b"])
    assert cli_main(["run-all"]) == 1 and ran == ["a", "b"]
    err = capsys.readouterr().err
    assert "Traceback" in err and "FAILED: a: ValueError: boom" in err


def test_index_refuses_a_reports_path_that_is_a_file(tmp_path, capsys):
    (tmp_path / "reports").write_text("")
    assert cli_main(["index", "--reports", str(tmp_path / "reports")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_data_without_an_action_is_a_usage_error():
    from workbench.datasets_cli import main as data_cli
    with pytest.raises(SystemExit) as info:
        data_cli([])
    assert info.value.code == 2


def test_only_the_dead_kernels_unretrieved_task_is_kept_off_the_terminal():
    """The filter the CLI puts on asyncio's logger drops a DeadKernelError record (the traceback nbclient's
    abandoned task logs after a Ctrl-C) and lets every other asyncio error through."""
    import logging

    from workbench.cli import _DeadKernelNoise

    class DeadKernelError(RuntimeError):
        pass

    def record(exc):
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "Task exception was never retrieved", None,
                                 (type(exc), exc, None))
    assert not _DeadKernelNoise().filter(record(DeadKernelError("kernel died")))
    assert _DeadKernelNoise().filter(record(ValueError("a real error")))


def test_run_puts_the_dead_kernel_filter_on_asyncios_logger_once(monkeypatch, tmp_path):
    """Each `run` / `run-all` in one process makes sure asyncio's logger has the filter: once, not once per call."""
    import logging

    from workbench import cli
    log = logging.getLogger("asyncio")
    monkeypatch.setattr(log, "filters", [f for f in log.filters if not isinstance(f, cli._DeadKernelNoise)])
    monkeypatch.setattr(runner, "run_study", lambda study, *a, **kw: tmp_path)
    monkeypatch.setattr(cli, "_studies", lambda: ["tiny"])
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        assert cli_main(["run", "tiny"]) == 0 and cli_main(["run-all"]) == 0
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    assert sum(isinstance(f, cli._DeadKernelNoise) for f in log.filters) == 1
