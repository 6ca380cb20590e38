"""Run a study notebook with papermill into ``reports/<study>/<run_id>/`` and keep ``reports/index.html``.

Each run directory holds the executed notebook, ``report.html`` (no code), ``config.json`` (full effective
parameters, provenance, status, times), the study's tables and PNG figures. A failed run is marked failed with
its error and the partial notebook; the index stays valid. ``resume`` runs a failed run again in its own
directory with its recorded parameters; the units its earlier attempts finished are read back
(:mod:`workbench.resume`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import platform
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

from .config import ConfigError
from .io import read_json, write_json, write_text
from .notebooks import (DEFAULT_PROFILE, check_config, effective_parameters, load_profile, notebook_path,
                        parameters, profiles)
from .pages import export_html, first_line, list_runs, write_index
from .provenance import environment, now, study_device, uncommitted_diff
from .report import BATCH_ENV, CHECKPOINT_DIR, PARTIAL_DIR, RUN_DIR_ENV, repo_root
from .resume import config_key, resumed_units

# The kernel's own log at ERROR: ipykernel 7 warns on every start that its local TCP sockets are unencrypted, a
# line that reached the terminal of every batch run (the kernel inherits this process's stderr). Cell output,
# warnings raised in cells and tracebacks are not the kernel app's log and still come through.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
# "immediate": at the end (or on Ctrl-C) the kernel is interrupted and killed, not asked to shut down. A graceful
# shutdown of a kernel that Ctrl-C interrupted mid-cell races its reply against the closing sockets and printed a
# ZMQError traceback ("Socket operation on non-socket") under the run's one-line error; no study needs the
# kernel's atexit hooks (every file a run writes is complete when its cell returns).
KERNEL_SHUTDOWN = "immediate"


def new_run_id(study_dir: Path, profile: str) -> str:
    """``<UTC date>-<UTC time>-<profile>``, with ``-2``, ``-3``, ... when that directory exists."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{profile}"
    run_id, n = base, 1
    while (study_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def run_study(study: str, profile: str | None = None, overrides: dict[str, Any] | None = None,
              reports: Path | None = None, root: Path | None = None, progress: bool = False,
              resume: str | None = None, like: Path | None = None) -> Path:
    """Validate parameters, execute the notebook, export the report, update the index. Returns the run dir.

    Raises :class:`ConfigError` before any work on bad parameters (names, types, and the values the study's
    config class rejects: :data:`notebooks.STUDY_CONFIGS`), and re-raises a failed execution after marking the
    run failed. ``profile`` None is :data:`notebooks.DEFAULT_PROFILE`. ``resume`` (a run id of ``study``, or
    ``"latest"``: its newest unfinished run of ``profile``) executes that failed run again in its directory,
    with its recorded parameters. ``like`` (a run directory, or its ``config.json``, e.g. from a shared report)
    starts a new run with that run's recorded parameters in place of a profile's, ``overrides`` on top.
    """
    root = root or repo_root()
    reports = reports or root / "reports"
    nb = notebook_path(study, root)
    spec = parameters(nb)
    env = {**environment(), "pid": os.getpid(), "host": platform.node()}
    if resume and like is not None:
        raise ConfigError("--resume runs a failed run again with its own recorded parameters: no --like with it")
    if like is not None and profile is not None:
        raise ConfigError("--like takes every parameter from the run it names: give --profile or --like, not both")
    if resume:
        run_dir, record = _next_attempt(study, spec, reports / study, root, resume, profile, overrides, env)
    else:
        run_dir, record = _first_attempt(study, spec, reports / study, root, profile or DEFAULT_PROFILE,
                                         overrides, env, like)
    out_nb = run_dir / f"{study}.ipynb"
    from .device import oom_kills
    kills = oom_kills()
    try:  # from the moment the run folder exists: whatever stops the run marks it failed
        _save_uncommitted(run_dir, record)
        write_json(run_dir / "config.json", record)
        write_index(reports)
        import papermill as pm
        with _batch_env(run_dir):
            pm.execute_notebook(str(nb), str(out_nb), parameters=record["parameters"], kernel_name="python3",
                                cwd=str(root), progress_bar=progress, log_output=False,
                                stderr_file=sys.stderr if progress else None,  # the kernel's bars and warnings
                                extra_arguments=KERNEL_ARGS, shutdown_kernel=KERNEL_SHUTDOWN)
        record["status"] = "ok"
    except BaseException as exc:  # KeyboardInterrupt too: the run must not stay "running"
        record.update(status="failed", error=_error_text(exc)[:4000])
        if hint := failure_hint(exc, kills):
            exc.add_note(hint)
            record["hint"] = hint
        with contextlib.suppress(Exception):  # at once: the report's export below takes seconds
            write_json(run_dir / "config.json", {**record, "ended": now()})
        with contextlib.suppress(AttributeError):  # the CLI's one-line error names the failed run
            exc.run_dir = run_dir
        where = "" if reports == root / "reports" else f" --reports {reports}"
        if has_kept_units(run_dir):  # else a resume would only start over (and inherit the same error)
            exc.add_note(f"run {run_dir} failed; its finished units are kept: python -m workbench run {study} "
                         f"--resume {run_dir.name}{where}   (continues it)")
        raise
    finally:
        with _signals_held(held := []):
            _finish(run_dir, record, out_nb)
            write_index(reports)
    if held:  # a stop asked for while the finished run was written down: honoured now (run-all goes no further)
        stop = KeyboardInterrupt(f"terminated by signal {held[0]} as the run finished (its record and report are "
                                 "complete)")
        stop.run_dir = run_dir
        raise stop
    return run_dir


@contextlib.contextmanager
def _signals_held(held: list[int]):
    """SIGINT, SIGTERM and SIGHUP held while a run's record and report are written (a second Ctrl-C there left the
    run "running" for good, its record and report never written): each one's number is appended to ``held``, with
    a line on stderr, for the caller to act on once the block is done."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    names = [n for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    # an ignored one stays ignored (nohup); one whose handler was set outside Python (getsignal: None) is left
    # alone, as Python could not put that handler back
    before = {n: h for n in names if (h := signal.getsignal(getattr(signal, n))) not in (signal.SIG_IGN, None)}

    def hold(signum, frame) -> None:
        held.append(signum)
        print("finishing the run's record and report first (a few seconds), then stopping", file=sys.stderr,
              flush=True)
    for n in before:
        signal.signal(getattr(signal, n), hold)
    try:
        yield
    finally:
        for n, handler in before.items():
            signal.signal(getattr(signal, n), handler)


def _save_uncommitted(run_dir: Path, record: dict[str, Any], commit_key: str = "git_commit") -> None:
    """When the checkout has uncommitted changes (``record[commit_key]`` ends in ``-dirty``), keep them beside the
    run as ``uncommitted.patch`` (``uncommitted.<attempt>.patch`` for a resumed run's later attempts) and record
    its file, SHA-256 and which reading of the commit it goes with: ``git apply`` on the recorded commit rebuilds
    the code that ran. ``commit_key="git_commit_notebook"``: the tree changed after the runner's record and
    before the kernel's, so the diff is taken when the run ends (the closest the runner can get)."""
    if not str(record.get(commit_key, "")).endswith("-dirty"):
        return
    diff = uncommitted_diff()
    if not diff:
        return
    attempt = len(record.get("attempts", [])) + 1
    name = "uncommitted.patch" if attempt == 1 else f"uncommitted.{attempt}.patch"
    write_text(run_dir / name, diff)
    record["uncommitted_patch"] = {"file": name, "bytes": len(diff.encode()),
                                   "sha256": hashlib.sha256(diff.encode()).hexdigest(),
                                   "taken": "at the start" if commit_key == "git_commit" else "at the end"}


def has_kept_units(run_dir: Path) -> bool:
    """Whether a run kept anything a resume reads back: finished units (``partial/<config>/*.pt``, see
    :class:`workbench.resume.UnitStore`) or training checkpoints (``checkpoints/``)."""
    return any((run_dir / PARTIAL_DIR).glob("*/*.pt")) or any((run_dir / CHECKPOINT_DIR).glob("*"))


def error_line(exc: BaseException) -> str:
    """The first line of :func:`_error_text`: what failed, in one line (a cell's exception and its cell)."""
    return first_line(_error_text(exc), 1000)


def _error_text(exc: BaseException) -> str:
    """A failure's record, its first line saying what failed: for a cell that raised, the cell's exception and
    its execution count (papermill's own message opens with a row of dashes), then the full message."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:  # papermill's PapermillExecutionError
        return f"{ename}: {evalue} (cell In [{getattr(exc, 'exec_count', '?')}])\n{exc}"
    if isinstance(exc, KeyboardInterrupt) and not str(exc):
        return "KeyboardInterrupt: interrupted (Ctrl-C or SIGINT)"
    return f"{type(exc).__name__}: {exc}"


def failure_hint(exc: BaseException, oom_kills_before: int | None = None) -> str | None:
    """What a failure that says little usually means: a CUDA out-of-memory error (the gpu profiles were sized for
    an 80 GB H100), or a kernel that died (the out-of-memory killer, when the memory cgroup's ``oom_kill`` count
    rose during the run: :func:`workbench.device.oom_kills`). None for other failures."""
    # a failed cell's own exception (papermill's str(exc) is the whole traceback, source lines and all: an
    # `except torch.OutOfMemoryError` line near another error must not read as one)
    name, message = ((exc.ename, str(exc.evalue)) if getattr(exc, "ename", None)
                     else (type(exc).__name__, str(exc)))
    if name.endswith("OutOfMemoryError") or "CUDA out of memory" in message:
        return ("out of GPU memory: the gpu profiles were sized for one 80 GB H100 (each profile's header gives "
                "its sizes); on a smaller GPU give the sizes it names smaller values with -p")
    if type(exc).__name__ == "DeadKernelError" or "Kernel died" in str(exc):
        from .device import oom_kills
        now_kills = oom_kills()
        if oom_kills_before is not None and now_kills is not None and now_kills > oom_kills_before:
            return ("the kernel was killed by the out-of-memory killer (this machine's memory cgroup counted "
                    f"{now_kills - oom_kills_before} kill(s) during the run): the run needs more host memory "
                    "than it has; give the sizes its profile names smaller values with -p")
        return ("the kernel died without an error of its own: running out of host memory is the usual cause "
                "(the system log, e.g. dmesg, names the out-of-memory killer's victims)")
    return None


def _first_attempt(study: str, spec: dict, study_dir: Path, root: Path, profile: str,
                   overrides: dict[str, Any] | None, env: dict[str, Any],
                   like: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """A new run's directory and record, its parameters (profile, or the run ``like`` names, then ``-p``) checked
    before it is made."""
    source = _like_record(study, like, env) if like is not None else None
    if source is None:
        merged = {**load_profile(study, profile, root), **(overrides or {})}
        where = f"{study} (profile {profile!r} and -p)"
    else:
        profile = str(source.get("profile") or DEFAULT_PROFILE)
        merged = {**source["parameters"], **(overrides or {})}
        where = f"{study} (the parameters of run {source.get('run_id')!r} and -p)"
    values = effective_parameters(spec, merged, where=where)
    with contextlib.chdir(root):  # relative paths in parameters are read from the root, as the notebook does
        check_config(study, values, where=where, data=True)
    _check_device(values.get("device"), where)
    run_dir = study_dir / new_run_id(study_dir, profile)
    try:
        run_dir.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run folder {run_dir}: {exc.strerror or exc} (--reports names "
                          "where runs are written)") from None
    record = {"study": study, "run_id": run_dir.name, "profile": profile, "status": "running",
              "parameters": values, "overrides": merged, "started": now(), **env,
              "device": study_device(values.get("device", "auto"))}
    if source is not None:
        record["like"] = {"run_id": source.get("run_id"), "git_commit": source.get("git_commit"),
                          "device": source.get("device"), "record": str(like)}
    return run_dir, record


def _like_record(study: str, like: Path, env: dict[str, Any]) -> dict[str, Any]:
    """The record of the run ``like`` names (its directory or ``config.json``), checked to be ``study``'s and to
    hold parameters; a warning when it was made by other code than this checkout's."""
    path = Path(like).expanduser()
    path = path / "config.json" if path.is_dir() else path
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--like {like}: cannot read a run record there ({exc}); give a run's directory or its "
                          "config.json") from None
    if not isinstance(record, dict) or not isinstance(record.get("parameters"), dict):
        raise ConfigError(f"--like {like}: {path} is not a run record (no 'parameters' mapping)")
    if record.get("study") != study:
        raise ConfigError(f"--like {like}: that run is of study {record.get('study')!r}, not {study!r}")
    theirs, ours = record.get("git_commit"), env.get("git_commit")
    if theirs != ours:
        warnings.warn(f"--like {like}: that run was made by commit {theirs}, this checkout is {ours}: the same "
                      "parameters may give other results (its uncommitted.patch, if any, holds its changes)",
                      RuntimeWarning, stacklevel=3)
    return record


def _check_device(spec: Any, where: str) -> None:
    """The study's ``device`` parameter must name a device this machine has (the run happens here)."""
    if not isinstance(spec, str):
        return
    import torch
    from .device import resolve_device
    try:
        dev = resolve_device(spec)
        if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
            raise RuntimeError(f"device {spec!r} was asked for, but this machine has {torch.cuda.device_count()} "
                               "CUDA GPU(s); use device='auto' or 'cuda:0'")
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


@contextlib.contextmanager
def _batch_env(run_dir: Path):
    """The notebook's kernel inherits these: write into ``run_dir``, batch mode (no widgets; units kept), and
    matplotlib's inline backend, so that the report shows each cell's figures even where the caller exported
    another backend (``MPLBACKEND=Agg`` in a script would leave the report without them). In a container with
    a CPU quota (``docker --cpus``, a Kubernetes limit), ``OMP_NUM_THREADS`` is the quota's cores unless set:
    torch would start a thread per core of the affinity mask, i.e. of the host, and the quota would stall them."""
    from .device import cpu_quota_cores, usable_cores
    before = {k: os.environ.get(k) for k in (RUN_DIR_ENV, BATCH_ENV, "MPLBACKEND", "OMP_NUM_THREADS")}
    os.environ[RUN_DIR_ENV], os.environ[BATCH_ENV] = str(run_dir.resolve()), "1"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if before["OMP_NUM_THREADS"] is None and cpu_quota_cores() is not None:
        os.environ["OMP_NUM_THREADS"] = str(usable_cores())
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _finish(run_dir: Path, record: dict[str, Any], out_nb: Path) -> None:
    """Complete the record (end time, the notebook's effective config, units read back), drop ``partial/``
    after a good run, export the report from what the notebook got to, and write the record."""
    record["ended"] = now()
    eff = run_dir / "effective_config.json"
    if eff.exists():
        written = read_json(eff)
        record["effective"] = written["parameters"]
        if "dataset" in written:
            record["dataset"] = written["dataset"]
        _take_kernel_environment(record, written)
        if written.get("git_commit") not in (None, record.get("git_commit")):  # the tree changed as the run began
            record["git_commit_notebook"] = written["git_commit"]
            if "uncommitted_patch" not in record:
                _save_uncommitted(run_dir, record, "git_commit_notebook")
    if units := resumed_units(run_dir):
        record["resumed_units"] = units
    if record["status"] == "ok":
        shutil.rmtree(run_dir / PARTIAL_DIR, ignore_errors=True)
    if out_nb.exists():
        try:
            export_html(out_nb, run_dir / "report.html", record)
        except Exception as exc:  # the partial notebook may be unreadable; the record says so
            record["report_error"] = f"{type(exc).__name__}: {exc}"
    write_json(run_dir / "config.json", record)


# what the notebook's kernel records of the interpreter that ran the study (its effective_config.json); not tf32,
# which a study sets for itself (the spectra studies turn cuDNN's off)
KERNEL_FIELDS = ("executable", "python", "platform", "torch", "cuda", "gpus", "versions")


def _take_kernel_environment(record: dict[str, Any], written: dict[str, Any]) -> None:
    """The record's interpreter fields from the kernel that ran the notebook, not the runner: papermill starts
    the first kernel named python3 on Jupyter's path, which a kernelspec installed from another environment
    (``ipykernel install --user``) makes another interpreter. Where they differ the runner's are kept as
    ``runner_<field>`` and ``kernel_differs`` lists the fields, with a warning. The torch thread counts are the
    kernel's too (the runner's own count is not what the study ran with)."""
    for k in ["kernel_differs", *(f"runner_{k}" for k in KERNEL_FIELDS)]:  # an earlier attempt's reading
        record.pop(k, None)

    def same(k: str) -> bool:  # one interpreter under two names (python3, a symlink to python) is one
        a, b = written[k], record.get(k)
        return a == b or (k == "executable" and isinstance(b, str) and os.path.realpath(a) == os.path.realpath(b))
    for k in ("torch_threads", "study_torch_threads"):  # the kernel's (OMP_NUM_THREADS, the study's setting)
        if k in written:
            record[k] = written[k]
    differs = [k for k in KERNEL_FIELDS if k in written and not same(k)]
    for k in differs:
        record[f"runner_{k}"], record[k] = record.get(k), written[k]
    if differs:
        record["kernel_differs"] = differs
        warnings.warn(f"the notebook ran in another interpreter than the runner's ({written.get('executable')}; "
                      f"differs in {differs}): the record gives the kernel's; pick the kernel with `jupyter "
                      "kernelspec list` (papermill starts the first named python3)")


def _next_attempt(study: str, spec: dict, study_dir: Path, root: Path, resume: str, profile: str | None,
                  overrides: dict[str, Any] | None, env: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The run directory and the record of a resumed run's next attempt, its recorded parameters checked again;
    the earlier attempt's tables, figures and report are cleared, its units and checkpoints kept."""
    run_dir, record = _resumable(study_dir, resume, profile, overrides, env)
    where = f"{study} run {run_dir.name} (recorded)"
    values = effective_parameters(spec, record["parameters"], where=where)
    with contextlib.chdir(root):  # relative paths in parameters are read from the root, as the notebook does
        cfg = check_config(study, values, where=where, data=True)
    _warn_stale_units(run_dir, cfg)
    _warn_code_changed(run_dir, record, env.get("git_commit"))
    _clear_outputs(run_dir)
    # what the earlier attempt ran with (its environment, data and effective config), since units it measured
    # are read back into this one's report
    earlier = {k: record.get(k) for k in ("started", "ended", "status", "error", "hint", "git_commit", "device",
                                          *env)}
    for key in ("uncommitted_patch", "dataset", "effective", "git_commit_notebook"):  # a patch file stays in the
        if key in record:                                                               # run directory
            earlier[key] = record[key]
    record.update(status="running", parameters=values, attempts=[*record.get("attempts", []), earlier],
                  started=now(), **env)
    record["device"] = study_device(values.get("device", "auto"))
    for stale in ("ended", "error", "hint", "effective", "dataset", "report_error", "resumed_units",
                  "uncommitted_patch", "git_commit_notebook", "kernel_differs",
                  *(f"runner_{k}" for k in KERNEL_FIELDS)):
        record.pop(stale, None)
    return run_dir, record


def _resumable(study_dir: Path, resume: str, profile: str | None, overrides: dict[str, Any] | None,
               env: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The run directory and record to resume: ``resume`` is a run id, or "latest" (the newest run of
    ``profile`` that did not end ok). Refuses runs that ended ok, runs still running (same host, live pid),
    runs measured on another device than the one their ``device`` parameter resolves to here, and new parameter
    values."""
    if overrides:
        raise ConfigError(f"--resume reruns a run with its recorded parameters; drop -p {sorted(overrides)}")
    if resume == "latest":
        runs = [r for r in list_runs(study_dir.parent) if r.get("study") == study_dir.name
                and (r.get("profile") or DEFAULT_PROFILE) == (profile or DEFAULT_PROFILE)
                and r.get("status") != "ok"]
        if not runs:
            raise ConfigError(f"no unfinished {study_dir.name} run of profile {profile or DEFAULT_PROFILE!r} under "
                              f"{study_dir} to resume")
        resume = str(runs[0]["run_id"])
    run_dir = study_dir / resume
    if not (run_dir / "config.json").exists():
        raise ConfigError(f"no run {resume!r} to resume: {run_dir / 'config.json'} does not exist")
    try:
        record = read_json(run_dir / "config.json")
    except (OSError, ValueError) as exc:
        record = exc
    if not isinstance(record, dict):
        raise ConfigError(f"run {run_dir} cannot be resumed: its config.json is not a readable run record "
                          f"({record if isinstance(record, Exception) else type(record).__name__})")
    if record.get("status") == "ok":
        raise ConfigError(f"run {run_dir} ended ok: nothing to resume (start a new run instead)")
    if profile is not None and profile != (record.get("profile") or DEFAULT_PROFILE):  # older runs: None
        raise ConfigError(f"run {run_dir} has profile {record.get('profile') or DEFAULT_PROFILE!r}, not {profile!r}")
    if record.get("status") == "running" and record.get("host") == env["host"] and _alive(record.get("pid")):
        raise ConfigError(f"run {run_dir} is still running (pid {record['pid']} on this host)")
    here = study_device((record.get("parameters") or {}).get("device", "auto"))
    if record.get("device") != here:  # its units' timings would mix two devices
        raise ConfigError(f"run {run_dir} was measured on {record.get('device')!r}, here it would run on "
                          f"{here!r}: resume it on the same kind of device, or start a new run")
    return run_dir, record


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _warn_stale_units(run_dir: Path, cfg: Any) -> None:
    """Say so when the kept units belong to another configuration (the config class changed since the earlier
    attempt): they will not be read back."""
    if cfg is None or not (run_dir / PARTIAL_DIR).is_dir():
        return
    kept = sorted(d.name for d in (run_dir / PARTIAL_DIR).iterdir() if d.is_dir())
    if kept and config_key(cfg) not in kept:
        warnings.warn(f"{run_dir / PARTIAL_DIR}: the kept units ({kept}) were made under another configuration "
                      f"than this code builds ({config_key(cfg)}); none will be read back", RuntimeWarning,
                      stacklevel=3)


def _warn_code_changed(run_dir: Path, record: dict[str, Any], commit: str | None) -> None:
    """Say so when this checkout's code is not the earlier attempt's (another commit, or other uncommitted changes
    by their patch's SHA-256, where a patch taken at that attempt's start was recorded): its kept units are read
    back all the same (they are keyed by configuration), so the report would mix two versions of the code."""
    before = record.get("git_commit")
    if before is None or commit is None:
        return
    if before != commit:
        _warn_code(run_dir, f"{before} -> {commit}")
        return
    patch = record.get("uncommitted_patch") or {}
    if not commit.endswith("-dirty") or "sha256" not in patch or patch.get("taken", "at the start") != "at the start":
        return  # the same clean commit, or no patch of this reading of it to compare with
    diff = uncommitted_diff()
    if diff and hashlib.sha256(diff.encode()).hexdigest() != patch["sha256"]:
        _warn_code(run_dir, f"{commit}, other uncommitted changes")


def _warn_code(run_dir: Path, what: str) -> None:
    warnings.warn(f"{run_dir}: the code is not the earlier attempt's ({what}); its kept units are read back as that "
                  "code made them: start a new run to measure this code alone", RuntimeWarning, stacklevel=4)


def _clear_outputs(run_dir: Path) -> None:
    """Before a resumed attempt: the tables, figures, notebook and report of the earlier one go (the attempt
    writes them anew, reading finished units back); ``partial/``, checkpoints and the record stay."""
    for f in run_dir.iterdir():
        if f.is_file() and (f.suffix in (".csv", ".png", ".html", ".ipynb") or f.name == "effective_config.json"):
            f.unlink()


def describe(study: str, root: Path | None = None) -> str:
    """A study's profiles (``--profile``), then its parameters, types, defaults and help, one per line."""
    spec = parameters(notebook_path(study, root))
    width = max(len(n) for n in spec)
    lines = [f"{study}:  (profiles: {', '.join(profiles(study, root)) or 'none'})"]
    for p in spec.values():
        lines.append(f"  {p.name:<{width}}  {p.type:<10} = {p.default!r:<14}  {p.help}")
    return "\n".join(lines)


__all__ = ["run_study", "write_index", "describe", "export_html", "ConfigError"]
