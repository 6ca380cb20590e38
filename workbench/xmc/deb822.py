"""Debian's RFC-822 style index files (``Packages``, ``Translation-en``; plain, ``.xz`` or ``.gz``).

Stanzas are separated by blank lines; ``Field: value`` starts a field, a line starting with a space or tab
continues the previous field. A continuation line ``" ."`` is an empty paragraph line in descriptions.
"""
from __future__ import annotations

import gzip
import lzma
import re
from pathlib import Path
from typing import IO, Iterator

from .errors import DataFormatError, decoded_lines

_FIELD = re.compile(r"^([!-9;-~][!-9;-~]*):[ \t]*(.*)$")  # RFC 822 field name: printable, no colon


def _open(path: Path) -> IO[bytes]:
    """Binary, so :func:`decoded_lines` can decode line by line and name a bad byte's exact line."""
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_stanzas(path: str | Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(first_line_number, {field: value})``; continuation lines are joined with ``"\\n"``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: pass a Debian index file (e.g. from /var/lib/apt/lists/ "
                                "after `apt-get update -o Acquire::Languages=en`)")
    stanza: dict[str, str] = {}
    start, last = 0, None
    try:
        f = _open(path)
    except OSError as e:
        raise DataFormatError(path, None, f"unreadable ({type(e).__name__}: {e})") from None
    with f:
        for lineno, line in decoded_lines(path, f, (lzma.LZMAError,)):
            if not line.strip():
                if stanza:
                    yield start, stanza
                stanza, last = {}, None
                continue
            if line[0] in " \t":
                if last is None:
                    raise DataFormatError(path, lineno, "continuation line outside a field")
                stanza[last] += "\n" + line[1:]
                continue
            m = _FIELD.match(line)
            if not m:
                raise DataFormatError(path, lineno, f"expected 'Field: value', got {line[:60]!r}")
            if not stanza:
                start = lineno
            last = m.group(1)
            stanza[last] = m.group(2)
    if stanza:
        yield start, stanza


def long_description(value: str) -> str:
    """A ``Description-en`` value's long part (after the summary line) as one line of text."""
    lines = value.split("\n")[1:]
    return " ".join(" ".join(ln.split()) for ln in lines if ln.strip() not in ("", ".")).strip()
