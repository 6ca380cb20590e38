"""Fuzzing the graph readers: whatever a MUSAE folder, a gnn-benchmark .npz or a Planetoid pickle holds, the
reader returns a consistent graph or raises DataFormatError naming the file, nothing else (no TypeError,
MemoryError or numpy message naming no file).

Does not prove: that accepted odd input is read meaningfully (only that it is self-consistent), nor anything
about inputs far from the shapes drawn here.
"""
from __future__ import annotations

import collections
import json
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.gpu_access import graphs
from workbench.xmc.errors import DataFormatError

# derandomize: the same examples every run, so a failure reproduces and CI does not flake on a rare draw
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _consistent_or_format_error(read, *args) -> None:
    try:
        g = read(*args)
    except DataFormatError:
        return
    n = g.num_nodes
    assert g.features.shape[0] == g.labels.shape[0] == n > 0
    assert g.indices.numel() == 0 or 0 <= int(g.indices.min()) <= int(g.indices.max()) < n
    assert all(int(s.max(initial=0)) < n for s in (g.train_idx.numpy(), g.val_idx.numpy(), g.test_idx.numpy()))


csv_token = st.sampled_from(["id", "page_type", ",", "\n", "0", "1", "2", "x", '"', " ", "-1", "9", "id,page_type\n"])
csv_text = st.lists(csv_token, max_size=30).map("".join)
feature_json = st.one_of(
    st.text(max_size=20),
    st.dictionaries(st.sampled_from(["0", "1", "2", "x", "-1", "7"]),
                    st.one_of(st.lists(st.integers(-2, 40), max_size=3), st.integers(), st.text(max_size=2)),
                    max_size=4).map(json.dumps))


@SETTINGS
@given(target=csv_text, edges=csv_text, features=feature_json, good_target=st.booleans(), good_edges=st.booleans())
def test_fuzz_musae(tmp_path, target, edges, features, good_target, good_edges):
    (tmp_path / "facebook_target.csv").write_text("id,page_type\n0,a\n1,b\n2,a\n" if good_target else target)
    (tmp_path / "facebook_edges.csv").write_text("id_1,id_2\n0,1\n1,2\n" if good_edges else edges)
    (tmp_path / "facebook_features.json").write_text(features)
    _consistent_or_format_error(graphs.read_musae_facebook, tmp_path)


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_fuzz_npz_bytes(tmp_path, raw):
    path = tmp_path / "g.npz"
    path.write_bytes(raw)
    _consistent_or_format_error(graphs.read_gnn_benchmark_npz, path)


NPZ_KEYS = ["adj_data", "adj_indices", "adj_indptr", "adj_shape", "attr_data", "attr_indices", "attr_indptr",
            "attr_shape", "labels"]
odd_array = st.one_of(st.lists(st.integers(-2, 6), max_size=6).map(lambda v: np.array(v, np.int64)),
                      st.lists(st.floats(-2, 6), max_size=4).map(np.array),
                      st.sampled_from([np.array("s"), np.zeros((2, 2)), np.array([3, 10**12])]))


def _small_npz() -> dict[str, np.ndarray]:
    """A valid 3-node gnn-benchmark graph (a path 0-1-2, 2 features, 2 classes)."""
    return {"adj_data": np.ones(4), "adj_indices": np.array([1, 0, 2, 1]), "adj_indptr": np.array([0, 1, 3, 4]),
            "adj_shape": np.array([3, 3]), "attr_data": np.ones(3), "attr_indices": np.array([0, 1, 0]),
            "attr_indptr": np.array([0, 1, 2, 3]), "attr_shape": np.array([3, 2]), "labels": np.array([0, 1, 0])}


@SETTINGS
@given(swap=st.dictionaries(st.sampled_from(NPZ_KEYS), odd_array, max_size=3))
def test_fuzz_npz_arrays(tmp_path, swap):
    path = tmp_path / "h.npz"
    np.savez(path, **{**_small_npz(), **swap})
    _consistent_or_format_error(graphs.read_gnn_benchmark_npz, path)


def _planetoid() -> dict:
    """A valid 6-node Planetoid set: x 3 rows, allx 4, tx 2 (test ids 4, 5), 3 features, 2 classes."""
    return {"x": sp.csr_matrix(np.eye(3)), "y": np.array([[1, 0], [0, 1], [1, 0]]),
            "tx": sp.csr_matrix(np.ones((2, 3))), "ty": np.array([[0, 1]] * 2),
            "allx": sp.csr_matrix(np.ones((4, 3))), "ally": np.array([[1, 0]] * 4),
            "graph": collections.defaultdict(list, {i: [(i + 1) % 6] for i in range(6)})}


odd_part = st.sampled_from([
    1, "s", [1, 2], None, {}, {0: 1}, {0: ["a"]}, {"a": [1]}, {0: [7]}, {0: [-1]}, {0: None},
    {0: [1, 2], 1: [0], 7: [0]}, {i: [] for i in range(6)}, np.zeros(3), np.zeros((2, 2, 2)),
    np.array([["a", "b"]]), np.ones((4, 2)), np.ones((2, 2)), np.ones((3, 2)), np.ones((4, 3)), np.ones((0, 3)),
    sp.csr_matrix(np.ones((2, 3))), sp.csr_matrix(np.ones((4, 3))), sp.csr_matrix((3, 2)), sp.csr_matrix((0, 3))])


@SETTINGS
@given(part=st.sampled_from(["x", "y", "tx", "ty", "allx", "ally", "graph"]), value=odd_part,
       test_index=st.sampled_from(["4\n5\n", "5\n4\n", "4\n", "4\n4\n", "3\n5\n", "4\n9\n", "-1\n5\n", "4\n5\n6\n"]))
def test_fuzz_planetoid(tmp_path, part, value, test_index):
    for name, obj in {**_planetoid(), part: value}.items():
        (tmp_path / f"ind.cora.{name}").write_bytes(pickle.dumps(obj, protocol=2))
    (tmp_path / "ind.cora.test.index").write_text(test_index)
    _consistent_or_format_error(graphs.read_planetoid, tmp_path)


def test_planetoid_graph_not_a_dict_names_the_file(tmp_path):
    for name, obj in {**_planetoid(), "graph": [[1], [0]]}.items():
        (tmp_path / f"ind.cora.{name}").write_bytes(pickle.dumps(obj, protocol=2))
    (tmp_path / "ind.cora.test.index").write_text("4\n5\n")
    with pytest.raises(DataFormatError, match=r"ind\.cora\.graph: expected a dict .* got list"):
        graphs.read_planetoid(tmp_path)
    (tmp_path / "ind.cora.graph").write_bytes(pickle.dumps({0: None, 1: [0]}, protocol=2))
    with pytest.raises(DataFormatError, match=r"ind\.cora\.graph: expected a dict .* of integers \(TypeError"):
        graphs.read_planetoid(tmp_path)


@pytest.mark.parametrize("reader", ["musae", "npz"])
def test_a_feature_matrix_beyond_host_memory_is_refused_before_allocation(tmp_path, monkeypatch, reader):
    """A corrupt feature id (MUSAE) or attr_shape (npz) that would make a dense matrix larger than the host memory
    left is a DataFormatError naming the file, not a MemoryError (checked with 1 MiB "available")."""
    monkeypatch.setattr(graphs, "host_memory_available", lambda: 2**20)
    if reader == "musae":
        (tmp_path / "facebook_target.csv").write_text("id,page_type\n0,a\n1,b\n")
        (tmp_path / "facebook_edges.csv").write_text("id_1,id_2\n0,1\n")
        (tmp_path / "facebook_features.json").write_text('{"0": [1], "1": [200000]}')  # 2 x 200001 x 4 B = 1.5 MiB
        path, read = tmp_path / "facebook_features.json", graphs.read_musae_facebook
    else:
        path, read = tmp_path / "g.npz", graphs.read_gnn_benchmark_npz
        np.savez(path, **{**_small_npz(), "attr_shape": np.array([3, 40_000])})  # 3 x 40000 x (8 + 4) B = 1.4 MiB
    with pytest.raises(DataFormatError, match=rf"{path.name}: densifying its \d+ x \d+ feature matrix needs "
                                              r"1\.\d MiB, more than the 1\.0 MiB of host memory available"):
        read(path if reader == "npz" else tmp_path)
    monkeypatch.setattr(graphs, "host_memory_available", lambda: 2**30)
    assert read(path if reader == "npz" else tmp_path).features.shape[0] in (2, 3)


def test_planetoid_width_that_overflows_int64_is_refused(tmp_path):
    """2^60 feature columns: rows x bytes x columns wrapped negative in numpy's int64 (the node count is a numpy
    int where the test ids pass the graph) and passed the memory check; now a DataFormatError naming ind.cora.allx."""
    width = 2**60
    parts = {**_planetoid(), "graph": collections.defaultdict(list, {i: [(i + 1) % 5] for i in range(5)})}
    for part, rows in (("x", 3), ("tx", 2), ("allx", 4)):
        parts[part] = sp.csr_matrix(([1.0], ([0], [0])), shape=(rows, width))
    for name, obj in parts.items():
        (tmp_path / f"ind.cora.{name}").write_bytes(pickle.dumps(obj, protocol=2))
    (tmp_path / "ind.cora.test.index").write_text("4\n5\n")
    with pytest.raises(DataFormatError, match=r"ind\.cora\.allx: densifying its 6 x 1152921504606846976 feature"):
        graphs.read_planetoid(tmp_path)
