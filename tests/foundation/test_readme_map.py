"""The README's package map names every module of the package, each under its own subpackage's heading; its run
examples name real studies and profiles with valid parameters.

Does not prove: that the one-line descriptions are accurate."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sections(readme: str) -> dict[str, str]:
    """The map's text per package: "" for the top level, else the subpackage's name."""
    text = readme.split("## Package map", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^`workbench/(\w+)/`.*$", text, flags=re.M)
    return {"": parts[0], **{parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}}


def test_every_module_is_in_the_package_map():
    sections = _sections((ROOT / "README.md").read_text())
    missing = []
    for path in sorted((ROOT / "workbench").rglob("*.py")):
        rel = path.relative_to(ROOT / "workbench")
        if path.name == "__init__.py":
            continue
        if len(rel.parts) == 1:
            if f"`{path.name}`" not in sections[""] and f"`workbench/{path.name}`" not in sections[""]:
                missing.append(str(rel))
        elif f"- `{path.name}`:" not in sections.get(rel.parts[0], ""):
            missing.append(str(rel))
    assert not missing, f"README.md's package map lacks {missing}"


def _readme_run_commands() -> list[list[str]]:
    """The arguments after ``-m workbench`` of every ``run`` command in the README's code blocks (shell-split)."""
    import shlex
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line.split("#", 1)[0] for block in blocks for line in block.splitlines()]
    return [shlex.split(line.split("-m workbench", 1)[1]) for line in lines
            if "-m workbench run " in line and "--resume" not in line]


def test_readme_run_commands_are_valid():
    """Every ``python -m workbench run STUDY [--profile P] [-p NAME=VALUE ...]`` example in the README names a study
    and profile that exist, and its parameters pass the study's checks (as the runner checks them before any
    work). Catches examples gone stale (e.g. ``-p seeds=5`` where ``seeds`` is a list). Does not run them."""
    from workbench.cli import _parser
    from workbench.notebooks import (check_config, effective_parameters, load_profile, notebook_path, parameters,
                                     parse_assignment)
    commands = _readme_run_commands()
    assert len(commands) >= 3, "the README's run examples were not found"
    for argv in commands:
        args = _parser().parse_args(argv)
        spec = parameters(notebook_path(args.study, ROOT))
        overrides = {**load_profile(args.study, args.profile, ROOT), **dict(map(parse_assignment, args.params))}
        check_config(args.study, effective_parameters(spec, overrides, " ".join(argv)), " ".join(argv))
