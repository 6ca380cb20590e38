"""Study configs refuse, before any work, what used to fail only inside the notebook once the run had started.

Two kinds of check: ``validate()`` (values: ranges, repeats, a local dataset without its path) and
``check_data()`` (the local files a config names exist here), which ``from_dict(..., data=True)``, the runner and
the notebooks' ``build_config`` run and a profile check does not (a profile may name data this machine lacks).
Does not prove: that files which pass ``check_data`` are readable (their loaders check contents).
"""
from pathlib import Path

import pytest

from workbench import runner
from workbench.config import ConfigError, build_config, check_value, distinct, from_dict
from workbench.gpu_access.study import GPUAccessConfig
from workbench.lsh.study import LSHStudyConfig
from workbench.spectra.study import BatchSizeSpectraConfig, LrScalingConfig
from workbench.xmc_train.study import NegativeMiningConfig

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures" / "xmc"
FMNIST = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# -- YAML 1.1 numbers: 1e-3 is a string to PyYAML -------------------------------------------------------------

@pytest.mark.parametrize("value,tp,expected", [
    ("1e-3", "float", 0.001), ("2E0", "float", 2.0), ("1.0e3", "float | None", 1000.0),
    (["1e-2", "3e-2"], "list[float]", [0.01, 0.03]), ([0.1, "1e-1"], "list[float]", [0.1, 0.1]),
])
def test_exponent_strings_are_floats_where_a_float_is_asked(value, tp, expected):
    assert check_value("lr", value, tp) == expected


@pytest.mark.parametrize("value,tp", [("abc", "float"), ("1", "float"), ("1e-3", "int"), (["x"], "list[float]")])
def test_other_strings_are_still_refused(value, tp):
    with pytest.raises(ConfigError, match="parameter 'lr' must be"):
        check_value("lr", value, tp)


@pytest.mark.parametrize("value, tp, hint", [
    ("sgd", "list[str]", "-p optimizers=[sgd] on the command line, ['sgd'] in a profile or the notebook"),
    (3, "list[int]", "-p optimizers=[3] on the command line, [3] in"),
    ("1e-3", "list[float]", "-p optimizers=[0.001]")])
def test_a_single_value_for_a_list_says_how_a_list_of_one_is_written(value, tp, hint):
    import re
    with pytest.raises(ConfigError, match="a list of one is written in brackets: " + re.escape(hint)):
        check_value("optimizers", value, tp)
    with pytest.raises(ConfigError) as err:  # a value that would not fit in the list either: no hint
        check_value("seeds", "abc", "list[int]")
    assert "brackets" not in str(err.value)


def test_a_string_field_keeps_exponent_text():
    assert check_value("label", "1e-3", "str") == "1e-3"


# -- repeated list entries ------------------------------------------------------------------------------------

def test_distinct_names_the_field_and_the_repeat():
    class C:
        samplers = ["full", "uniform", "full"]
    with pytest.raises(ConfigError, match=r"samplers lists 'full' more than once"):
        distinct(C(), "samplers")


@pytest.mark.parametrize("cls,values,field", [
    (NegativeMiningConfig, {"samplers": ["full", "full"]}, "samplers"),
    (GPUAccessConfig, {"stores": ["cpu", "cpu"]}, "stores"),
    (GPUAccessConfig, {"graphs": ["cora", "cora"]}, "graphs"),
    (LSHStudyConfig, {"methods": ["full", "uniform", "full"], "adaptivity_method": "uniform"}, "methods"),
    (LrScalingConfig, {"seeds": [0, 0]}, "seeds"),
    (BatchSizeSpectraConfig, {"batch_sizes": [16, 32, 64, 64]}, "batch_sizes"),
])
def test_repeated_entries_are_refused(cls, values, field):
    with pytest.raises(ConfigError, match=f"{field} lists .* more than once"):
        from_dict(cls, values)


# -- LSH and negative-mining ranges ---------------------------------------------------------------------------

@pytest.mark.parametrize("values,message", [
    ({"seed": -1}, r"seed must be >= 0"),
    ({"num_labels": 4}, r"num_labels must be >= 5"),
    ({"adaptivity_samplers": []}, "adaptivity_samplers is empty"),
    ({"budget": 100_000_000}, r"budget must be <= 2000"),
    ({"num_labels": 100, "budget": 101}, r"budget must be <= 100 .*num_labels"),
    ({"dataset": "debian", "data_variant": "no"}, r"data_variant \['titles', 'fulltext'\]"),
])
def test_lsh_config_refuses_values_that_failed_later(values, message):
    with pytest.raises(ValueError, match=message):
        from_dict(LSHStudyConfig, values)


def test_lsh_budget_cap_is_the_smallest_bench_size_off_synthetic():
    from_dict(LSHStudyConfig, {"num_labels": 5, "budget": 5})
    from_dict(LSHStudyConfig, {"dataset": "debian", "num_labels": 5, "budget": 64})  # num_labels unused there
    with pytest.raises(ValueError, match=r"budget must be <= 1000 \(.*bench_sizes\)"):
        from_dict(LSHStudyConfig, {"dataset": "debian", "bench_sizes": [1000, 10_000], "budget": 1001})


def test_negative_mining_max_length_needs_room_for_cls_and_sep():
    with pytest.raises(ValueError, match="max_length must be >= 2"):
        from_dict(NegativeMiningConfig, {"max_length": 1})
    assert from_dict(NegativeMiningConfig, {"max_length": 2}).max_length == 2


@pytest.mark.parametrize("cls", [LrScalingConfig, BatchSizeSpectraConfig])
def test_spectra_need_three_batch_sizes_below_n_train(cls):
    sizes = {"batch_sizes": [8, 32, 128]}
    with pytest.raises(ConfigError, match=r"batch_sizes needs >= 3 sizes below n_train \(100\)"):
        from_dict(cls, {**sizes, "n_train": 100})
    assert from_dict(cls, {**sizes, "n_train": 129}).n_train == 129
    assert from_dict(cls, {**sizes, "n_train": 0}).n_train == 0
    # the embedded digits hold 1437 training examples: a size past them is the full operator, so only two are left
    # (this failed in a cell, after the bisections, as "fit_inverse_batch needs >= 3 distinct batch sizes")
    with pytest.raises(ConfigError, match=r"below the training set \(digits: 1437 examples\)"):
        from_dict(cls, {"batch_sizes": [8, 32, 100000]})
    with pytest.raises(ConfigError, match=r"digits: 1437 examples"):  # n_train above the set: the set
        from_dict(cls, {"batch_sizes": [8, 32, 2000], "n_train": 5000})
    local = {"dataset": "fashion_mnist", "data_path": "/somewhere"}  # a local set's size is not known here
    assert from_dict(cls, {**local, "batch_sizes": [8, 32, 10**6]}).batch_sizes == [8, 32, 10**6]


# -- local data: validate() wants a path, check_data() its files -----------------------------------------------

@pytest.mark.parametrize("cls", [LrScalingConfig, BatchSizeSpectraConfig])
@pytest.mark.parametrize("dataset", ["cifar10", "fashion_mnist"])
def test_spectra_local_datasets_need_data_path(cls, dataset):
    with pytest.raises(ConfigError, match=f"dataset '{dataset}' is read from local files: set data_path"):
        from_dict(cls, {"dataset": dataset})


def test_spectra_data_path_must_hold_the_loaders_files(tmp_path):
    fm = {"dataset": "fashion_mnist", "data_path": str(tmp_path)}
    assert from_dict(LrScalingConfig, fm).data_path == str(tmp_path)  # values only: a profile check passes
    with pytest.raises(ConfigError, match=r"t10k-labels-idx1-ubyte\[.gz\] not found.*apt-get install"):
        from_dict(LrScalingConfig, fm, data=True)
    for i, stem in enumerate(FMNIST):
        (tmp_path / (stem + (".gz" if i % 2 else ""))).write_bytes(b"")  # gzipped or not, as the loader reads
    from_dict(LrScalingConfig, fm, data=True)
    with pytest.raises(ConfigError, match=r"nowhere.* not found"):
        from_dict(BatchSizeSpectraConfig, {**fm, "data_path": str(tmp_path / "nowhere")}, data=True)
    cifar = {"dataset": "cifar10", "data_path": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"CIFAR-10-images.tar.gz not found"):
        from_dict(BatchSizeSpectraConfig, cifar, data=True)
    (tmp_path / "CIFAR-10-images.tar.gz").write_bytes(b"")
    from_dict(BatchSizeSpectraConfig, cifar, data=True)  # the folder holding it, or the file itself
    from_dict(BatchSizeSpectraConfig, {**cifar, "data_path": str(tmp_path / "CIFAR-10-images.tar.gz")}, data=True)


def test_lsh_local_data_must_exist(tmp_path):
    with pytest.raises(ValueError, match=r"is not a directory: fetch Mulan.*github.com/tsoumakas/mulan"):
        from_dict(LSHStudyConfig, {"dataset": "mulan", "data_dir": str(tmp_path / "gone")}, data=True)
    with pytest.raises(ValueError, match=r"needs <name>-train.arff\[.gz\].*Mulan"):
        from_dict(LSHStudyConfig, {"dataset": "mulan", "data_dir": str(tmp_path)}, data=True)
    (tmp_path / "tiny-train.arff").write_text("")
    with pytest.raises(ValueError, match=r"needs tiny-train.arff\[.gz\], tiny-test.arff\[.gz\] and tiny.xml"):
        from_dict(LSHStudyConfig, {"dataset": "mulan", "data_dir": str(tmp_path)}, data=True)
    from_dict(LSHStudyConfig, {"dataset": "mulan", "data_dir": str(FIX / "mulan")}, data=True)
    with pytest.raises(ValueError, match="is not a directory"):
        from_dict(LSHStudyConfig, {"dataset": "dir", "data_dir": str(tmp_path / "gone")}, data=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no XMC dataset layout"):
        from_dict(LSHStudyConfig, {"dataset": "dir", "data_dir": str(tmp_path / "empty")}, data=True)
    from_dict(LSHStudyConfig, {"dataset": "dir", "data_dir": str(FIX / "bow")}, data=True)


def test_negative_mining_dataset_needs_a_layout_with_texts(tmp_path):
    with pytest.raises(ValueError, match="holds no known XMC layout.*raw text.*Extreme Classification Repository"):
        from_dict(NegativeMiningConfig, {"dataset": str(tmp_path)}, data=True)  # and where to fetch one
    with pytest.raises(ValueError, match="holds the bow layout, which has no texts"):
        from_dict(NegativeMiningConfig, {"dataset": str(FIX / "bow")}, data=True)
    for layout in ("raw_text", "lf_json", "mulan"):
        from_dict(NegativeMiningConfig, {"dataset": str(FIX / layout)}, data=True)


def test_gpu_access_data_root_must_hold_one_of_its_graphs(tmp_path):
    values = {"graphs": ["citeseer", "facebook"], "data_root": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"holds none of graphs=\['citeseer', 'facebook'\].*ind.citeseer.graph"):
        from_dict(GPUAccessConfig, values, data=True)
    raw = tmp_path / "planetoid" / "raw"
    raw.mkdir(parents=True)
    (raw / "ind.citeseer.graph").write_bytes(b"")
    from_dict(GPUAccessConfig, values, data=True)  # one graph there: the missing one is skipped, as before
    from_dict(GPUAccessConfig, {"graphs": ["cora", "facebook"], "data_root": str(tmp_path / "planetoid")}, data=True)


def test_build_config_checks_the_data_too(tmp_path):
    ns = {k: getattr(LrScalingConfig(), k) for k in LrScalingConfig.__dataclass_fields__}
    with pytest.raises(ConfigError, match="not found"):
        build_config(LrScalingConfig, {**ns, "dataset": "fashion_mnist", "data_path": str(tmp_path)})


def test_runner_refuses_missing_data_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        runner.run_study("lr_scaling", None, {"dataset": "fashion_mnist", "data_path": str(tmp_path / "fm")},
                         reports=tmp_path / "reports", root=REPO)
    with pytest.raises(ConfigError, match="is not a directory"):
        runner.run_study("lsh_sampling", None, {"dataset": "dir", "data_dir": str(tmp_path / "gone")},
                         reports=tmp_path / "reports", root=REPO)
    assert not (tmp_path / "reports").exists()
