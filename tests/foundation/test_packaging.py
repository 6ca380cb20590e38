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
    """The same packages and specs, except torch: conda pins the version the Makefile installs (and CI tests),
    where pyproject.toml keeps a range so that a GPU machine's CUDA build stays."""
    proj = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _names(list(proj["dependencies"]) + [d for deps in proj["optional-dependencies"].values() for d in deps])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = _names([p for p in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
                  if not p.startswith("-e")])
    make_torch = re.search(r"^TORCH\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    assert pip.pop("torch") == make_torch and "torch" in wanted
    wanted.pop("torch")
    assert pip == wanted
