"""The line reader's error positions: bad UTF-8 and a truncated gzip are reported at their exact line.

Ground truth: the line a bad byte was written on, and for a truncated gzip the lines zlib can still decompress
from the cut bytes, plus one. Does not prove: exact lines for other codecs' corruption (xz is only checked for
bad UTF-8 in an intact stream).
"""
from __future__ import annotations

import gzip
import io
import lzma
import zlib

import pytest

from workbench.xmc.deb822 import iter_stanzas
from workbench.xmc.errors import DataFormatError, iter_lines, split_lines

BAD_LINE = 3001  # well past the first 8 KB chunk a text-mode reader decodes at once


def _with_bad_byte(lines: list[bytes], at: int) -> bytes:
    lines = list(lines)
    lines[at - 1] = lines[at - 1][:3] + b"\xff" + lines[at - 1][3:]
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("name", ["f.txt", "f.txt.gz"])
def test_bad_utf8_names_its_line(tmp_path, name):
    raw = _with_bad_byte([f"{i} 1:0.5 2:0.25 caf\u00e9".encode() for i in range(1, 5001)], BAD_LINE)
    p = tmp_path / name
    p.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    with pytest.raises(DataFormatError, match=f"{name}:{BAD_LINE}: unreadable") as e:
        for _ in iter_lines(p):
            pass
    assert e.value.line == BAD_LINE


@pytest.mark.parametrize("name", ["Packages", "Packages.gz", "Packages.xz"])
def test_bad_utf8_in_debian_index_names_its_line(tmp_path, name):
    lines = []
    for i in range(1000):  # 4 lines per stanza with the blank separator: line 3001 is a Package line
        lines += [f"Package: p{i}".encode(), b"Description-en: caf\xc3\xa9", b" long text", b""]
    raw = _with_bad_byte(lines, BAD_LINE)
    comp = {"Packages": lambda b: b, "Packages.gz": gzip.compress, "Packages.xz": lzma.compress}[name]
    p = tmp_path / name
    p.write_bytes(comp(raw))
    with pytest.raises(DataFormatError, match=f"{name}:{BAD_LINE}: unreadable"):
        list(iter_stanzas(p))


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.77, 0.999])
def test_truncated_gzip_names_first_incomplete_line(tmp_path, fraction):
    raw = b"".join(f"{i} ".encode() + b"x" * (i * 7 % 150) + b"\n" for i in range(1, 20001))
    cut = gzip.compress(raw)
    cut = cut[: int(len(cut) * fraction)]
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    p = tmp_path / "t.txt.gz"
    p.write_bytes(cut)
    seen = 0
    with pytest.raises(DataFormatError, match="t.txt.gz") as e:
        for seen, _ in iter_lines(p):
            pass
    assert e.value.line == readable.count(b"\n") + 1 == seen + 1


@pytest.mark.parametrize("data", [b"", b"a", b"a\n", b"\n\n", b"ab\ncd\r\nlong" + b"z" * 50 + b"\nend",
                                  b"x" * 40 + b"\n"])
def test_split_lines_matches_bytes_split(data):
    want = data.split(b"\n")
    if want[-1] == b"":  # a final newline ends the last line, it does not start another
        want.pop()
    assert list(split_lines(io.BytesIO(data), size=3)) == want
