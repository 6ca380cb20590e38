"""Every study notebook: stripped, typed and documented parameters that match its config class, valid profiles.

(nbval runs each notebook at its defaults separately: `pytest --nbval-lax notebooks`.)
"""
import ast
import dataclasses
import re
from pathlib import Path

import nbformat
import pytest

from workbench.config import field_types
from workbench.notebooks import STUDY_CONFIGS, check_config, effective_parameters, load_profile, parameters

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb")) + [REPO / "tests" / "notebooks" / "tiny.ipynb"]


def _config_class(nb):
    """The class passed to build_config in the notebook's config cell, imported as that cell imports it."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and "build_config(" in c.source)
    name = re.search(r"build_config\((\w+)", cell.source).group(1)
    ns: dict = {}
    tree = ast.parse(cell.source)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef)):
            exec(compile(ast.Module([node], []), "<cell>", "exec"), ns)  # noqa: S102
    return ns[name]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "papermill" not in nb.metadata and "language_info" not in nb.metadata  # as the filter strips
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        "commit notebooks stripped (make strip)"
    assert nb.cells[0].cell_type == "markdown" and "python -m workbench run" in nb.cells[0].source, \
        "the first cell is markdown and says how to run the study (python -m workbench run <study>)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    assert "build_config(" in code[1].source, "the cell after the parameters builds the typed config"
    for c in code:  # their return values (a path, a whole table) would be printed into the report
        last = c.source.rstrip().splitlines()[-1] if c.source.strip() else ""
        returns = last.startswith(("run.save_figure(", "run.write_table(", "run.append("))
        assert not (returns and not last.endswith(";")), \
            f"end the cell with ';' so the report does not show the returned value: {last}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_typed_documented_and_match_config(path):
    spec = parameters(path)
    for p in spec.values():
        assert p.type and p.type != "None", f"{p.name} has no type annotation"
        assert p.help.strip(), f"{p.name} has no help comment"
    cls = _config_class(nbformat.read(str(path), as_version=4))
    types = field_types(cls)
    assert list(types) == list(spec), "parameters cell and config fields must match, in order"
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(cls)}
    for name, p in spec.items():
        assert defaults[name] == p.default, f"{name}: notebook default {p.default!r} != config {defaults[name]!r}"


@pytest.mark.parametrize("profile", sorted((REPO / "notebooks" / "params").glob("*/*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_profiles_are_valid(profile):
    study = profile.parent.name
    spec = parameters(REPO / "notebooks" / f"{study}.ipynb")
    values = effective_parameters(spec, load_profile(study, profile.stem, REPO), where=str(profile))
    check_config(study, values, where=str(profile))  # the values too, as the runner checks them before any work


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parent.name == "notebooks" and p.parent.parent == REPO],
                         ids=lambda p: p.stem)
def test_runner_builds_the_class_the_notebook_builds(path):
    cls = _config_class(nbformat.read(str(path), as_version=4))
    assert STUDY_CONFIGS.get(path.stem) == f"{cls.__module__}:{cls.__name__}", \
        f"register {path.stem}'s config class in workbench/notebooks.py STUDY_CONFIGS (the runner validates with it)"
    assert isinstance(check_config(path.stem, effective_parameters(parameters(path), {}, "defaults"), "defaults"), cls)


@pytest.mark.parametrize("study,bad,message", [
    ("lsh_sampling", {"device": "gpu"}, "device must be 'auto'"),
    ("lsh_sampling", {"bench_devices": ["cpu", "cuda;0"]}, "bench_devices must be"),
    ("negative_mining", {"samplers": ["in_batch", "nosuch"]}, "nosuch"),
    ("lr_scaling", {"optimizers": ["sgd", "lion"]}, "lion"),
])
def test_runner_rejects_bad_values_before_any_work(tmp_path, study, bad, message):
    from workbench import runner
    from workbench.config import ConfigError
    with pytest.raises(ConfigError, match=message):
        runner.run_study(study, None, bad, reports=tmp_path / "reports", root=REPO)
    assert not (tmp_path / "reports").exists()


def test_every_gpu_profile_asks_for_cuda_and_has_a_cpu_rehearsal():
    """A profile named gpu* (or sized for one, device: cuda) fails before any work on a machine without CUDA, and
    scripts/rehearsal/<study>.txt rehearses it on the CPU (-p device=cpu), so a broken profile costs no device time."""
    asked = {}
    for path in sorted((REPO / "notebooks" / "params").glob("*/*.yaml")):
        device = load_profile(path.parent.name, path.stem, REPO).get("device")
        if path.stem.startswith("gpu") or device == "cuda":
            asked[(path.parent.name, path.stem)] = device
    assert len(asked) >= 10 and all(d == "cuda" for d in asked.values()), asked
    for study, profile in asked:
        lines = (REPO / "scripts" / "rehearsal" / f"{study}.txt").read_text().splitlines()
        line = next((x for x in lines if x.split(" ", 1)[0] == profile), "")
        assert "-p device=cpu" in line, f"{study}:{profile} has no CPU rehearsal line"
