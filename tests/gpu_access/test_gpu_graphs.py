"""Graph readers and generators against hand-made ground truth and the shared raw files."""
import gzip

import numpy as np
import pytest
import torch

from workbench.gpu_access.catalog import GraphUnavailable, load_graph
from workbench.gpu_access.cora_data import build_cora, load_cora
from workbench.gpu_access.graphs import (_planetoid_part, csr_from_edges, read_gnn_benchmark_npz, read_musae_facebook,
                                        read_planetoid)
from workbench.gpu_access.rmat import rmat_edges, rmat_graph
from workbench.xmc.errors import DataFormatError


def test_csr_symmetric_without_loops_or_duplicates():
    indptr, indices = csr_from_edges(np.array([0, 0, 1, 2, 2]), np.array([1, 1, 0, 2, 3]), 4)
    assert indptr.tolist() == [0, 1, 2, 3, 4]
    assert indices.tolist() == [1, 0, 3, 2]
    with pytest.raises(ValueError, match="endpoints"):
        csr_from_edges(np.array([0]), np.array([4]), 4)


def test_embedded_cora_statistics():
    g = load_cora()
    assert (g.num_nodes, g.num_edges, g.features.shape[1], g.num_classes) == (2708, 10556, 1433, 7)
    assert (g.train_idx.numel(), g.val_idx.numel(), g.test_idx.numel()) == (140, 500, 1000)
    src = torch.repeat_interleave(torch.arange(g.num_nodes), g.indptr.diff())
    fwd = set(zip(src.tolist(), g.indices.tolist()))
    assert all((v, u) in fwd for u, v in fwd)


def test_embedded_cora_is_what_the_builder_makes(shared_data, tmp_path):
    raw = shared_data / "planetoid" / "raw"
    out = build_cora(raw, tmp_path / "cora")
    a, b, c = load_cora(out), load_cora(), read_planetoid(raw, "cora")
    for f in ("indptr", "indices", "features", "labels", "train_idx", "val_idx", "test_idx"):
        assert torch.equal(getattr(a, f), getattr(b, f)) and torch.equal(getattr(a, f), getattr(c, f)), f


def test_citeseer_matches_published_sizes(shared_data):
    g = load_graph("citeseer", str(shared_data))
    assert (g.num_nodes, g.num_edges, g.features.shape[1], g.num_classes) == (3327, 9104, 3703, 6)


@pytest.mark.slow
def test_facebook(shared_data):
    g = read_musae_facebook(shared_data / "musae" / "facebook")
    # 171,002 listed edges of which 179 are self-loops (counted in the raw file), dropped here
    assert (g.num_nodes, g.num_edges // 2, g.num_classes) == (22470, 171002 - 179, 4)


def test_facebook_malformed_target_names_file_and_line(tmp_path):
    (tmp_path / "facebook_target.csv").write_text("id,facebook_id,page_name,page_type\n0,1,a,tvshow\nx,2,b,company\n")
    with gzip.open(tmp_path / "facebook_edges.csv.gz", "wt") as f:
        f.write("id_1,id_2\n0,1\n")
    (tmp_path / "facebook_features.json").write_text('{"0": [1], "1": [0]}')
    with pytest.raises(DataFormatError, match=r"facebook_target.csv:3: node id 'x' is not an integer"):
        read_musae_facebook(tmp_path)


def _musae(root, target="id,facebook_id,page_name,page_type\n0,1,a,tvshow\n1,2,b,company\n2,3,c,tvshow\n",
           edges="id_1,id_2\n0,1\n1,2\n", features='{"0": [1], "1": [0], "2": [3]}'):
    """A three-node MUSAE folder (target, edges gzipped, features), with one file replaced by the caller."""
    (root / "facebook_target.csv").write_text(target)
    with gzip.open(root / "facebook_edges.csv.gz", "wt") as f:
        f.write(edges)
    (root / "facebook_features.json").write_text(features)
    return root


def test_facebook_tiny_ground_truth(tmp_path):
    g = read_musae_facebook(_musae(tmp_path))
    assert g.indptr.tolist() == [0, 1, 3, 4] and g.indices.tolist() == [1, 0, 2, 1]
    assert g.labels.tolist() == [1, 0, 1] and g.num_classes == 2  # sorted page types: company, tvshow
    assert g.features.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("files, match", [
    ({"target": "id,facebook_id,page_name\n0,1,a\n"},
     r"facebook_target.csv:1: header lacks column\(s\) \['page_type'\]"),
    ({"target": "id,page_type\n0,tvshow\n-1,company\n2,tvshow\n"},
     r"facebook_target.csv:3: node id -1 out of range \[0, 3\)"),
    ({"target": "id,page_type\n0,tvshow\n3,company\n2,tvshow\n"},
     r"facebook_target.csv:3: node id 3 out of range \[0, 3\)"),
    ({"target": "id,page_type\n0,tvshow\n0,company\n2,tvshow\n"}, r"facebook_target.csv:3: node id 0 appears twice"),
    ({"target": "id,page_type\n0,tvshow\n1\n2,tvshow\n"}, r"facebook_target.csv:3: short row"),
    ({"edges": "id_1,id_2\n0,1\n1,x\n"}, r"facebook_edges.csv.gz:3: node id 'x' is not an integer"),
    ({"edges": "id_1,id_2\n0,1\n\n1,2,0\n"}, r"facebook_edges.csv.gz:4: expected two columns"),
    ({"edges": "id_1,id_2\n0,1\n1,7\n"}, r"facebook_edges.csv.gz:3: node id 7 out of range \[0, 3\)"),
    ({"features": '{"0": [1], "5": [0]}'}, r"facebook_features.json: node '5': id not in \[0, 3\)"),
    ({"features": '{"0": [1], "-1": [0]}'}, r"facebook_features.json: node '-1': id not in \[0, 3\)"),
    ({"features": '{"0": [1], "1": [-2]}'}, r"facebook_features.json: node '1': expected a list of feature ids"),
    ({"features": '{"0": [1],\n "1": [0'}, r"facebook_features.json:2: not valid JSON"),
])
def test_facebook_malformed_files_name_file_and_line(tmp_path, files, match):
    with pytest.raises(DataFormatError, match=match):
        read_musae_facebook(_musae(tmp_path, **files))


def test_planetoid_bad_test_index_names_file_and_line(tmp_path):
    raw = tmp_path
    (raw / "ind.cora.test.index").write_text("2692\n2532\n25x0\n")
    with pytest.raises(DataFormatError, match=r"ind.cora.test.index:3: test node id '25x0' is not an integer"):
        _planetoid_part(raw, "cora", "test.index")
    (raw / "ind.cora.test.index").write_text("\n")
    with pytest.raises(DataFormatError, match="ind.cora.test.index: no test node ids"):
        _planetoid_part(raw, "cora", "test.index")
    (raw / "ind.cora.test.index").write_text("5\n3\n")
    assert _planetoid_part(raw, "cora", "test.index").tolist() == [5, 3]


@pytest.mark.parametrize("content, match", [(b"", "empty file, not a .npz"), (b"garbage\n", r"not a .npz \(zip\)"),
                                            (b"PK\x03\x04trunc", "unreadable .npz")])
def test_npz_empty_or_garbage_names_the_file(tmp_path, content, match):
    path = tmp_path / "cora.npz"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=f"cora.npz: {match}"):
        read_gnn_benchmark_npz(path)
    np.savez(path, adj_data=np.ones(1))
    with pytest.raises(DataFormatError, match=r"not a gnn-benchmark npz, missing \['adj_indices'"):
        read_gnn_benchmark_npz(path)


def test_missing_files_say_what_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="Planetoid raw files"):
        read_planetoid(tmp_path, "cora")
    with pytest.raises(FileNotFoundError, match=r"test.index\} in .*" + tmp_path.name + ".*kimiyoung/planetoid"):
        read_planetoid(tmp_path, "cora")
    with pytest.raises(GraphUnavailable, match="data_root"):
        load_graph("facebook", None)
    for spec in ("citeseer", "facebook", "citeseer-npz"):  # a data_root without them: skipped by the study
        with pytest.raises(GraphUnavailable, match="missing"):
            load_graph(spec, str(tmp_path))
    with pytest.raises(ValueError, match="known"):
        load_graph("reddit")


def test_rmat_quadrant_probabilities():
    src, dst = rmat_edges(1, 40000, seed=0)  # one level: 2 ids, the permutation may swap them
    counts = np.zeros((2, 2))
    np.add.at(counts, (src, dst), 1)
    p = np.sort(counts.ravel() / counts.sum())
    assert np.allclose(p, np.sort([0.57, 0.19, 0.19, 0.05]), atol=0.01)


def test_rmat_graph_is_skewed_and_sized():
    g = rmat_graph(3000, num_features=16, edge_factor=8, seed=0)
    assert g.features.shape == (3000, 16) and g.labels.max() < g.num_classes
    deg = g.indptr.diff().float()
    assert deg.max() > 10 * deg.mean()  # power-law-ish: hubs far above the mean
