"""Fuzzing the image readers: whatever bytes an IDX file or a CIFAR-10 tarball holds, the reader returns arrays that
match their header or raises DataFormatError naming the file, nothing else (no numpy ValueError naming no file).

Does not prove: that accepted input is the dataset it claims to be (IDX has no checksum), nor anything about
damage far from the shapes drawn here.
"""
from __future__ import annotations

import gzip
import io
import math
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.spectra.data import _decode_cifar_tar, read_idx
from workbench.xmc.errors import DataFormatError

# derandomize: the same examples every run, so a failure reproduces and CI does not flake on a rare draw
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(header=st.lists(st.integers(0, 255), max_size=14), body=st.binary(max_size=24), magic=st.booleans(),
       gz=st.booleans())
def test_fuzz_idx(tmp_path, header, body, magic, gz):
    """Mostly a valid magic (0 0 8), then a rank byte and dimension bytes that may be cut short or disagree."""
    raw = (bytes([0, 0, 8]) if magic else b"") + bytes(header) + body
    path = tmp_path / ("t.idx.gz" if gz else "t.idx")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    try:
        arr = read_idx(path)
    except DataFormatError as e:
        assert str(e).startswith(str(path))
        return
    assert arr.size == math.prod(arr.shape) == len(raw) - 4 - 4 * arr.ndim


@pytest.mark.parametrize("raw, message", [
    (bytes([0, 0, 8, 3, 0, 0]), "header of 3 dimensions needs 16 bytes, the file has 6"),
    (bytes([0, 0, 8, 4]) + b"\xff\xff\xff\xff" * 4,
     r"header says \[4294967295, .*\] = 3402823\d+ values, file holds 0"),
])
def test_idx_cut_header_or_overflowing_sizes_name_the_file(tmp_path, raw, message):
    """A header cut inside its dimensions, and four 2^32-1 sizes whose product overflows int64."""
    path = tmp_path / "t.idx"
    path.write_bytes(raw)
    with pytest.raises(DataFormatError, match=rf"t\.idx: {message}"):
        read_idx(path)


members = st.sampled_from(["r/train/cat/1.jpg", "r/test/dog/2.jpg", "r/train/x/1.jpg", "a.jpg",
                           "r/b/train/cat/3.jpg", "r/test/cat/4.png", "r/valid/cat/5.jpg"])


@SETTINGS
@given(names=st.lists(members, max_size=4), payload=st.binary(max_size=30), cut=st.integers(0, 300))
def test_fuzz_cifar_tarball(tmp_path, names, payload, cut):
    """Tarballs of odd member names holding bytes that are not JPEGs, whole or cut short."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    path = tmp_path / "c.tar.gz"
    path.write_bytes(buf.getvalue()[:cut or None])
    with pytest.raises(DataFormatError, match=rf"^{path}"):  # no member here is a decodable JPEG
        _decode_cifar_tar(path)
