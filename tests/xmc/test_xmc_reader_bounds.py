"""Readers refuse what would silently corrupt a dataset, on files written by hand: a label or feature id at the
header's count (it would land on another point or column), train and test with different label counts, NaN
values, more label texts than labels, an LF JSON record without title, a Mulan label listed twice; and they keep
what the formats say (CRLF line ends and an opening UTF-8 BOM stripped, the largest of repeated relevances). The
exact top-k honours the filter pairs of every query of a chunk, its last one too.
A review that changed one line at a time found each of these changes passed the rest of the suite.

Does not prove: every malformed input of every layout (test_xmc_data_failures covers more)."""
import dataclasses
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.xmc.bow import load_bow
from workbench.xmc.errors import DataFormatError
from workbench.xmc.raw_text import load_raw_text
from workbench.xmc.topk import topk_scores

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc"


def _bow(tmp_path, train: str, test: str = "1 3 2\n0 0:1\n") -> Path:
    (tmp_path / "train.txt").write_text(train)
    (tmp_path / "test.txt").write_text(test)
    return tmp_path


@pytest.mark.parametrize("train, line, what", [
    ("2 3 2\n0 0:1\n2 0:1\n", 3, "label"),          # label id 2 of 2 labels
    ("2 3 2\n0 0:1\n1 3:1\n", 3, "feature"),        # feature id 3 of 3 features
    ("2 3 2\n0 0:1\n1 1:nan\n", 3, "nan|finite"),   # a NaN value
])
def test_bow_refuses_ids_at_the_count_and_nan_values(tmp_path, train, line, what):
    with pytest.raises(DataFormatError, match=f"(?i){what}") as e:
        load_bow(_bow(tmp_path, train))
    assert f":{line}" in str(e.value)


def test_bow_train_and_test_must_agree_on_the_label_count(tmp_path):
    with pytest.raises(DataFormatError, match="label"):
        load_bow(_bow(tmp_path, "1 3 2\n0 0:1\n", "1 3 5\n0 0:1\n"))


def test_raw_text_line_ends_repeats_and_label_text_count(tmp_path):
    d = tmp_path / "raw"
    shutil.copytree(FIX / "raw_text", d)
    texts = (d / "trn_X.txt").read_text().splitlines()
    (d / "trn_X.txt").write_bytes("".join(t + "\r\n" for t in texts).encode())
    assert load_raw_text(d).train_texts == texts   # no trailing \r kept
    lines = (d / "trn_X_Y.txt").read_text().splitlines()
    (d / "trn_X_Y.txt").write_text("\n".join([lines[0], "1:2 1:1", *lines[2:]]) + "\n")
    with pytest.warns(UserWarning, match="listed twice"):
        assert load_raw_text(d).Y_train[0, 1] == 2.0   # the largest of a repeated pair's relevances
    (d / "Y.txt").write_text((d / "Y.txt").read_text() + "one label text too many\n")
    with pytest.raises(DataFormatError, match="label texts"):
        load_raw_text(d)


def test_topk_filters_the_last_query_of_each_chunk():
    """Three queries in chunks of 2; each query's best label is filtered for it (query 1 ends the first chunk):
    none is returned."""
    q = torch.eye(3)
    lab = torch.eye(3)
    filt = np.array([[0, 0], [1, 1], [2, 2]])
    for backend in ("torch", "auto"):   # auto: faiss on a CPU where installed, which filters in its own way
        _, ids = topk_scores(q, lab, 1, chunk=2, filter=filt, backend=backend)
        assert all(int(ids[i, 0]) != i for i in range(3)), backend


def _lf(tmp_path, first_train_record: dict) -> Path:
    d = tmp_path / "lf"
    shutil.copytree(FIX / "lf_json", d)
    lines = gzip.open(d / "trn.json.gz", "rt").read().splitlines()
    with gzip.open(d / "trn.json.gz", "wt") as f:
        f.write("\n".join([json.dumps(first_train_record), *lines[1:]]) + "\n")
    return d


def test_label_feature_json_checks_and_full_text_labels(tmp_path):
    """``true`` is no label id (Python would read it as 1); relevances must match the ids one for one (else scipy
    fails naming no line); in "full" mode label texts are title + content, like the queries'."""
    from workbench.xmc.lf_json import load_lf_json
    base = {"uid": "x", "title": "t", "content": "c"}
    with pytest.raises(DataFormatError, match="label id True") as e:
        load_lf_json(_lf(tmp_path / "a", {**base, "target_ind": [True]}))
    assert "trn.json.gz:1" in str(e.value)
    with pytest.raises(DataFormatError, match="as long as"):
        load_lf_json(_lf(tmp_path / "b", {**base, "target_ind": [0, 2], "target_rel": [1.0]}))
    full = load_lf_json(FIX / "lf_json", text="full")
    assert full.label_texts[0] == "running shoes Shoes for runners." and full.train_texts[1] == "blue socks"


def _mulan(tmp_path, train_rows: list[str], test_header_swap: bool = False) -> Path:
    d = tmp_path / "mulan"
    shutil.copytree(FIX / "mulan", d)
    lines = (d / "tiny-train.arff").read_text().splitlines()
    at = lines.index("@data")
    (d / "tiny-train.arff").write_text("\n".join([*lines[:at + 1], *train_rows]) + "\n")
    if test_header_swap:
        test = gzip.open(d / "tiny-test.arff.gz", "rt").read().replace("@attribute w0 {0,1}\n@attribute 'w 1' {0,1}",
                                                                       "@attribute 'w 1' {0,1}\n@attribute w0 {0,1}")
        with gzip.open(d / "tiny-test.arff.gz", "wt") as f:
            f.write(test)
    return d


def test_mulan_rows_by_hand(tmp_path):
    """A sparse row that spells a label out as 0 ({4 0}) does not have it; a dense row with 4 of 5 values is
    refused, naming its line; a test file whose feature attributes come in another order is refused (its
    columns would be read as the train file's); a gzip-only folder is found."""
    from workbench.xmc.load import detect_layout, load_dataset
    data = load_dataset(_mulan(tmp_path / "a", ["{0 1,3 1,4 0}"]))
    assert data.Y_train.toarray().tolist() == [[1.0, 0.0]]
    with pytest.raises(DataFormatError, match="5") as e:
        load_dataset(_mulan(tmp_path / "b", ["1,0,0.5,1,0", "1,0,0.5,1"]))
    assert "tiny-train.arff:10" in str(e.value)
    with pytest.raises(DataFormatError, match="feature attributes differ"):
        load_dataset(_mulan(tmp_path / "c", ["{0 1,3 1}"], test_header_swap=True))
    d = _mulan(tmp_path / "d", ["{0 1,3 1}"])
    with gzip.open(d / "tiny-train.arff.gz", "wt") as f:
        f.write((d / "tiny-train.arff").read_text())
    (d / "tiny-train.arff").unlink()
    assert detect_layout(d) == "mulan" and load_dataset(d).Y_train.shape == (1, 2)


def test_raw_text_round_trip_of_texts_with_line_breaks_and_filter_bounds(tmp_path):
    """A text holding a line break is written as one line (else every later text would shift by one point) and
    reads back with the break as a space; a filter pair naming point 2 of 2 points is refused."""
    from workbench.xmc.raw_text import read_filter, write_raw_text
    data = load_raw_text(FIX / "raw_text")
    texts = list(data.train_texts)
    texts[0] = "first\nsecond"
    out = tmp_path / "out"
    write_raw_text(dataclasses.replace(data, train_texts=texts), out)
    back = load_raw_text(out)
    assert back.train_texts[0] == "first second" and back.train_texts[1:] == texts[1:]
    (tmp_path / "f.txt").write_text("1 0\n2 0\n")
    with pytest.raises(DataFormatError, match="point index") as e:
        read_filter(tmp_path / "f.txt", 2, 3)
    assert "f.txt:2" in str(e.value)


def test_lf_json_refuses_a_label_id_at_the_count_a_nan_relevance_and_a_test_filter_past_the_test_split(tmp_path):
    """3 labels: id 3 is out of range; a NaN relevance is no relevance; the test split has 2 points, so a test
    filter pair on point 2 is refused although the train split (3 points) has a point 2."""
    from workbench.xmc.lf_json import load_lf_json
    base = {"uid": "x", "title": "t", "content": "c"}
    with pytest.raises(DataFormatError, match="trn.json.gz:1"):
        load_lf_json(_lf(tmp_path / "a", {**base, "target_ind": [3], "target_rel": [1.0]}))
    with pytest.raises(DataFormatError, match="trn.json.gz:1"):
        load_lf_json(_lf(tmp_path / "b", {**base, "target_ind": [0], "target_rel": [float("nan")]}))
    d = tmp_path / "c"
    shutil.copytree(FIX / "lf_json", d)
    (d / "filter_labels_test.txt").write_text("2 0\n")
    with pytest.raises(DataFormatError, match="filter_labels_test.txt:1"):
        load_lf_json(d)


def test_raw_text_refuses_a_label_id_at_the_header_count(tmp_path):
    d = tmp_path / "raw"
    shutil.copytree(FIX / "raw_text", d)
    lines = (d / "trn_X_Y.txt").read_text().splitlines()
    (d / "trn_X_Y.txt").write_text("\n".join([lines[0], "3:1", *lines[2:]]) + "\n")  # header: 3 labels
    with pytest.raises(DataFormatError, match="trn_X_Y.txt:2"):
        load_raw_text(d)


def test_bow_refuses_fewer_points_than_the_header_announces(tmp_path):
    with pytest.raises(DataFormatError, match="header announces 3 points, file has 2"):
        load_bow(_bow(tmp_path, "3 3 2\n0 0:1\n1 1:1\n"))


def test_topk_filters_a_label_at_a_label_chunk_boundary():
    """Labels in chunks of 2: label 2 opens the second chunk. Filtered for query 0, it is not returned (and
    the first chunk does not try to mask it)."""
    q = torch.tensor([[0.0, 0.0, 1.0, 0.5]])
    lab = torch.eye(4)
    _, ids = topk_scores(q, lab, 2, filter=np.array([[0, 2]]), backend="torch", label_chunk=2)
    assert ids[0, 0].item() == 3 and 2 not in ids[0].tolist()  # 3 scores 0.5; 0 and 1 tie at 0 behind it


def test_debian_stanzas_take_tab_continuations_and_start_at_their_first_field(tmp_path):
    """deb822 allows a continuation line to start with a tab; a stanza's line number is its first field's."""
    from workbench.xmc.deb822 import iter_stanzas
    p = tmp_path / "Packages"
    p.write_text("Package: a\nDescription: x\n\tmore\n\nPackage: b\nVersion: 1\n")
    assert list(iter_stanzas(p)) == [(1, {"Package": "a", "Description": "x\nmore"}),
                                     (5, {"Package": "b", "Version": "1"})]


def test_raw_text_test_texts_must_match_the_test_labels(tmp_path):
    d = tmp_path / "raw"
    shutil.copytree(FIX / "raw_text", d)
    (d / "tst_X.txt").write_text((d / "tst_X.txt").read_text() + "one test text too many\n")
    with pytest.raises(DataFormatError, match="tst_X.txt"):
        load_raw_text(d)


def test_a_split_table_names_its_first_blank_line(tmp_path):
    from workbench.xmc.bow import read_split
    p = tmp_path / "s_trSplit.txt"
    p.write_text("1\n\n\n2\n")
    with pytest.raises(DataFormatError, match="empty line") as e:
        read_split(p, 0, 2)
    assert "s_trSplit.txt:2" in str(e.value)


def test_a_filter_line_with_a_third_token_is_refused(tmp_path):
    from workbench.xmc.raw_text import read_filter
    (tmp_path / "f.txt").write_text("0 1\n1 2 7\n")
    with pytest.raises(DataFormatError, match="expected 'point_idx label_idx'") as e:
        read_filter(tmp_path / "f.txt", 2, 3)
    assert "f.txt:2" in str(e.value)


def test_a_token_cache_with_lengths_of_the_wrong_shape_is_not_loaded(tmp_path):
    from workbench.xmc.tokens import _load_tokens
    np.save(tmp_path / "ids.npy", np.zeros((3, 4), np.int64))
    np.save(tmp_path / "len.npy", np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="expected"):
        _load_tokens(tmp_path / "ids.npy", tmp_path / "len.npy", 3, 4, 0)


def test_arff_header_case_escapes_and_index_bound(tmp_path):
    """'@DATA' in capitals is ARFF's data line; a quoted name's backslash escape is undone ('it\\'s' is the label
    it's in the Mulan XML); a sparse index equal to the attribute count (3 here) is refused, naming its line."""
    from workbench.xmc.arff import read_arff
    p = tmp_path / "x.arff"
    p.write_text("@RELATION r\n@ATTRIBUTE w0 numeric\n@attribute 'it\\'s' {0,1}\n@attribute b {0,1}\n@DATA\n"
                 "{0 2,1 1}\n")
    X, Y, feats, labels = read_arff(p, ["it's", "b"])
    assert feats == ["w0"] and labels == ["it's", "b"] and Y.toarray().tolist() == [[1.0, 0.0]]
    p.write_text(p.read_text() + "{3 1}\n")
    with pytest.raises(DataFormatError, match="attribute index") as e:
        read_arff(p, ["it's", "b"])
    assert "x.arff:7" in str(e.value)


@pytest.mark.parametrize("test_header, msg", [("1 4 2", "features/labels 4/2 differ from train's 3/2"),
                                              ("1 3 5", "features/labels 3/5 differ from train's 3/2")])
def test_bow_test_header_must_match_train_and_the_error_names_test_txt_line_1(tmp_path, test_header, msg):
    """A test split whose header disagrees with train's on features or on labels is refused, and the error names
    the file at fault (test.txt, line 1), not train.txt."""
    with pytest.raises(DataFormatError) as e:
        load_bow(_bow(tmp_path, "1 3 2\n0 0:1\n", test_header + "\n0 0:1\n"))
    assert e.value.path == str(tmp_path / "test.txt") and e.value.line == 1
    assert msg in str(e.value)


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_bow_refuses_an_infinite_value_with_its_line(tmp_path, value):
    """An infinite feature value is refused like NaN, at its line (3: header, point 0, point 1)."""
    with pytest.raises(DataFormatError, match="not finite") as e:
        load_bow(_bow(tmp_path, f"2 3 2\n0 0:1\n1 1:{value}\n"))
    assert e.value.line == 3


def test_a_plain_data_file_wins_over_its_gzipped_twin(tmp_path):
    """train.txt and train.txt.gz side by side: the plain file is read (its point has label 0, feature 0)."""
    _bow(tmp_path, "1 3 2\n0 0:1\n")
    (tmp_path / "train.txt.gz").write_bytes(gzip.compress(b"1 3 2\n1 2:1\n"))
    ds = load_bow(tmp_path)
    assert ds.Y_train[0].indices.tolist() == [0] and ds.X_train[0].indices.tolist() == [0]


@pytest.mark.parametrize("layout, name", [("bow", "train.txt"), ("raw_text", "trn_X.txt"), ("raw_text", "Y.txt"),
                                          ("raw_text", "trn_X_Y.txt"), ("lf_json", "trn.json.gz"),
                                          ("mulan", "tiny-train.arff"), ("bow_split", "Tiny_data.txt")])
def test_a_utf8_byte_order_mark_opening_a_file_is_dropped(tmp_path, layout, name):
    """Windows editors open a UTF-8 file with a BOM: it used to stay in the first text (raw text) or break the
    first header or record with a confusing message. With it, each layout loads as without it."""
    from workbench.xmc.load import load_dataset
    d = tmp_path / layout
    shutil.copytree(FIX / layout, d)
    p, gz = d / name, name.endswith(".gz")
    raw = b"\xef\xbb\xbf" + (gzip.decompress(p.read_bytes()) if gz else p.read_bytes())
    p.write_bytes(gzip.compress(raw) if gz else raw)
    got, want = load_dataset(d), load_dataset(FIX / layout)
    assert got.train_texts == want.train_texts and got.label_texts == want.label_texts
    assert (got.Y_train != want.Y_train).nnz == 0 and got.Y_train.shape == want.Y_train.shape


def test_a_debian_index_and_release_file_with_a_bom_read_as_without(tmp_path):
    from workbench.xmc.debian import _release_date, read_packages
    p, release = tmp_path / "Packages", tmp_path / "InRelease"
    p.write_bytes(b"\xef\xbb\xbf" + (FIX / "debian" / "Packages").read_bytes())
    release.write_bytes(b"\xef\xbb\xbfDate: Sat, 11 Jul 2026 10:16:37 UTC\n")
    assert read_packages(p) == read_packages(FIX / "debian" / "Packages")
    assert _release_date(release) == "Sat, 11 Jul 2026 10:16:37 UTC"


@pytest.mark.parametrize("record, match", [
    ({"uid": "x", "titel": "t", "target_ind": [0]}, "no 'title' key"),
    ({"uid": "x", "title": "t", "target_ind": [0], "target_rel": [float("inf")]}, "relevance inf is not finite"),
    ({"uid": "x", "title": "t", "target_ind": [0], "target_rel": [float("-inf")]}, "relevance -inf is not finite"),
])
def test_lf_json_refuses_a_record_without_title_and_an_infinite_relevance(tmp_path, record, match):
    """Before: a misspelt title loaded as the text '' and JSON's Infinity as a relevance (it outweighs every other
    label); bow and raw text refuse inf already."""
    from workbench.xmc.lf_json import load_lf_json
    with pytest.raises(DataFormatError, match=match) as e:
        load_lf_json(_lf(tmp_path, record))
    assert e.value.path.endswith("trn.json.gz") and e.value.line == 1


def test_a_negative_bow_header_count_must_be_at_least_zero(tmp_path):
    """The message used to read 'features -4 out of range [0, None)'."""
    with pytest.raises(DataFormatError, match=r"train.txt:1: features -4 must be >= 0$") as e:
        load_bow(_bow(tmp_path, "3 -4 3\n"))
    assert e.value.path == str(tmp_path / "train.txt")


def test_a_mulan_xml_listing_a_label_twice_is_refused(tmp_path):
    """Both label columns would map to one attribute, and the first would be empty for every point."""
    from workbench.xmc.arff import read_mulan_labels
    p = tmp_path / "tiny.xml"
    p.write_text((FIX / "mulan" / "tiny.xml").read_text().replace("</labels>", '<label name="TAG_a"></label>\n'
                                                                                "</labels>"))
    with pytest.raises(DataFormatError, match="label 'TAG_a' is listed twice") as e:
        read_mulan_labels(p)
    assert e.value.path == str(p)


def test_only_the_files_opening_byte_order_mark_is_dropped(tmp_path):
    """U+FEFF opening a later line is text (a zero-width no-break space), not a BOM: it stays; the opening one goes."""
    d = tmp_path / "raw"
    shutil.copytree(FIX / "raw_text", d)
    lines = (FIX / "raw_text" / "trn_X.txt").read_text(encoding="utf-8").splitlines()
    (d / "trn_X.txt").write_text("\ufeff" + lines[0] + "\n\ufeff" + "\n".join(lines[1:]) + "\n", encoding="utf-8")
    got = load_raw_text(d).train_texts
    assert got[0] == "red running shoes" and got[1] == "\ufeffblue socks" and got[2:] == lines[2:]
