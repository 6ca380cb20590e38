"""The README's package map names every module of the package, each under its own subpackage's heading.

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
