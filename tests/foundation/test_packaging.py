"""environment.yml and pyproject.toml must ask for the same dependencies."""
import re
import tomllib

import yaml

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _names(specs):
    return {re.split(r"[<>=!~ \[]", s.strip(), maxsplit=1)[0].lower().replace("_", "-"): s.replace(" ", "")
            for s in specs}


def test_environment_matches_pyproject():
    proj = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(proj["dependencies"]) + [d for deps in proj["optional-dependencies"].values() for d in deps]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pip = [p for p in pip if not p.startswith("-e")]
    assert _names(pip) == _names(wanted)
