"""The Debian builder on a hand-written index (every rule checked by hand), the committed dataset's shape
and provenance, and (with ../shared/data) the full rebuild's statistics.

Does not prove: that other Debian releases parse (only the stanza syntax the fixture and bookworm use).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from workbench.datasets_cli import main as data_cli
from workbench.xmc import debian
from workbench.xmc.deb822 import iter_stanzas, long_description
from workbench.xmc.errors import DataFormatError
from workbench.xmc.load import load_dataset

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc" / "debian"


def _build(head_share=0.5, train_mod=debian.DEFAULT_TRAIN_MOD):
    pk, tr = debian.read_packages(FIX / "Packages"), debian.read_translations(FIX / "Translation-en")
    return debian.build(pk, tr, head_share=head_share, train_mod=train_mod)


def test_dependency_parsing():
    assert debian.dependency_names("libfoo (>= 1.0), awk | mawk, python3:any, app2 [amd64], b <!nocheck>") == \
        ["libfoo", "awk", "mawk", "python3", "app2", "b"]
    # a restriction wrapped onto a continuation line (deb822 allows it) once kept the whole piece, then dropped it
    assert debian.dependency_names("libc6 (>=\n 2.36), foo [amd64\n i386] | bar") == ["libc6", "foo", "bar"]
    labels = debian.package_labels(debian.read_packages(FIX / "Packages"))
    assert labels["app1"] == ["app2", "dpkg", "libfoo", "mawk", "python3"]  # awk is virtual: dropped
    assert labels["app3"] == ["libbaz", "libfoo"]  # itself dropped
    assert labels["python3"] == ["libc"]  # python3-minimal is not a package here
    assert "libbaz" not in labels and "libc" not in labels


def test_build_rules_by_hand():
    ds, info = _build()
    assert info["head_labels_dropped"] == ["libc"]  # on 5 of 8 points > 50%
    assert info["points_dropped_without_labels"] == 5
    t = ds["titles"]
    labels = ["app2", "dpkg", "libbar", "libbaz", "libfoo", "mawk", "python3"]
    assert t.label_texts == [debian._title(n, debian.read_packages(FIX / "Packages")[n]) for n in labels]
    pts = {"app1": labels[:2] + ["libfoo", "mawk", "python3"], "app2": ["libbar", "libfoo"],
           "app3": ["libbaz", "libfoo"]}
    train = sorted(p for p in pts if debian.is_train(p))
    test = sorted(p for p in pts if not debian.is_train(p))
    assert [s.split(":")[0] for s in t.train_texts] == train
    assert [s.split(":")[0] for s in t.test_texts] == test
    for split, names, Y, filt in (("train", train, t.Y_train, t.filter_train),
                                  ("test", test, t.Y_test, t.filter_test)):
        for i, p in enumerate(names):
            assert sorted(labels[j] for j in Y[i].indices) == sorted(pts[p])
        assert filt.tolist() == [[i, labels.index(p)] for i, p in enumerate(names) if p in labels]
    full = dict(zip([s.split(":")[0] for s in ds["fulltext"].train_texts + ds["fulltext"].test_texts],
                    ds["fulltext"].train_texts + ds["fulltext"].test_texts))
    assert full["app1"] == "app1: First application App one does two things. Second paragraph."
    assert full["app3"] == "app3: Third application"  # no translation: title only


def test_split_is_md5_mod_10():
    # md5("app1") = f92ea1839dc16d7396db358365da7066 -> ...302 % 10 = 2 -> train
    assert hashlib.md5(b"app1").hexdigest() == "f92ea1839dc16d7396db358365da7066"
    assert int("f92ea1839dc16d7396db358365da7066", 16) % 10 == 2
    assert debian.is_train("app1") and not debian.is_train("app1", train_mod=2)


def test_cli_writes_loadable_layout(tmp_path):
    """--train-mod 5 puts 2 of the fixture's 3 points in train, 1 in test (the default 7 leaves test empty, which
    the readers refuse); files beside the variants in --out (a README) stay, no temporary folder is left."""
    out = tmp_path / "deb"
    out.mkdir()
    (out / "README.md").write_text("kept")
    rc = data_cli(["build", "debian", "--packages", str(FIX / "Packages"), "--translations",
                   str(FIX / "Translation-en"), "--out", str(out), "--head-share", "0.5", "--train-mod", "5"])
    assert rc == 0
    prov = json.loads((out / "PROVENANCE.json").read_text())
    assert prov["options"]["head_share"] == 0.5 and prov["build_info"]["head_labels_dropped"] == ["libc"]
    assert prov["sources"]["packages"]["sha256"] == hashlib.sha256((FIX / "Packages").read_bytes()).hexdigest()
    ds, _ = _build(train_mod=5)
    back = load_dataset(out, variant="titles")
    assert back.train_texts == ds["titles"].train_texts and (back.Y_test != ds["titles"].Y_test).nnz == 0
    assert back.Y_test.shape[0] == 1 and (out / "README.md").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deb"]


def test_dependency_graph():
    names, edges = debian.dependency_graph(FIX / "Packages")
    assert len(names) == 10 and edges.shape == (14, 2)
    pairs = {(names[a], names[b]) for a, b in edges}
    assert ("app1", "mawk") in pairs and ("python3", "libc") in pairs and ("app3", "app3") not in pairs


def test_malformed_index(tmp_path):
    p = tmp_path / "Packages"
    p.write_text("Package: a\n continuation ok\nnot a field\n")
    with pytest.raises(DataFormatError, match=r"Packages:3"):
        list(iter_stanzas(p))
    with pytest.raises(FileNotFoundError, match="apt"):
        list(iter_stanzas(tmp_path / "missing"))
    assert long_description("sum\n line one\n .\n line two") == "line one line two"


def test_committed_dataset():
    prov = json.loads((debian.DEFAULT_PATH / "PROVENANCE.json").read_text())
    ds = debian.default_dataset("titles")
    s = prov["stats"]["titles"]
    assert (ds.Y_train.shape[0], ds.Y_test.shape[0], ds.num_labels) == (s["train_points"], s["test_points"],
                                                                         s["labels"])
    assert 33_000 < ds.Y_train.shape[0] < 34_500 and 14_000 < ds.Y_test.shape[0] < 14_600
    assert 36_500 < ds.num_labels < 37_500 and 4.0 < ds.Y_train.nnz / ds.Y_train.shape[0] < 4.15
    total_freq = ds.label_freq + np.asarray((ds.Y_test > 0).sum(0)).ravel()
    assert total_freq.max() <= 0.01 * prov["build_info"]["points_with_labels_before_cut"]  # the head cut
    assert ds.label_freq.max() == s["label_freq_max"] == 373
    assert 0.5 < len(ds.filter_test) / ds.Y_test.shape[0] < 0.7
    # a filtered label is the point's own package: identical text
    i, j = ds.filter_test[0]
    assert ds.test_texts[i] == ds.label_texts[j]
    full = debian.default_dataset("fulltext")
    assert (full.Y_train != ds.Y_train).nnz == 0 and np.mean([len(t) for t in full.train_texts]) > 200
    total = sum(f["bytes"] for f in prov["files"].values())
    assert total < 10_000_000


@pytest.mark.slow
def test_full_rebuild_matches_committed(shared_path, tmp_path):
    src = shared_path("debian-bookworm", "main_binary-amd64_Packages.xz", "main_i18n_Translation-en.xz")
    rc = debian.cli_main(["--packages", str(src / "main_binary-amd64_Packages.xz"), "--translations",
                          str(src / "main_i18n_Translation-en.xz"), "--out", str(tmp_path / "d")])
    assert rc == 0
    new = json.loads((tmp_path / "d" / "PROVENANCE.json").read_text())
    old = json.loads((debian.DEFAULT_PATH / "PROVENANCE.json").read_text())
    assert new["stats"] == old["stats"] and new["release_date"] == "Sat, 11 Jul 2026 10:16:37 UTC"
    assert {k: v["sha256"] for k, v in new["files"].items()} == {k: v["sha256"] for k, v in old["files"].items()}
    assert len(new["build_info"]["head_labels_dropped"]) == 35


def test_titles_first_stanzas_and_the_head_cut_boundary(tmp_path):
    """A title is "name: summary" (the summary line only, never the long description); a package listed twice
    keeps its first stanza (as apt reads a Packages file); a label on exactly head_share of the points stays
    (libc is on 5 of 8: cut at 0.5, kept at 5/8)."""
    pk = debian.read_packages(FIX / "Packages")
    assert debian._title("app2", pk["app2"]) == "app2: Second application"
    assert debian._title("x", {"Description": "Short one\n Long text that\n goes on."}) == "x: Short one"
    twice = tmp_path / "Packages"
    twice.write_text((FIX / "Packages").read_text() + "\nPackage: app2\nVersion: 9.0\nDescription: Impostor\n")
    assert debian.read_packages(twice)["app2"]["Version"] == "2.0"
    assert _build(head_share=5 / 8)[1]["head_labels_dropped"] == []


def test_dependency_graph_of_an_index_without_stanzas_is_refused(tmp_path):
    """An empty Packages file gives no graph to sample: refused naming the file, not an empty graph."""
    p = tmp_path / "Packages"
    p.write_text("")
    with pytest.raises(DataFormatError, match="no 'Package:' stanzas") as e:
        debian.dependency_graph(p)
    assert e.value.path == str(p)
