"""``python -m workbench data build NAME ...``: the dataset builders' command line."""
from __future__ import annotations

import argparse


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m workbench data")
    sub = ap.add_subparsers(dest="action", required=True)
    build = sub.add_parser("build", help="build a dataset from source files")
    build.add_argument("name", choices=["debian"])
    build.add_argument("rest", nargs=argparse.REMAINDER, help="the builder's own options (see --help)")
    args = ap.parse_args(argv)
    if args.name == "debian":
        from .xmc.debian import cli_main
        return cli_main(args.rest)
    return 2
