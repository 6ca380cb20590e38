"""``python -m workbench``: run studies, list their parameters, rebuild the index, build datasets."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .config import ConfigError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m workbench", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute one study notebook into reports/<study>/<run_id>/")
    run.add_argument("study")
    run.add_argument("--profile", help="notebooks/params/<study>/<profile>.yaml")
    run.add_argument("-p", dest="params", action="append", default=[], metavar="NAME=VALUE",
                     help="override one parameter (value read as YAML); repeatable")
    run.add_argument("--reports", type=Path, help="reports directory (default: <repo>/reports)")
    run.add_argument("--resume", nargs="?", const="latest", metavar="RUN_ID",
                     help="run a failed run again in its directory with its recorded parameters, reading back "
                          "the units it finished (default: the newest unfinished run of --profile)")
    allp = sub.add_parser("run-all", help="run every study at its defaults (or a profile)")
    allp.add_argument("--profile")
    allp.add_argument("--reports", type=Path)
    sub.add_parser("list", help="list studies with their parameters, types, defaults and help")
    idx = sub.add_parser("index", help="rebuild reports/index.html")
    idx.add_argument("--reports", type=Path)
    data = sub.add_parser("data", help="dataset builders: data build debian ...")
    data.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum} (e.g. `timeout`)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import notebooks, runner
    if args.cmd in ("run", "run-all"):
        # a time box (`timeout` sends SIGTERM) must still leave a run marked failed with its partial report
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.cmd == "list":
            print("\n\n".join(runner.describe(s) for s in notebooks.studies()))
        elif args.cmd == "index":
            from .report import repo_root
            print(runner.write_index(args.reports or repo_root() / "reports"))
        elif args.cmd == "run":
            overrides = dict(notebooks.parse_assignment(p) for p in args.params)
            run_dir = runner.run_study(args.study, args.profile, overrides, reports=args.reports, progress=True,
                                       resume=args.resume)
            print(f"ok: {run_dir}/report.html")
        elif args.cmd == "run-all":
            failed = []
            for study in notebooks.studies():
                print(f"== {study}", flush=True)
                try:
                    run_dir = runner.run_study(study, args.profile, reports=args.reports, progress=True)
                    print(f"ok: {run_dir}/report.html", flush=True)
                except Exception as exc:  # keep going: one failed study must not hide the others' reports
                    print(f"FAILED: {study}: {type(exc).__name__}: {str(exc)[:500]}", file=sys.stderr, flush=True)
                    failed.append(study)
            if failed:
                print(f"failed studies: {failed}", file=sys.stderr)
                return 1
        elif args.cmd == "data":
            from .datasets_cli import main as data_main
            return data_main(args.rest)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
