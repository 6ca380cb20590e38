"""The bag-of-words split layout (``<Name>_data.txt`` + ``<name>_trSplit.txt`` / ``<name>_tstSplit.txt``).

Checked on a hand-written fixture in the repository's exact layout (mixed-case prefix as in its Bibtex zip,
three split columns) against matrices computed by hand, and on malformed files (error names file and line).
Does not prove: that the repository's real files parse (no copy is in ../shared/data).
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.xmc.bow import find_split_files, load_bow_split, read_split
from workbench.xmc.errors import DataFormatError
from workbench.xmc.load import detect_layout, load_dataset

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc" / "bow_split"
# the five points of Tiny_data.txt, by hand: labels and features
Y = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0], [0, 0, 1]], np.float32)
X = np.array([[1.5, 0, 0, 1], [0, 2, 0, 0], [0, 0, 0.5, 0], [1, 1, 0, 0], [0, 0, 0, 2.5]], np.float32)
# 1-based rows of the split files' columns, minus one
TRAIN = {0: [0, 2, 4], 1: [1, 3, 0], 2: [4, 0, 1]}
TEST = {0: [1, 3], 1: [2, 4], 2: [2, 3]}


def dense(m):
    return np.asarray(m.todense())


@pytest.mark.parametrize("split", [0, 1, 2])
def test_split_fixture_values(split):
    ds = load_dataset(FIX, split=split)
    assert ds.name == f"xmc-bow_split-split{split}"
    np.testing.assert_array_equal(dense(ds.Y_train), Y[TRAIN[split]])
    np.testing.assert_array_equal(dense(ds.Y_test), Y[TEST[split]])
    np.testing.assert_allclose(dense(ds.X_train), X[TRAIN[split]])
    np.testing.assert_allclose(dense(ds.X_test), X[TEST[split]])
    assert ds.Y_train.dtype == np.float32 and ds.X_test.dtype == np.float32


def test_default_split_is_zero_and_layout_detected():
    assert detect_layout(FIX) == "bow_split"
    assert sorted(p.name for p in find_split_files(FIX).values()) == [
        "Tiny_data.txt", "tiny_trSplit.txt", "tiny_tstSplit.txt"]
    np.testing.assert_array_equal(dense(load_bow_split(FIX).Y_train), Y[TRAIN[0]])


def test_gzipped_split_files(tmp_path):
    for p in FIX.iterdir():
        (tmp_path / (p.name + ".gz")).write_bytes(gzip.compress(p.read_bytes()))
    ds = load_dataset(tmp_path, split=1)
    np.testing.assert_allclose(dense(ds.X_test), X[TEST[1]])


def _copy(tmp_path):
    d = tmp_path / "bibtex"
    shutil.copytree(FIX, d)
    return d


@pytest.mark.parametrize("body, line, what", [
    ("1 2 x\n", 1, "point index 'x' is not an integer"),
    ("1 2 3\n1 0 3\n", 2, r"point index 0 out of range \[1, 6\)"),
    ("1 2 3\n6 2 3\n", 2, r"point index 6 out of range \[1, 6\)"),
    ("1 2 3\n1 2\n", 2, "ragged columns: 2 indices, line 1 has 3"),
    ("1 2 3\n1 2 3 4\n", 2, "ragged columns"),
    ("1 2 3\n\n1 2 3\n", 2, "empty line"),
    ("", 1, "empty file"),
    ("1 2.0 3\n", 1, "not an integer"),
])
def test_split_errors_name_file_and_line(tmp_path, body, line, what):
    d = _copy(tmp_path)
    p = d / "tiny_tstSplit.txt"
    p.write_text(body)
    with pytest.raises(DataFormatError, match=what) as e:
        load_dataset(d)
    assert e.value.path == str(p) and e.value.line == line and f"{p}:{line}:" in str(e.value)


@pytest.mark.parametrize("name, body, line, what", [
    ("tiny_trSplit.txt", "1 2 5\n3 4 1\n1 1 2\n", 3, "point index 1 of split 0 is given twice"),
    ("tiny_tstSplit.txt", "2 3 3\n3 5 4\n", 2, "point index 3 of split 0 is in tiny_trSplit.txt too"),
])
def test_a_point_repeated_in_a_split_or_shared_by_train_and_test_is_refused(tmp_path, name, body, line, what):
    """Before: both loaded; a repeat weighs a point twice, a shared point is a test point seen in training. The
    error names the line of the repeat (the second 1) or of the test point found in train (3)."""
    d = _copy(tmp_path)
    p = d / name
    p.write_text(body)
    with pytest.raises(DataFormatError, match=what) as e:
        load_dataset(d)
    assert e.value.path == str(p) and e.value.line == line


@pytest.mark.parametrize("split", [3, -1])
def test_split_number_out_of_range(split):
    with pytest.raises(DataFormatError, match=rf"tiny_trSplit.txt:1: split {split} out of range \[0, 3\)"):
        load_dataset(FIX, split=split)


def test_trailing_blank_lines_ignored(tmp_path):
    p = tmp_path / "x_trSplit.txt"
    p.write_text("2 1\n1 2\n\n  \n")
    assert read_split(p, 1, 2).tolist() == [0, 1]


def test_bad_data_file_and_missing_split(tmp_path):
    d = _copy(tmp_path)
    (d / "Tiny_data.txt").write_text("5 4 3\n0,2 0:1.5 9:1\n")
    with pytest.raises(DataFormatError, match=r"Tiny_data.txt:2: feature index 9"):
        load_dataset(d)
    (d / "tiny_tstSplit.txt").unlink()
    assert detect_layout(d) is None
    with pytest.raises(DataFormatError, match="split layout needs"):
        load_bow_split(d)


def test_two_split_datasets_in_one_directory_are_refused(tmp_path):
    d = _copy(tmp_path)
    for p in list(d.iterdir()):
        shutil.copy(p, d / p.name.replace("iny", "wo"))
    with pytest.raises(DataFormatError, match="several split-layout datasets"):
        load_dataset(d)


def test_split_argument_refused_for_other_layouts():
    with pytest.raises(ValueError, match="split=1 needs"):
        load_dataset(FIX.parent / "bow", split=1)


@pytest.mark.parametrize("column, line, index", [
    ([1, 2, 1, 2], 3, 1),  # two repeats: the first one's line (the second 1), not the second 2's
    ([5, 35, 21, 19, 3, 4, 36, 25, 12, 32, 2, 1, 23, 31, 22, 11, 31, 10, 7, 27, 20, 24, 9, 17, 28, 13, 29, 14, 8, 6,
      18, 26, 15, 30, 34, 16], 17, 31),  # 36 rows, 31 on lines 14 and 17: the later line, whatever the sort
])
def test_a_repeated_point_is_reported_at_the_line_of_its_first_repeat(tmp_path, column, line, index):
    """The error names the line that repeats an index already given, the earliest such line."""
    p = tmp_path / "t_trSplit.txt"
    p.write_text("".join(f"{i}\n" for i in column))
    with pytest.raises(DataFormatError, match=f"point index {index} of split 0 is given twice") as e:
        read_split(p, 0, len(column))
    assert e.value.line == line


@pytest.mark.parametrize("body", ["3 2 2\n2 3 3\n", "3 2 2\n5 3 3\n"])
def test_a_shared_point_is_named_by_its_first_test_split_line(tmp_path, body):
    """Train's column 0 is points 1, 3, 5. Test's 3 then 2: point 3 on test's line 1 is shared (train lists it on
    line 2, which must not be named); test's 3 then 5: both shared, the first (line 1) is named."""
    d = _copy(tmp_path)
    p = d / "tiny_tstSplit.txt"
    p.write_text(body)
    with pytest.raises(DataFormatError, match="point index 3 of split 0 is in tiny_trSplit.txt too") as e:
        load_dataset(d)
    assert e.value.path == str(p) and e.value.line == 1
