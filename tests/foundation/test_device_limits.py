"""What the machine allows: the CPU quota and throttling readers on fake cgroup trees (v1 and v2 layouts),
``usable_cores`` capped by a quota, the batch kernel's thread count under one, and bf16 autocast only on GPUs with
native bf16. Does not prove: the layout of any particular container runtime beyond these two kernel interfaces, or
anything measured on a real V100/T4."""
from __future__ import annotations

import os
import warnings

import pytest

from tests.conftest import only_cuda
from workbench import device
from workbench.device import cpu_quota_cores, cpu_throttling, usable_cores


def _tree(tmp_path, proc_line: str, files: dict[str, str]):
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(proc_line + "\n")
    return root, proc


def test_v2_quota_and_throttling_of_the_process_cgroup(tmp_path):
    root, proc = _tree(tmp_path, "0::/docker/abc", {
        "docker/abc/cpu.max": "150000 100000\n",
        "docker/abc/cpu.stat": "usage_usec 10\nnr_periods 9\nnr_throttled 4\nthrottled_usec 2500000\n",
        "cpu.stat": "usage_usec 99\n",   # the mount's top: no throttling fields
        "cpu.max": "max 100000\n"})      # and no limit there: the process's own cgroup is read first
    assert cpu_quota_cores(root, proc) == 1.5
    assert cpu_throttling(root, proc) == (4, 2.5)


def test_v2_without_a_limit_and_the_namespaced_top(tmp_path):
    root, proc = _tree(tmp_path, "0::/", {"cpu.max": "max 100000\n",
                                           "cpu.stat": "nr_throttled 0\nthrottled_usec 0\n"})
    assert cpu_quota_cores(root, proc) is None
    assert cpu_throttling(root, proc) == (0, 0.0)


def test_v1_quota_and_throttling_in_nanoseconds(tmp_path):
    root, proc = _tree(tmp_path, "4:cpu,cpuacct:/kube/pod1\n3:memory:/kube/pod1", {
        "cpu/kube/pod1/cpu.cfs_quota_us": "400000\n", "cpu/kube/pod1/cpu.cfs_period_us": "100000\n",
        "cpu/kube/pod1/cpu.stat": "nr_periods 5\nnr_throttled 2\nthrottled_time 3000000000\n"})
    assert cpu_quota_cores(root, proc) == 4.0
    assert cpu_throttling(root, proc) == (2, 3.0)


def test_a_quota_on_a_parent_cgroup_counts_and_the_smallest_wins(tmp_path):
    """A systemd slice (or a pod) above the process's cgroup may hold the limit; with limits on both, the
    smaller one binds."""
    root, proc = _tree(tmp_path, "0::/slice/job", {"slice/cpu.max": "200000 100000\n",
                                                    "slice/job/cpu.max": "max 100000\n"})
    assert cpu_quota_cores(root, proc) == 2.0
    root, proc = _tree(tmp_path / "both", "0::/slice/job", {"slice/cpu.max": "200000 100000\n",
                                                             "slice/job/cpu.max": "300000 100000\n"})
    assert cpu_quota_cores(root, proc) == 2.0


def test_v1_controller_names_are_matched_whole(tmp_path):
    """A ``cpuacct``-only hierarchy is not the ``cpu`` controller's (a substring match would read its files)."""
    root, proc = _tree(tmp_path, "5:cpuacct:/acct\n4:cpu:/real", {
        "cpu/acct/cpu.cfs_quota_us": "100000\n", "cpu/acct/cpu.cfs_period_us": "100000\n",
        "cpu/real/cpu.cfs_quota_us": "300000\n", "cpu/real/cpu.cfs_period_us": "100000\n"})
    assert cpu_quota_cores(root, proc) == 3.0


def test_v1_unlimited_and_unreadable(tmp_path):
    root, proc = _tree(tmp_path, "1:cpu:/", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert cpu_quota_cores(root, proc) is None
    assert cpu_throttling(root, proc) is None   # no cpu.stat anywhere
    assert cpu_quota_cores(tmp_path / "none", tmp_path / "no_proc") is None


@pytest.mark.parametrize("quota, expected", [(None, 8), (1.5, 2), (0.2, 1), (64.0, 8)])
def test_usable_cores_is_the_affinity_capped_by_the_quota(monkeypatch, quota, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(device, "cpu_quota_cores", lambda: quota)
    assert usable_cores() == expected


@pytest.mark.parametrize("quota, preset, expected", [(3.0, None, "3"), (3.0, "5", "5"), (None, None, None)])
def test_batch_kernel_gets_the_quota_as_omp_threads(monkeypatch, tmp_path, quota, preset, expected):
    """Under a quota the kernel's environment says OMP_NUM_THREADS = the usable cores (a user's own setting
    wins); without one nothing is set; afterwards the caller's environment is as before."""
    from workbench import runner
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(device, "cpu_quota_cores", lambda: quota)
    if preset is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", preset)
    with runner._batch_env(tmp_path):
        assert os.environ.get("OMP_NUM_THREADS") == expected
    assert os.environ.get("OMP_NUM_THREADS") == preset


@pytest.mark.parametrize("capability, native", [((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_autocast_only_where_the_gpu_has_native_bf16(monkeypatch, capability, native):
    """A V100 (7.0) or T4 (7.5) emulates bfloat16 without tensor cores: autocast is off there, with a warning
    naming the GPU; an A100 (8.0) or H100 (9.0) autocasts; a CPU never does, and nothing asked is nothing done."""
    import torch
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev=None: "Tesla Test")
    gpu = torch.device("cuda:0")
    assert device.native_bf16(gpu) is native and device.native_bf16(torch.device("cpu")) is False
    if native:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert device.bf16_autocast(gpu) is True
    else:
        with pytest.warns(RuntimeWarning, match=r"Tesla Test \(compute capability 7\.\d\) has no native bfloat16"):
            assert device.bf16_autocast(gpu) is False
    assert device.bf16_autocast(gpu, wanted=False) is False and device.bf16_autocast(torch.device("cpu")) is False


@only_cuda
def test_bf16_autocast_on_this_gpu_follows_its_compute_capability():
    import torch
    gpu = torch.device("cuda:0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert device.bf16_autocast(gpu) == (torch.cuda.get_device_capability(gpu) >= (8, 0))


def test_oom_kills_from_v2_events_and_v1_oom_control(tmp_path):
    root, proc = _tree(tmp_path, "0::/job", {"job/memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\n"})
    assert device.oom_kills(root, proc) == 1
    root, proc = _tree(tmp_path / "v1", "9:memory:/job", {
        "memory/job/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n"})
    assert device.oom_kills(root, proc) == 4
    assert device.oom_kills(tmp_path / "none", tmp_path / "no_proc") is None


class _CellError(Exception):
    """papermill's PapermillExecutionError carries the cell's exception as ename / evalue; its text is the
    whole traceback, source lines included."""

    def __init__(self, ename, evalue, traceback=""):
        super().__init__(f"{traceback}\n{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


class DeadKernelError(Exception):
    """nbclient's, by name."""


def test_failure_hints_name_gpu_and_host_memory(monkeypatch):
    from workbench.runner import failure_hint
    oom = failure_hint(_CellError("OutOfMemoryError", "CUDA out of memory. Tried to allocate 20.00 GiB"))
    assert oom.startswith("out of GPU memory") and "-p" in oom
    monkeypatch.setattr(device, "oom_kills", lambda: 3)
    assert "killed by the out-of-memory killer" in failure_hint(DeadKernelError("Kernel died"), 2)
    assert "1 kill(s)" in failure_hint(DeadKernelError("Kernel died"), 2)
    # no kill counted, or no count readable: the usual cause, said as such
    assert failure_hint(DeadKernelError("Kernel died"), 3).startswith("the kernel died without an error")
    assert failure_hint(DeadKernelError("Kernel died"), None).startswith("the kernel died without an error")
    assert failure_hint(_CellError("ValueError", "bad")) is None and failure_hint(KeyboardInterrupt()) is None
    # another error raised beside an `except torch.OutOfMemoryError:` line: its traceback names the class
    near = _CellError("RuntimeError", "CUDA error: an illegal memory access was encountered",
                      traceback="    except torch.OutOfMemoryError:\n        ...")
    assert failure_hint(near) is None
    assert failure_hint(_CellError("torch.OutOfMemoryError", "Tried to allocate 2 GiB")).startswith("out of GPU")
    # a RuntimeError that says so (an allocation failing inside a library call)
    assert failure_hint(_CellError("RuntimeError", "CUDA out of memory. Tried to allocate 2 GiB")).startswith("out of")


@pytest.mark.slow
def test_a_failed_run_carries_its_hint_in_the_record_and_the_error(monkeypatch, root):
    import json

    from workbench import runner
    monkeypatch.setattr(runner, "failure_hint", lambda exc, kills: f"HINT for {type(exc).__name__}")
    with pytest.raises(Exception, match="failing on purpose") as caught:
        runner.run_study("tiny", None, {"fail": True}, root=root)
    assert "HINT for PapermillExecutionError" in getattr(caught.value, "__notes__", [])
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["hint"] == "HINT for PapermillExecutionError"


def test_the_report_header_shows_the_hint_and_the_source_run():
    from workbench.pages import _record_html
    html = _record_html({"study": "tiny", "status": "failed", "error": "OutOfMemoryError: CUDA out of memory",
                         "hint": "out of GPU memory: smaller sizes", "parameters": {"n": 1},
                         "like": {"run_id": "20260101-000000-gpu", "git_commit": "abc", "device": "cuda (H100)"}})
    assert "what it likely means" in html and "out of GPU memory: smaller sizes" in html
    assert "run 20260101-000000-gpu (commit abc, cuda (H100))" in html


@pytest.mark.slow
def test_a_resumed_run_that_ends_well_drops_the_hint_and_keeps_it_in_its_attempts(monkeypatch, root):
    import json

    from workbench import runner
    monkeypatch.setattr(runner, "failure_hint", lambda exc, kills: "HINT")
    with pytest.raises(Exception):
        runner.run_study("tiny", None, {"fail_once": True}, root=root)
    (run_dir,) = (root / "reports" / "tiny").iterdir()
    runner.run_study("tiny", None, root=root, resume=run_dir.name)
    rec = json.loads((run_dir / "config.json").read_text())
    assert rec["status"] == "ok" and "hint" not in rec and rec["attempts"][0]["hint"] == "HINT"
    assert "what it likely means" not in (run_dir / "report.html").read_text()


def test_run_all_prints_a_failed_study_s_notes(monkeypatch, tmp_path, capsys):
    from workbench import cli, runner

    def failing(study, profile, **kw):
        exc = RuntimeError("boom")
        exc.run_dir = tmp_path
        exc.add_note("HINT: what it likely means")
        raise exc
    monkeypatch.setattr(runner, "run_study", failing)
    monkeypatch.setattr(cli, "_studies", lambda: ["tiny"])
    assert cli.main(["run-all"]) == 1
    err = capsys.readouterr().err
    assert "FAILED: tiny: RuntimeError: boom" in err and "HINT: what it likely means" in err
