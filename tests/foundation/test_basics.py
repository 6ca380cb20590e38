"""Registry, device resolution, atomic writes, run helpers and the explorer."""
import pandas as pd
import pytest
import torch

from workbench import report
from workbench.device import require_cuda, resolve_device, with_index
from workbench.explorer import explore
from workbench.io import atomic_write, write_json
from workbench.registry import Registry


def test_registry_unknown_name_lists_known():
    reg = Registry("sampler")
    reg.register("a")(object)
    with pytest.raises(ValueError, match=r"Unrecognized sampler: 'b'; known: \['a'\]"):
        reg.get("b")
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(object)


def test_resolve_device():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")
        with pytest.raises(RuntimeError, match="zero-copy needs a CUDA GPU"):
            require_cuda("zero-copy")


def test_with_index_fixes_a_bare_cuda_to_the_current_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)  # a machine whose current GPU is the second
    assert with_index(torch.device("cuda")) == torch.device("cuda", 1)
    assert with_index(torch.device("cuda", 0)) == torch.device("cuda", 0)   # an explicit index is kept
    assert with_index(torch.device("cpu")) == torch.device("cpu")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = write_json(tmp_path / "c.json", {"a": 1})

    def broken(p):
        p.write_text("half")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text().strip().startswith("{") and list(tmp_path.iterdir()) == [path]


def test_run_tables_and_figures(tmp_path):
    import matplotlib.pyplot as plt
    run = report.start_run("demo", {"a": 1}, run_dir=tmp_path)
    run.append({"step": 0, "loss": 1.0})
    df = run.append([{"step": 1, "loss": 0.5}])
    assert list(df.step) == [0, 1] and (tmp_path / "measurements.csv").exists()
    assert (tmp_path / "effective_config.json").exists()
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="no title"):
        run.save_figure(fig, "untitled")
    ax.set_title("t")
    assert run.save_figure(fig, "ok").exists()
    plt.close(fig)


def test_explorer_static_in_batch_and_widget_live(monkeypatch):
    import matplotlib.pyplot as plt
    df = pd.DataFrame({"x": [0, 1], "y": [1, 2], "m": ["a", "a"]})

    def plot(d, metric):
        fig, ax = plt.subplots()
        ax.plot(d.x, d.y, label=metric)
        ax.set_title(metric)
        return fig
    monkeypatch.setenv(report.BATCH_ENV, "1")
    fig = explore(df, plot, choices={"metric": ["a", "b"]})
    assert fig.axes[0].get_title() == "a"
    # closed in pyplot: shown once, as the cell's value (an open figure would also be shown by the inline backend)
    assert fig.number not in plt.get_fignums()
    monkeypatch.setenv(report.BATCH_ENV, "0")
    import ipywidgets
    assert isinstance(explore(df, plot, choices={"metric": ["a", "b"]}), ipywidgets.Widget)
    plt.close("all")


def test_rerun_in_scratch_starts_with_empty_tables(tmp_path, monkeypatch):
    monkeypatch.delenv(report.RUN_DIR_ENV, raising=False)
    monkeypatch.setenv(report.SCRATCH_ENV, str(tmp_path))
    report.start_run("demo", {"a": 1}).append({"x": 1})
    run = report.start_run("demo", {"a": 1})  # "run all" again in JupyterLab
    assert len(run.append({"x": 2})) == 1


def test_cpu_threads_restores_the_count():
    # starts from 3 (not the autouse fixture's 1) so that a cpu_threads that never set or never restored the
    # count, or restored it to a constant, is caught
    from workbench.device import cpu_threads
    original = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        with pytest.raises(RuntimeError):
            with cpu_threads(2):
                assert torch.get_num_threads() == 2
                raise RuntimeError
        assert torch.get_num_threads() == 3
        with cpu_threads(0):  # n <= 0: unchanged
            assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(original)


def test_environment_records_workbench_settings(monkeypatch):
    """A run's record names the WORKBENCH_* settings that change what it reads (e.g. which encoder copy)."""
    from workbench.provenance import environment
    monkeypatch.setenv("WORKBENCH_MINILM_DIR", "/models/minilm-bf16")
    monkeypatch.setenv("UNRELATED_SETTING", "x")
    env = environment()["workbench_env"]
    assert env["WORKBENCH_MINILM_DIR"] == "/models/minilm-bf16" and "UNRELATED_SETTING" not in env


def test_commit_from_env_outside_a_checkout(monkeypatch, tmp_path):
    """On a copy of the tree without .git (the lent GPU machine) the sender states the commit."""
    from workbench.provenance import git_commit
    monkeypatch.setenv("WORKBENCH_GIT_COMMIT", "abc123")
    assert git_commit(tmp_path).startswith("abc123 (stated by WORKBENCH_GIT_COMMIT")
    assert not git_commit().startswith("abc123")  # in the checkout, git itself answers


@pytest.mark.parametrize("v2", [True, False], ids=["cgroup-v2", "cgroup-v1"])
def test_host_memory_available_is_capped_by_a_container_limit(tmp_path, v2):
    """A cgroup limit caps what is available at limit - (usage - inactive page cache); no limit ("max", or v1's
    ~2^63) leaves psutil's figure. Not proven: the files' place on a given host (read at /sys/fs/cgroup)."""
    import psutil

    from workbench.device import host_memory_available
    host = psutil.virtual_memory().available
    d = tmp_path if v2 else tmp_path / "memory"
    d.mkdir(exist_ok=True)
    names = ("memory.max", "memory.current", "inactive_file") if v2 else \
        ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
    (d / names[0]).write_text(f"{2 << 30}\n")
    (d / names[1]).write_text(f"{1 << 30}\n")
    (d / "memory.stat").write_text(f"anon 1\n{names[2]} {256 << 20}\n")
    assert host_memory_available(tmp_path) == min(host, (2 << 30) - (1 << 30) + (256 << 20))
    (d / names[0]).write_text("max\n" if v2 else "9223372036854771712\n")
    assert abs(host_memory_available(tmp_path) - host) < 256 << 20  # psutil's figure (it moves a little)
    assert abs(host_memory_available(tmp_path / "none") - host) < 256 << 20  # no cgroup files at all


def test_explorer_static_figure_uses_the_given_defaults(monkeypatch):
    """In batch mode the static figure is drawn with ``defaults`` where given ("b"), not the first option ("a")."""
    import matplotlib.pyplot as plt
    monkeypatch.setenv(report.BATCH_ENV, "1")

    def plot(d, metric):
        fig, ax = plt.subplots()
        ax.set_title(metric)
        return fig
    fig = explore(pd.DataFrame({"x": [0]}), plot, choices={"metric": ["a", "b"]}, defaults={"metric": "b"})
    assert fig.axes[0].get_title() == "b"
    plt.close("all")


@pytest.mark.parametrize("defaults, match", [({"metric": "P@10"}, "default metric='P@10' is not one of"),
                                             ({"metrc": "a"}, "default for 'metrc', which has no choices")])
def test_explorer_refuses_a_default_the_live_widget_would_refuse(monkeypatch, defaults, match):
    """A default outside its options (or for a misspelt keyword) is refused in batch mode too: the live Dropdown
    raised TraitError there while every batch run (tests, reports) drew the figure."""
    monkeypatch.setenv(report.BATCH_ENV, "1")
    with pytest.raises(ValueError, match=match):
        explore(pd.DataFrame({"x": [0]}), lambda d, metric: None, choices={"metric": ["a", "b"]}, defaults=defaults)


def test_write_table_writes_the_columns_only_no_index(tmp_path):
    """write_table keeps exactly the frame's columns: a 1-column frame of 1, 2 is the text "a\\n1\\n2\\n"
    (no unnamed index column, which a later read_csv would turn into an extra 'Unnamed: 0' column)."""
    run = report.Run(study="t", dir=tmp_path, config={})
    path = run.write_table(pd.DataFrame({"a": [1, 2]}), "t")
    assert path.read_text() == "a\n1\n2\n"
