"""Readers of the published XMC layouts on hand-written fixtures (exact expected matrices), and their errors.

Does not prove: that every real XC-repo file parses (only the layouts as documented; Mulan files are checked
on the real Bibtex/Delicious when ../shared/data is present).
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.xmc.arff import read_arff, read_mulan_labels
from workbench.xmc.bow import load_bow, load_bow_split, read_bow
from workbench.xmc.errors import DataFormatError
from workbench.xmc.load import load_dataset, load_mulan
from workbench.xmc.metrics import AB_PRESETS, propensity_ab
from workbench.xmc.raw_text import read_label_matrix, write_raw_text

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc"


def dense(m):
    return np.asarray(m.todense())


def test_lf_json_fixture():
    ds = load_dataset(FIX / "lf_json")
    assert ds.train_texts == ["red running shoes", "blue socks", "trail shoes"]
    assert ds.label_texts == ["running shoes", "socks", "laces"]
    np.testing.assert_array_equal(dense(ds.Y_train), [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dense(ds.Y_test), [[1, 1, 0], [0, 0, 1]])
    assert ds.filter_train.shape == (0, 2) and ds.filter_test.tolist() == [[1, 2]]
    full = load_dataset(FIX / "lf_json", variant="full")
    assert full.train_texts[0] == "red running shoes Light shoes for road running."
    assert full.train_texts[1] == "blue socks"
    # the Debian variants' names select the same text modes ("fulltext" once asked for a missing sub-folder)
    assert load_dataset(FIX / "lf_json", variant="fulltext").train_texts == full.train_texts
    assert load_dataset(FIX / "lf_json", variant="titles").train_texts == ds.train_texts


def test_raw_text_fixture_and_roundtrip(tmp_path):
    ds = load_dataset(FIX / "raw_text")
    np.testing.assert_array_equal(dense(ds.Y_train), [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(dense(ds.Y_test), [[0.5, 1, 0], [0, 0, 1]])
    assert ds.test_texts == ["running socks", "laces"] and ds.filter_test.tolist() == [[1, 2]]
    write_raw_text(ds, tmp_path / "copy", gz=True)
    back = load_dataset(tmp_path / "copy")
    assert (back.Y_train != ds.Y_train).nnz == 0 and (back.Y_test != ds.Y_test).nnz == 0
    assert back.train_texts == ds.train_texts and back.label_texts == ds.label_texts
    assert back.filter_test.tolist() == [[1, 2]]


def test_bow_fixture():
    ds = load_dataset(FIX / "bow")
    np.testing.assert_allclose(dense(ds.X_train), [[1.5, 0, 0, 1], [0, 2, 0, 0], [0, 0, 0.5, 0]])
    np.testing.assert_array_equal(dense(ds.Y_train), [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dense(ds.Y_test), [[1, 1, 0], [0, 0, 1]])


def test_mulan_fixture_sparse_dense_quoted():
    ds = load_mulan(FIX / "mulan")
    assert ds.name == "tiny" and ds.label_texts == ["a", "b"]
    np.testing.assert_allclose(dense(ds.X_train), [[1, 0, 0.5], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dense(ds.Y_train), [[1, 0], [1, 1], [0, 0]])
    np.testing.assert_allclose(dense(ds.X_test), [[1, 0, 2], [0, 1, 0]])  # first row is dense
    np.testing.assert_array_equal(dense(ds.Y_test), [[0, 1], [0, 1]])
    assert ds.train_texts == ["w0 w2", "w 1", ""]
    assert load_dataset(FIX / "mulan").Y_train.shape == (3, 2)


def test_mulan_real(shared_path):
    sets = (("bibtex", (4880, 159), 2.40), ("delicious", (12920, 983), 19.02))
    dirs = {name: shared_path(f"mulan-{name}", f"{name}-train.arff*", f"{name}-test.arff*", f"{name}.xml")
            for name, _, _ in sets}
    for name, shape, lpp in sets:
        ds = load_mulan(dirs[name])
        assert ds.Y_train.shape == shape
        assert abs(ds.Y_train.nnz / shape[0] - lpp) < 0.05


def test_missing_dirs_say_what_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="Extreme Classification Repository"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="mulan"):
        load_mulan(tmp_path)
    with pytest.raises(DataFormatError, match="no known XMC layout"):
        load_dataset(tmp_path)


def _copy(tmp_path, layout):
    d = tmp_path / layout
    shutil.copytree(FIX / layout, d)
    return d


@pytest.mark.parametrize("body, line, what", [
    ("3\n0:1\n", 1, "header"),
    ("2 3\n0:1\n", None, "header announces 2 rows"),
    ("1 3\n5:1\n", 2, "out of range"),
    ("1 3\nx:1\n", 2, "not an integer"),
    ("1 3\n1:abc\n", 2, "not a number"),
    ("1 3\n1:1\n2:1\n", 3, "more than"),
])
def test_label_matrix_errors_name_file_and_line(tmp_path, body, line, what):
    p = tmp_path / "trn_X_Y.txt"
    p.write_text(body)
    with pytest.raises(DataFormatError, match=what) as e:
        read_label_matrix(p)
    assert e.value.path == str(p) and e.value.line == line
    assert str(p) in str(e.value)


def test_truncated_gzip(tmp_path):
    d = _copy(tmp_path, "lf_json")
    raw = (d / "trn.json.gz").read_bytes()
    (d / "trn.json.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match="trn.json.gz"):
        load_dataset(d)


def test_lf_json_bad_label_names_line(tmp_path):
    d = _copy(tmp_path, "lf_json")
    rows = gzip.decompress((d / "tst.json.gz").read_bytes()).decode().splitlines()
    rows[1] = rows[1].replace('"target_ind": [2]', '"target_ind": [7]')
    (d / "tst.json.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    with pytest.raises(DataFormatError, match=r"tst.json.gz:2: label id 7"):
        load_dataset(d)


def test_raw_text_count_mismatch(tmp_path):
    d = _copy(tmp_path, "raw_text")
    (d / "Y.txt").write_text("only one label\n")
    with pytest.raises(DataFormatError, match="Y.txt"):
        load_dataset(d)


def test_bow_and_arff_errors(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("1 2 2\n0 5:1\n")
    with pytest.raises(DataFormatError, match=r"train.txt:2: feature index 5"):
        read_bow(p)
    a = tmp_path / "x.arff"
    a.write_text("@relation r\n@attribute w {0,1}\n@attribute TAG_a {0,1}\n@data\n{0 1,9 1}\n")
    with pytest.raises(DataFormatError, match=r"x.arff:5: attribute index 9"):
        read_arff(a, ["TAG_a"])
    with pytest.raises(DataFormatError, match="not in the header"):
        read_arff(a, ["TAG_zz"])
    x = tmp_path / "x.xml"
    x.write_text("<labels><label name='a'>")
    with pytest.raises(DataFormatError, match="x.xml"):
        read_mulan_labels(x)


def test_repeated_feature_index_is_refused_with_its_line(tmp_path):
    """A feature given twice on a line would be summed by the CSR build; both readers refuse it, naming the line."""
    p = tmp_path / "train.txt"
    p.write_text("2 9 2\n0 1:1 3:2\n1 3:1 7:1 3:1\n")
    with pytest.raises(DataFormatError, match=r"train.txt:3: feature index 3 is given twice"):
        read_bow(p)
    a = tmp_path / "r.arff"
    a.write_text("@relation r\n@attribute w0 {0,1}\n@attribute w1 {0,1}\n@attribute TAG_a {0,1}\n@data\n"
                 "{1 1,2 1}\n{0 1,1 1,0 1}\n")
    with pytest.raises(DataFormatError, match=r"r.arff:7: attribute index 0 is given twice"):
        read_arff(a, ["TAG_a"])


def test_arff_sparse_zero_is_no_feature(tmp_path):
    """A sparse row that spells out a zero ("{0 0, ...}") reads as its dense twin: no stored entry, no word."""
    a = tmp_path / "z.arff"
    a.write_text("@relation r\n@attribute w0 {0,1}\n@attribute w1 {0,1}\n@attribute TAG_a {0,1}\n@data\n"
                 "{0 0,1 1,2 1}\n0,1,1\n")
    X, Y, _, _ = read_arff(a, ["TAG_a"])
    assert X.nnz == 2 and dense(X).tolist() == [[0, 1], [0, 1]] and dense(Y).tolist() == [[1], [1]]


def test_propensity_constants_follow_the_name_not_the_layout(tmp_path):
    """PSP's A, B come from the dataset's family (Extreme Classification Repository convention), so the same data
    scores alike in either layout."""
    assert propensity_ab("LF-AmazonTitles-131K") == AB_PRESETS["amazon"] == propensity_ab("Amazon-670K")
    assert propensity_ab("AmazonCat-13K") == AB_PRESETS["other"] == propensity_ab("LF-WikiSeeAlso-320K")
    assert propensity_ab("LF-Wikipedia-500K") == AB_PRESETS["wikipedia"] == propensity_ab("WikiLSHTC-325K")
    assert load_dataset(FIX / "lf_json").propensity_ab == AB_PRESETS["other"]
    shutil.copytree(FIX / "lf_json", tmp_path / "LF-AmazonTitles-131K")
    ds = load_dataset(tmp_path / "LF-AmazonTitles-131K")
    write_raw_text(ds, tmp_path / "raw" / "LF-AmazonTitles-131K")
    assert ds.propensity_ab == load_dataset(tmp_path / "raw" / "LF-AmazonTitles-131K").propensity_ab == (0.6, 2.6)


@pytest.mark.parametrize("load, needs", [(load_bow, "train.txt and test.txt"), (load_bow_split, "_trSplit.txt"),
                                         (read_bow, "bag-of-words file")])
def test_missing_bag_of_words_data_says_what_to_fetch(tmp_path, load, needs):
    missing = tmp_path / "EURLex-4K"
    with pytest.raises(FileNotFoundError, match="Extreme Classification Repository") as e:
        load(missing)
    assert str(missing) in str(e.value) and needs in str(e.value) and "Errno" not in str(e.value)
