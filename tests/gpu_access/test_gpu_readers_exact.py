"""The MUSAE Facebook reader and the unified-tensor UVA check on cases solved by hand: labels and features by node
id whatever the row order, a single node without features refused, and a failed attribute query keeping the Linux
default. A review that changed one line at a time in these modules found each change passed the rest of the suite.

Does not prove: anything on a GPU (the CUDA tests on a lent machine do)."""
import pytest
import torch

from workbench.gpu_access import unified
from workbench.gpu_access.graphs import read_musae_facebook
from workbench.xmc.errors import DataFormatError


def _musae(root, target, features='{"0": [1], "1": [0]}'):
    (root / "facebook_target.csv").write_text(target)
    (root / "facebook_edges.csv").write_text("id_1,id_2\n0,1\n")
    (root / "facebook_features.json").write_text(features)


def test_musae_labels_follow_the_target_ids_not_the_row_order(tmp_path):
    """Target rows list node 1 (tvshow) before node 0 (company); kinds sorted: company 0, tvshow 1. Labels and
    feature rows are by node id: [0, 1] and node 0's feature 1, node 1's feature 0."""
    _musae(tmp_path, "id,facebook_id,page_name,page_type\n1,7,b,tvshow\n0,8,a,company\n")
    g = read_musae_facebook(tmp_path)
    assert g.labels.tolist() == [0, 1]
    assert g.features.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_musae_features_missing_a_single_node_are_refused(tmp_path):
    """Two nodes, features for node 0 only: refused, naming the count and the first node without features."""
    _musae(tmp_path, "id,facebook_id,page_name,page_type\n0,7,a,company\n1,8,b,tvshow\n", features='{"0": [1]}')
    with pytest.raises(DataFormatError, match=r"1 of the 2 nodes .* the first is node 1"):
        read_musae_facebook(tmp_path)


def test_a_uva_question_that_fails_keeps_the_linux_default(monkeypatch):
    """cudaDeviceGetAttribute returning an error code means the question failed, not the feature: on Linux UVA is
    assumed (every CUDA device since Kepler has it there), and the sticky error is cleared once."""
    class FailingLib:
        cleared = 0

        def cudaDeviceGetAttribute(self, ptr, attr, dev):
            return 1

        def cudaGetLastError(self):
            FailingLib.cleared += 1
            return 0
    monkeypatch.setattr(unified.platform, "system", lambda: "Linux")
    monkeypatch.setattr(unified, "_cudart_lib", lambda: FailingLib())
    assert unified._uva_ok(torch.device("cuda", 0)) is True
    assert FailingLib.cleared == 1
