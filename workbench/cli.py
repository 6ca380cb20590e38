"""``python -m workbench``: run studies, list their parameters, rebuild the index, build datasets."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from pathlib import Path

from .config import ConfigError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m workbench", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute one study notebook into reports/<study>/<run_id>/")
    run.add_argument("study")
    run.add_argument("--profile", help="notebooks/params/<study>/<profile>.yaml (`list` names each study's)")
    run.add_argument("-p", dest="params", action="append", default=[], metavar="NAME=VALUE",
                     help="override one parameter (value read as YAML); repeatable")
    run.add_argument("--reports", type=Path, help="reports directory (default: <repo>/reports)")
    run.add_argument("--like", type=Path, metavar="RUN",
                     help="a run's directory or its config.json (e.g. beside a shared report): a new run with that "
                          "run's recorded parameters in place of a profile's; -p on top")
    run.add_argument("--resume", nargs="?", const="latest", metavar="RUN_ID",
                     help="run a failed run again in its directory with its recorded parameters, reading back "
                          "the units it finished (default: the newest unfinished run of --profile)")
    allp = sub.add_parser("run-all", help="run every study at its defaults (or a profile)")
    allp.add_argument("--profile", help="a profile every study has (cpu, gpu); default: each notebook's defaults")
    allp.add_argument("--reports", type=Path)
    sub.add_parser("list", help="list studies with their profiles and parameters (types, defaults, help)")
    idx = sub.add_parser("index", help="rebuild reports/index.html")
    idx.add_argument("--reports", type=Path)
    data = sub.add_parser("data", help="dataset builders: data build debian ... (data -h: their options)")
    data.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


class _DeadKernelNoise(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" record for a ``DeadKernelError``: after a Ctrl-C,
    nbclient's abandoned kernel task logs that traceback under the one-line error that already says how the run
    ended. Other asyncio errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return type(record.exc_info[1] if record.exc_info else None).__name__ != "DeadKernelError"


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum} (e.g. `timeout`)")


def _studies() -> list[str]:
    """Every study notebook; none (a checkout without notebooks/) is an error, not an empty list."""
    from . import notebooks
    found = notebooks.studies()
    if not found:
        raise ConfigError(f"no study notebooks in {notebooks.notebooks_dir()}; run from the workbench checkout "
                          "(the folder holding notebooks/)")
    return found


def _failed_run(exc: BaseException) -> str | None:
    """For a run that failed once started (the runner set ``exc.run_dir``): what failed, in one line (a cell's
    exception and its cell, not papermill's header), and where its report is; else None (an internal error)."""
    from . import runner
    run_dir = getattr(exc, "run_dir", None)
    if run_dir is None:
        return None
    report = run_dir / "report.html"
    where = f"report: {report}" if report.exists() else f"record: {run_dir / 'config.json'}"
    return f"{runner.error_line(exc)}; {where}"


def _run_one(args) -> int:
    """``run``: one study; a failed run prints one line (and the resume hint, when units were kept), exit 1."""
    from . import notebooks, runner
    types = ({n: p.type for n, p in notebooks.parameters(notebooks.notebook_path(args.study)).items()}
             if args.params else {})
    pairs = [notebooks.parse_assignment(p, types) for p in args.params]
    if twice := sorted({n for n, _ in pairs if [m for m, _ in pairs].count(n) > 1}):
        raise ConfigError(f"-p sets {twice} more than once; give each parameter once")
    overrides = dict(pairs)
    try:
        run_dir = runner.run_study(args.study, args.profile, overrides, reports=args.reports, progress=True,
                                   resume=args.resume, like=args.like)
    except (Exception, KeyboardInterrupt) as exc:
        line = _failed_run(exc)
        if line is None:
            raise
        print(f"error: {line}", *getattr(exc, "__notes__", []), sep="\n", file=sys.stderr)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    print(f"ok: {run_dir}/report.html")
    return 0


def _run_all(args) -> int:
    """``run-all``: every study in turn; one failed study does not stop the others."""
    from . import runner
    failed, studies = [], _studies()
    for i, study in enumerate(studies):
        print(f"== {study}", flush=True)
        try:
            run_dir = runner.run_study(study, args.profile, reports=args.reports, progress=True)
            print(f"ok: {run_dir}/report.html", flush=True)
        except KeyboardInterrupt as exc:  # Ctrl-C or a time box: stop here, say what did not run
            line = _failed_run(exc) or f"{study} interrupted before its run began"
            print(f"error: {line}", *getattr(exc, "__notes__", []), sep="\n", file=sys.stderr)
            if rest := studies[i + 1:]:
                print(f"not run: {rest}", file=sys.stderr)
            return 130
        except Exception as exc:  # keep going: one failed study must not hide the others' reports
            line = _failed_run(exc) or (f"{exc}" if isinstance(exc, ConfigError) else None)
            if line is None:  # an internal error: its traceback
                traceback.print_exc()
                line = f"{type(exc).__name__}: {exc}"
            print(f"FAILED: {study}: {line}", *getattr(exc, "__notes__", []), sep="\n", file=sys.stderr,
                  flush=True)
            failed.append(study)
    if failed:
        print(f"failed studies: {failed}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["data"]:  # the builders parse their own arguments, -h included (REMAINDER misses a leading -h)
        from .datasets_cli import main as data_main
        from .xmc.errors import DataFormatError
        try:
            return data_main(argv[1:])
        except (FileNotFoundError, DataFormatError) as exc:  # a missing or malformed source file: its message, once
            print(f"error: {exc}", file=sys.stderr)
            return 2
    args = _parser().parse_args(argv)
    from . import runner
    if args.cmd in ("run", "run-all"):
        # a time box (`timeout` sends SIGTERM) or a closed terminal (SIGHUP) must still leave a run marked failed
        # with its partial report
        signal.signal(signal.SIGTERM, _terminate)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, _terminate)
        log = logging.getLogger("asyncio")
        if not any(isinstance(f, _DeadKernelNoise) for f in log.filters):
            log.addFilter(_DeadKernelNoise())
    try:
        if args.cmd == "list":
            print("\n\n".join(runner.describe(s) for s in _studies()))
        elif args.cmd == "index":
            from .pages import write_index
            from .report import repo_root
            if args.reports is not None and not args.reports.is_dir():  # a typo would write an empty index there
                raise ConfigError(f"--reports {args.reports}: no such directory (the folder holding the studies' "
                                  "run folders, e.g. reports/)")
            try:
                print(write_index(args.reports or repo_root() / "reports"))
            except OSError as exc:
                raise ConfigError(f"cannot write the index: {exc}") from None
        elif args.cmd == "run":
            return _run_one(args)
        elif args.cmd == "run-all":
            return _run_all(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
