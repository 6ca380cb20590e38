"""Graph readers and generators against hand-made ground truth and the shared raw files."""
import gzip
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.gpu_access.catalog import GraphUnavailable, load_graph
from workbench.gpu_access.cora_data import build_cora, default_dir, load_cora
from workbench.gpu_access.graphs import (_planetoid_part, csr_from_edges, read_gnn_benchmark_npz, read_musae_facebook,
                                        read_planetoid)
from workbench.gpu_access.rmat import host_bytes_needed, rmat_edges, rmat_graph
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


PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def test_embedded_cora_is_what_the_builder_makes(shared_path, tmp_path):
    raw = shared_path("planetoid/raw", *(f"ind.cora.{p}" for p in PLANETOID_PARTS))
    out = build_cora(raw, tmp_path / "cora")
    a, b, c = load_cora(out), load_cora(), read_planetoid(raw, "cora")
    for f in ("indptr", "indices", "features", "labels", "train_idx", "val_idx", "test_idx"):
        assert torch.equal(getattr(a, f), getattr(b, f)) and torch.equal(getattr(a, f), getattr(c, f)), f


def test_citeseer_matches_published_sizes(shared_path):
    raw = shared_path("planetoid/raw", *(f"ind.citeseer.{p}" for p in PLANETOID_PARTS))
    g = load_graph("citeseer", str(raw.parents[1]))  # the data root that holds planetoid/raw
    assert (g.num_nodes, g.num_edges, g.features.shape[1], g.num_classes) == (3327, 9104, 3703, 6)


@pytest.mark.slow
def test_facebook(shared_path):
    g = read_musae_facebook(shared_path("musae/facebook", "facebook_target.csv*", "facebook_edges.csv*",
                                        "facebook_features.json*"))
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
    p = counts / counts.sum()
    # a swap of the ids keeps a and d on the diagonal, b and c off it: the layout is checkable, not only the shares
    assert np.allclose([p[0, 1], p[1, 0]], 0.19, atol=0.01)
    assert np.allclose(np.sort(np.diag(p)), [0.05, 0.57], atol=0.01)


def test_rmat_graph_is_skewed_and_sized():
    g = rmat_graph(3000, num_features=16, edge_factor=8, seed=0)
    assert g.features.shape == (3000, 16) and g.labels.max() < g.num_classes
    deg = g.indptr.diff().float()
    assert deg.max() > 10 * deg.mean()  # power-law-ish: hubs far above the mean


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from Linux's /proc")
def test_rmat_host_memory_estimate_bounds_the_measured_peak():
    """The estimate behind the refusal below is at least the peak RSS growth of a real build (in a fresh process,
    so the high-water mark is this build's; ``ru_maxrss`` would carry pytest's own across exec). Linux only. Not
    proven: that the ratio holds at tens of GiB (measured 116 B per edge at 16M edges)."""
    code = ("import re, torch; from workbench.gpu_access.rmat import rmat_graph\n"  # VmHWM: this process's peak
            "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
            "r = hwm(); g = rmat_graph(300000, 128, 8); print((hwm() - r) * 1024)")
    grew = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    need = host_bytes_needed(300000, 128, 8)
    assert 0.5 * need < grew <= need, (grew, need)


def test_rmat_larger_than_host_memory_is_unavailable_not_killed(monkeypatch):
    """A graph that would not fit in host memory is skipped with a reason (GraphUnavailable), before allocating."""
    free = [host_bytes_needed(1000, 128, 8) - 1]
    monkeypatch.setattr("workbench.gpu_access.catalog.host_memory_available", lambda: free[0])
    spec = f"rmat:{1000 * 512 / 2**30}"
    with pytest.raises(GraphUnavailable, match=r"rmat:.*needs about 0.0 GiB of host memory.*pick a smaller"):
        load_graph(spec)
    free[0] += 1
    assert load_graph(spec).num_nodes == 1000
    # the cpu store's two pinned staging buffers count too: 300 staged rows of 512 B, twice, do not fit then
    with pytest.raises(GraphUnavailable, match=r"0.0 GiB of pinned staging"):
        load_graph(spec, staging_rows=300)
    free[0] += 2 * 300 * 512
    assert load_graph(spec, staging_rows=300).num_nodes == 1000
    free[0] -= 1   # staging is capped at the graph's nodes: 10^6 rows stage no more than its 1000
    with pytest.raises(GraphUnavailable):
        load_graph(spec, staging_rows=1000)
    free[0] += 2 * 700 * 512 + 1
    assert load_graph(spec, staging_rows=10**6).num_nodes == 1000


def test_staging_rows_bound_a_batch_s_input_rows_for_a_cpu_store_on_a_gpu():
    """1024 seeds, fan-outs 15,10,5: at most 1024 x 16 x 11 x 6 input rows; none without a cpu (or auto) store
    on a GPU; a -1 fan-out (all neighbours) leaves no bound but the graph's nodes."""
    import dataclasses

    from workbench.gpu_access.experiments import staging_rows
    from workbench.gpu_access.study import GPUAccessConfig
    cfg = GPUAccessConfig(batch_size=1024, fanouts=[15, 10, 5], stores=["cpu", "zero_copy"])
    gpu = torch.device("cuda")
    assert staging_rows(cfg, gpu) == 1024 * 16 * 11 * 6
    assert staging_rows(cfg, torch.device("cpu")) == 0
    assert staging_rows(dataclasses.replace(cfg, stores=["zero_copy", "gpu"]), gpu) == 0
    assert staging_rows(dataclasses.replace(cfg, stores=["auto"]), gpu) > 0
    assert staging_rows(dataclasses.replace(cfg, stores=["gpu"], cpu_sampler_baseline=True), gpu) > 0
    assert staging_rows(dataclasses.replace(cfg, fanouts=[15, -1]), gpu) >= 2**62


# -- files whose parts disagree: DataFormatError naming the file, not numpy's or scipy's bare errors -------------

def _cora_npz_copy(tmp_path, drop: str | None = None, keep_bytes: int | None = None):
    """A copy of the embedded cora.npz in tmp_path: without the array ``drop``, or cut to ``keep_bytes``."""
    src = default_dir() / "cora.npz"
    out = tmp_path / "cora.npz"
    if drop is None:
        data = src.read_bytes()
        out.write_bytes(data[:keep_bytes])
    else:
        with np.load(src) as z:
            arrays = {k: z[k] for k in z.files if k != drop}
        with out.open("wb") as f:
            np.savez(f, **arrays)
    return out


@pytest.mark.parametrize("fraction", [0.5, 0.999])
def test_truncated_cora_npz_names_the_file(tmp_path, fraction):
    size = (default_dir() / "cora.npz").stat().st_size
    path = _cora_npz_copy(tmp_path, keep_bytes=int(size * fraction))
    with pytest.raises(DataFormatError, match=re.escape(f"{path}: unreadable .npz")):
        load_cora(tmp_path)


def test_cora_npz_missing_an_array_names_the_file_and_the_array(tmp_path):
    path = _cora_npz_copy(tmp_path, drop="labels")
    match = re.escape(str(path)) + r": not the embedded Cora .*missing \['labels'\]"
    with pytest.raises(DataFormatError, match=match):
        load_cora(tmp_path)


def _npz(path, **replace):
    """A three-node gnn-benchmark npz (a path 0-1-2, two attributes, two classes), some arrays replaced."""
    arrays = {"adj_data": np.ones(4, np.float32), "adj_indices": np.array([1, 0, 2, 1], np.int32),
              "adj_indptr": np.array([0, 1, 3, 4], np.int32), "adj_shape": np.array([3, 3]),
              "attr_data": np.ones(3, np.float32), "attr_indices": np.array([0, 1, 1], np.int32),
              "attr_indptr": np.array([0, 1, 2, 3], np.int32), "attr_shape": np.array([3, 2]),
              "labels": np.array([0, 1, 1], np.int8)}
    np.savez(path, **{**arrays, **replace})
    return path


def test_tiny_gnn_benchmark_npz(tmp_path):
    g = read_gnn_benchmark_npz(_npz(tmp_path / "tiny.npz"))
    assert g.indptr.tolist() == [0, 1, 3, 4] and g.indices.tolist() == [1, 0, 2, 1]
    assert g.features.tolist() == [[1, 0], [0, 1], [0, 1]] and g.labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize("replace, match", [
    ({"adj_indices": np.array([1, 0, 7, 1], np.int32)}, r"adj_indices must lie in \[0, 3\), got 0..7"),
    ({"attr_indices": np.array([0, 1, 2], np.int32)}, r"attr_indices must lie in \[0, 2\)"),
    ({"adj_indptr": np.array([0, 3, 1, 4], np.int32)}, "adj_indptr must rise from 0 to 4"),
    ({"adj_indptr": np.array([0, 1, 4], np.int32)}, "adj_indptr of 4 entries"),
    ({"adj_shape": np.array([3, 4])}, r"adj_shape \[3, 4\] is not square"),
    ({"attr_shape": np.array([4, 2])}, "attr_shape has 4 rows, the graph 3 nodes"),
    ({"labels": np.array([0, 1], np.int8)}, "labels must be 3 integers >= 0"),
    ({"attr_data": np.array([1, np.nan, 1], np.float32)}, "attr_data must be finite, entry 1 is nan"),
    ({"attr_data": np.array([1, 1, -np.inf], np.float32)}, "attr_data must be finite, entry 2 is -inf"),
])
def test_gnn_benchmark_npz_whose_arrays_disagree_names_the_file(tmp_path, replace, match):
    path = _npz(tmp_path / "tiny.npz", **replace)
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + f": .*{match}"):
        read_gnn_benchmark_npz(path)


def _planetoid(raw, test_index="4\n3\n", **replace):
    """Planetoid files of a five-node graph 'toy': allx 3 rows (x: the first 2), tx 2 rows for test ids 3 and 4,
    4 features, 2 classes; some parts replaced."""
    import pickle

    import scipy.sparse as sp
    parts = {"x": sp.csr_matrix(np.eye(2, 4, dtype=np.float32)), "y": np.eye(2, dtype=np.int32),
             "allx": sp.csr_matrix(np.eye(3, 4, dtype=np.float32)),
             "ally": np.array([[1, 0], [0, 1], [1, 0]], np.int32),  # one-hot: an empty row is refused
             "tx": sp.csr_matrix(np.ones((2, 4), np.float32)), "ty": np.eye(2, dtype=np.int32),
             "graph": {0: [1], 1: [0, 2], 2: [1], 3: [4], 4: [3]}, **replace}
    for part, value in parts.items():
        (raw / f"ind.toy.{part}").write_bytes(pickle.dumps(value, protocol=2))
    (raw / "ind.toy.test.index").write_text(test_index)
    return raw


def test_tiny_planetoid(tmp_path):
    g = read_planetoid(_planetoid(tmp_path), "toy")
    assert g.num_nodes == 5 and g.indices.tolist() == [1, 0, 2, 1, 4, 3]
    assert g.features[3:].tolist() == [[1, 1, 1, 1]] * 2 and g.test_idx.tolist() == [3, 4]


@pytest.mark.parametrize("test_index, order, gap", [("4\n3\n", [4, 3], []), ("3\n4\n", [3, 4], []),
                                                    ("5\n3\n", [5, 3], [4])], ids=["reversed", "sorted", "gap"])
def test_planetoid_test_rows_follow_test_index_order(tmp_path, test_index, order, gap):
    """Row i of tx / ty belongs to node ``test.index`` line i (GCN's ``load_data`` reorders them), whatever the
    order of the file; an id missing from test.index (CiteSeer's gap) gets zero features and label 0.
    Not proven: that the real Cora / CiteSeer files follow this layout
    (test_embedded_cora_is_what_the_builder_makes)."""
    import scipy.sparse as sp
    tx = np.array([[1, 2, 0, 0], [0, 0, 3, 4]], np.float32)  # distinct rows, unlike every allx row
    ty = np.array([[0, 1], [1, 0]], np.int32)  # classes 1, 0 by tx row
    g = read_planetoid(_planetoid(tmp_path, test_index, tx=sp.csr_matrix(tx), ty=ty), "toy")
    for row, node in enumerate(order):
        assert g.features[node].tolist() == tx[row].tolist(), node
        assert int(g.labels[node]) == int(ty[row].argmax()), node
    for node in gap:
        assert g.features[node].tolist() == [0, 0, 0, 0] and int(g.labels[node]) == 0
    assert g.features[:3].tolist() == np.eye(3, 4).tolist() and g.labels[:3].tolist() == [0, 1, 0]
    assert g.test_idx.tolist() == sorted(order)


@pytest.mark.parametrize("test_index, replace, part, match", [
    ("4\n3\n", {"tx": np.ones((1, 4), np.float32), "ty": np.eye(1, 2)}, "test.index",
     r"2 test node ids \(2 distinct\) for the 1 rows of ind.toy.tx"),
    ("4\n4\n", {}, "test.index", r"2 test node ids \(1 distinct\)"),
    ("5\n2\n", {}, "test.index", "test node ids run 2..5; they must start at 3"),
    ("3\n4\n", {"graph": {i: [] for i in range(7)}}, "test.index", "reach the graph's last node 6"),
    ("3\n4000000000\n", {}, "test.index", "run 3..4000000000 for 2 rows of ind.toy.tx: more than half"),
    ("4\n3\n", {"ty": np.eye(1, 2)}, "ty", "1 label rows for the 2 rows of ind.toy.tx"),
    ("4\n3\n", {"tx": np.ones((2, 3), np.float32)}, "tx", "widths disagree"),
    ("4\n3\n", {"x": [[1, 0]]}, "x", "expected a 2-D matrix, got list"),
    ("4\n3\n", {"graph": {0: [1], 1: [9]}}, "graph", r"node ids must lie in \[0, 5\)"),
    ("4\n3\n", {"allx": np.array([[1, 0, 0, 0], [0, np.nan, 0, 0], [0, 0, 1, 0]])}, "allx",
     "feature values must be finite, entry 5 is nan"),
    ("4\n3\n", {"tx": np.array([[1, 1, 1, np.inf]] * 2)}, "tx", "feature values must be finite, entry 3 is inf"),
    ("4\n3\n", {"y": np.array([[1, 0], [0, 0]])}, "y", "label row 1 has 0 classes set: expected one-hot"),
    ("4\n3\n", {"ally": np.array([[1, 0], [0, 1], [1, 1]])}, "ally", "label row 2 has 2 classes set"),
])
def test_planetoid_parts_that_disagree_name_the_file(tmp_path, test_index, replace, part, match):
    raw = _planetoid(tmp_path, test_index, **replace)
    with pytest.raises(DataFormatError, match=re.escape(str(raw / f"ind.toy.{part}")) + f": .*{match}"):
        read_planetoid(raw, "toy")


def test_planetoid_labels_name_the_first_row_that_is_not_one_hot(tmp_path):
    """ally rows 0 (no class) and 2 (two classes) are both bad: the message names row 0, the first."""
    raw = _planetoid(tmp_path, ally=np.array([[0, 0], [0, 1], [1, 1]]))
    with pytest.raises(DataFormatError, match=re.escape(str(raw / "ind.toy.ally")) + ": label row 0 has 0 classes"):
        read_planetoid(raw, "toy")


@pytest.mark.parametrize("allx, match", [
    (np.array([["1", "0", "0", "0"]] * 3), "feature values must be numbers, got <U1"),
    ("lil-nan", "feature values must be finite, entry 1 is nan"),
])
def test_planetoid_features_of_any_layout_are_checked_as_numbers(tmp_path, allx, match):
    """Text features (a hand-made pickle) are refused as such; a lil matrix (its .data holds lists) is read by its
    stored values: the NaN it holds is the second stored value."""
    import scipy.sparse as sp
    if isinstance(allx, str):
        allx = sp.lil_matrix(np.array([[1, 0, 0, 0], [0, np.nan, 0, 0], [0, 0, 1, 0]], np.float32))
    raw = _planetoid(tmp_path, allx=allx)
    with pytest.raises(DataFormatError, match=re.escape(str(raw / "ind.toy.allx")) + f": {match}"):
        read_planetoid(raw, "toy")


def test_planetoid_reads_lil_features(tmp_path):
    """allx as a lil matrix (finite values) loads like its csr form."""
    import scipy.sparse as sp
    g = read_planetoid(_planetoid(tmp_path, allx=sp.lil_matrix(np.eye(3, 4, dtype=np.float32))), "toy")
    assert g.features[:3].tolist() == np.eye(3, 4).tolist()
