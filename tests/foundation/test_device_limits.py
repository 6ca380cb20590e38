"""The CPU quota and throttling readers on fake cgroup trees (v1 and v2 layouts), and ``usable_cores`` capped by a
quota. Does not prove: the layout of any particular container runtime beyond these two kernel interfaces."""
from __future__ import annotations

import os

import pytest

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
