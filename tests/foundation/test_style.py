"""The house style's line length: no line of the package, the tests or the scripts runs past 120 characters.

Does not prove: anything else of the style (names, file sizes, one role per file); notebooks are left out (a
parameter's help is one comment on its line)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_python_lines_fit_in_120_characters():
    long = [f"{p.relative_to(REPO)}:{i} ({len(line)})"
            for folder in ("workbench", "tests", "scripts") for p in sorted((REPO / folder).rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if len(line) > 120]
    assert not long, f"lines over 120 characters: {long}"
