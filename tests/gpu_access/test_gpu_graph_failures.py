"""MUSAE and Planetoid text files that are truncated, not gzip, not UTF-8 or incomplete raise DataFormatError
naming the file (and the line where one is known), not a bare EOFError / zlib.error / UnicodeDecodeError; so do
MUSAE features listing a node twice and a Debian index without stanzas. A UTF-8 BOM opening a file is dropped.

Does not prove: every way a gzip stream can be damaged (one cut, one flipped body, one non-gzip file).
"""
import gzip
import lzma

import pytest

from workbench.gpu_access.catalog import load_graph
from workbench.gpu_access.graphs import _planetoid_part, read_musae_facebook
from workbench.xmc.errors import DataFormatError

TARGET = "id,facebook_id,page_name,page_type\n" + "".join(f"{i},{i},p{i},{'tvshow' if i % 2 else 'company'}\n"
                                                          for i in range(400))
EDGES = "id_1,id_2\n" + "".join(f"{i},{(i * 7 + 1) % 400}\n" for i in range(400))
FEATURES = "{" + ",\n".join(f'"{i}": [{i % 5}, {5 + i % 3}]' for i in range(400)) + "}"  # one node a line


def _write(root, name: str, text: str, gz: bool) -> None:
    raw = text.encode()
    (root / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(raw, mtime=0) if gz else raw)


def _musae(root, gz: bool = True, **replace: str):
    """A 400-node MUSAE folder (every file gzipped when ``gz``); ``replace`` swaps in raw bytes for a file."""
    for name, text in (("facebook_target.csv", TARGET), ("facebook_edges.csv", EDGES),
                       ("facebook_features.json", FEATURES)):
        _write(root, name, text, gz)
    for name, raw in replace.items():
        (root / name).write_bytes(raw)
    return root


def test_intact_files_load(tmp_path):
    g = read_musae_facebook(_musae(tmp_path))
    assert g.num_nodes == 400 and g.features.shape == (400, 8) and g.num_classes == 2


def _cut(text: str) -> bytes:
    """The gzip of ``text`` cut in half: gzip raises EOFError when the stream ends early."""
    raw = gzip.compress(text.encode(), mtime=0)
    return raw[: len(raw) // 2]


@pytest.mark.parametrize("name, text", [("facebook_target.csv.gz", TARGET), ("facebook_edges.csv.gz", EDGES),
                                        ("facebook_features.json.gz", FEATURES)])
def test_truncated_gzip_names_the_file(tmp_path, name, text):
    with pytest.raises(DataFormatError, match=rf"{name}:\d+: unreadable \(EOFError") as e:
        read_musae_facebook(_musae(tmp_path, **{name: _cut(text)}))
    assert e.value.line is not None and e.value.line > 1  # the first lines decoded before the cut


@pytest.mark.parametrize("name, text", [("facebook_target.csv.gz", TARGET), ("facebook_edges.csv.gz", EDGES),
                                        ("facebook_features.json.gz", FEATURES)])
def test_corrupt_gzip_body_names_the_file(tmp_path, name, text):
    raw = bytearray(gzip.compress(text.encode(), mtime=0))
    raw[20:40] = b"\xff" * 20  # damaged deflate data: zlib.error (or a CRC error, BadGzipFile)
    with pytest.raises(DataFormatError, match=rf"{name}:\d+: unreadable"):
        read_musae_facebook(_musae(tmp_path, **{name: bytes(raw)}))


def test_not_gzip_names_the_file(tmp_path):
    with pytest.raises(DataFormatError, match=r"facebook_edges.csv.gz:1: unreadable \(BadGzipFile"):
        read_musae_facebook(_musae(tmp_path, **{"facebook_edges.csv.gz": EDGES.encode()}))


@pytest.mark.parametrize("name, text, line", [("facebook_target.csv", TARGET, 4), ("facebook_edges.csv", EDGES, 4),
                                              ("facebook_features.json", FEATURES, 4)])
def test_bad_utf8_names_file_and_line(tmp_path, name, text, line):
    lines = text.encode().split(b"\n")
    lines[line - 1] = lines[line - 1][:2] + b"\xff" + lines[line - 1][2:]
    with pytest.raises(DataFormatError, match=rf"{name}:{line}: unreadable \(UnicodeDecodeError"):
        read_musae_facebook(_musae(tmp_path, gz=False, **{name: b"\n".join(lines)}))


def test_features_must_cover_every_node(tmp_path):
    partial = "{" + ", ".join(f'"{i}": [1]' for i in range(400) if i not in (17, 250)) + "}"
    with pytest.raises(DataFormatError, match=r"facebook_features.json.gz: 2 of the 400 nodes .* the first is "
                                              r"node 17"):
        read_musae_facebook(_musae(tmp_path, **{"facebook_features.json.gz": gzip.compress(partial.encode())}))
    empty_rows = FEATURES.replace('"17": [2, 7]', '"17": []')  # a node without features is listed with []
    g = read_musae_facebook(_musae(tmp_path, **{"facebook_features.json.gz": gzip.compress(empty_rows.encode())}))
    assert g.features[17].sum() == 0 and g.features[18].sum() == 2


def test_planetoid_test_index_bad_utf8_names_file_and_line(tmp_path):
    (tmp_path / "ind.cora.test.index").write_bytes(b"2692\n2532\n25\xe90\n")
    with pytest.raises(DataFormatError, match=r"ind.cora.test.index:3: unreadable \(UnicodeDecodeError"):
        _planetoid_part(tmp_path, "cora", "test.index")


@pytest.mark.parametrize("gz", [True, False])
def test_files_opening_with_a_utf8_bom_load_as_without(tmp_path, gz):
    """Before: the target CSV's header became '\\ufeffid' ("header lacks column(s) ['id']"), the JSON failed."""
    bom = {f"{name}{'.gz' if gz else ''}": b"\xef\xbb\xbf" + text.encode()
           for name, text in (("facebook_target.csv", TARGET), ("facebook_edges.csv", EDGES),
                              ("facebook_features.json", FEATURES))}
    bom = {name: gzip.compress(raw) if gz else raw for name, raw in bom.items()}
    (tmp_path / "bom").mkdir()
    g, want = read_musae_facebook(_musae(tmp_path / "bom", gz, **bom)), read_musae_facebook(_musae(tmp_path, gz))
    assert g.labels.tolist() == want.labels.tolist() and g.features.equal(want.features)
    assert g.indices.tolist() == want.indices.tolist()


def test_features_listing_a_node_under_two_keys_are_refused(tmp_path):
    """"0" and "00" are both node 0: the later list silently replaced the earlier."""
    twice = FEATURES.replace('"1": ', '"00": [4], "1": ', 1)
    with pytest.raises(DataFormatError, match=r"facebook_features.json.gz: node '00': node 0 is listed twice"):
        read_musae_facebook(_musae(tmp_path, **{"facebook_features.json.gz": gzip.compress(twice.encode())}))


def test_debian_graph_from_an_index_without_stanzas_names_the_file(tmp_path):
    """Before: ``torch.cat(): expected a non-empty list``, naming no file."""
    p = tmp_path / "debian-bookworm" / "main_binary-amd64_Packages.xz"
    p.parent.mkdir()
    p.write_bytes(lzma.compress(b"\n\n"))
    with pytest.raises(DataFormatError, match=rf"{p}: no 'Package:' stanzas"):
        load_graph("debian", str(tmp_path))
