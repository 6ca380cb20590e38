"""One error for every malformed XMC file, and the line reader that raises it with file and line."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Iterator


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file and (where known) the 1-based line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


def open_text(path: str | Path):
    """Open a UTF-8 text file, transparently gunzipping ``*.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="\n")
    return open(path, "rt", encoding="utf-8", newline="\n")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line_without_newline)``; a truncated gzip or bad UTF-8 becomes a DataFormatError."""
    lineno = 0
    try:
        with open_text(path) as f:
            for lineno, line in enumerate(f, start=1):
                yield lineno, line.rstrip("\n").rstrip("\r")
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise DataFormatError(path, lineno + 1, f"unreadable ({type(e).__name__}: {e})") from None


def read_all_lines(path: str | Path) -> list[str]:
    return [line for _, line in iter_lines(path)]


def find_file(directory: Path, name: str) -> Path | None:
    """``directory/name`` or its gzipped twin ``name.gz``, whichever exists (plain first)."""
    for cand in (directory / name, directory / (name + ".gz")):
        if cand.exists():
            return cand
    return None


def parse_int(path, lineno: int, token: str, what: str, lo: int = 0, hi: int | None = None) -> int:
    """``int(token)`` checked to lie in ``[lo, hi)``, else a DataFormatError naming ``what``."""
    try:
        v = int(token)
    except ValueError:
        raise DataFormatError(path, lineno, f"{what} {token!r} is not an integer") from None
    if v < lo or (hi is not None and v >= hi):
        raise DataFormatError(path, lineno, f"{what} {v} out of range [{lo}, {hi})")
    return v


def parse_float(path, lineno: int, token: str, what: str) -> float:
    try:
        v = float(token)
    except ValueError:
        raise DataFormatError(path, lineno, f"{what} {token!r} is not a number") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise DataFormatError(path, lineno, f"{what} {token!r} is not finite")
    return v
