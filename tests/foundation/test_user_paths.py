"""Every local-data path a user types reads ``~`` as their home, in the config's checks and in the loaders alike: a
``~`` dataset once passed the negative-mining config and then failed to load with a misleading layout error.

Does not prove: ``~user`` for another user (io.user_path's own test), or paths inside profiles of other studies."""
import shutil
from pathlib import Path

import pytest

from workbench.config import from_dict
from workbench.gpu_access.catalog import load_graph
from workbench.gpu_access.study import GPUAccessConfig
from workbench.lsh.study import LSHStudyConfig
from workbench.xmc.load import load_dataset, load_mulan
from workbench.xmc_train.study import NegativeMiningConfig, load_data

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "xmc"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Path("~").expanduser() == tmp_path
    return tmp_path


def test_xmc_loaders_and_the_negative_mining_config_read_tilde(home):
    shutil.copytree(FIX / "raw_text", home / "mydata")
    shutil.copytree(FIX / "mulan", home / "mulan")
    assert load_dataset("~/mydata").Y_train.shape == load_dataset(home / "mydata").Y_train.shape
    assert load_mulan("~/mulan").Y_train.shape == load_mulan(home / "mulan").Y_train.shape
    cfg = NegativeMiningConfig(dataset="~/mydata")  # validates
    cfg.check_data()
    assert load_data(cfg).Y_train.shape == load_dataset(home / "mydata").Y_train.shape


def test_lsh_and_gpu_access_configs_and_graphs_read_tilde(home):
    shutil.copytree(FIX / "mulan", home / "mulan")
    from_dict(LSHStudyConfig, {"dataset": "mulan", "data_dir": "~/mulan"}).check_data()
    musae = home / "graphs" / "musae" / "facebook"
    musae.mkdir(parents=True)
    (musae / "facebook_target.csv").write_text("id,facebook_id,page_name,page_type\n"
                                              + "".join(f"{i},{i},p{i},{'tvshow' if i % 2 else 'company'}\n"
                                                        for i in range(400)))
    (musae / "facebook_edges.csv").write_text("id_1,id_2\n" + "".join(f"{i},{(i * 7 + 1) % 400}\n" for i in range(400)))
    (musae / "facebook_features.json").write_text("{" + ",".join(f'"{i}": [{i % 5}]' for i in range(400)) + "}")
    assert from_dict(GPUAccessConfig, {"graphs": ["facebook"], "data_root": "~/graphs"}).data_root == "~/graphs"
    assert load_graph("facebook", "~/graphs").num_nodes == 400


def test_relative_note_names_the_working_directory_for_a_relative_path_only(monkeypatch, tmp_path):
    """A relative path is looked for in the working directory, and the note says which; an absolute path, or one
    from ``~`` (absolute once expanded, as the readers expand it), needs no note."""
    from workbench.io import relative_note
    monkeypatch.chdir(tmp_path)
    assert relative_note("data/x") == f" (relative to {tmp_path})"
    assert relative_note(Path("data")) == f" (relative to {tmp_path})"
    assert relative_note(tmp_path / "x") == ""
    assert relative_note("~/x") == ""
