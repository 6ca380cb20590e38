"""The two study notebooks and their configs stay in step; no forbidden paths in notebooks or package."""
import dataclasses
from pathlib import Path

import pytest

from workbench.config import from_dict
from workbench.notebooks import effective_parameters, load_profile, notebook_path, parameters
from workbench.spectra.study import BatchSizeSpectraConfig, LrScalingConfig

REPO = Path(__file__).resolve().parents[2]
STUDIES = [("batch_size_spectra", BatchSizeSpectraConfig), ("lr_scaling", LrScalingConfig)]


@pytest.mark.parametrize("study,cls", STUDIES)
def test_parameters_cell_matches_config(study, cls):
    """Every parameter papermill can read is a config field with the same default, and vice versa; every
    profile validates. Does not prove: that the gpu profile runs (needs CIFAR-10 and a GPU)."""
    spec = parameters(notebook_path(study, REPO))
    assert set(spec) == {f.name for f in dataclasses.fields(cls)}
    default = cls()
    for name, p in spec.items():
        assert getattr(default, name) == p.default, name
    profiles = sorted(p.stem for p in (REPO / "notebooks" / "params" / study).glob("*.yaml"))
    assert {"cpu", "gpu"} <= set(profiles)
    for profile in profiles:
        from_dict(cls, effective_parameters(spec, load_profile(study, profile, REPO), where=profile))


def test_no_forbidden_paths():
    """Neither the package area nor the notebooks name /work/ or ../shared. Does not prove: runtime behaviour."""
    files = list((REPO / "workbench" / "spectra").glob("*.py"))
    files += [REPO / "notebooks" / f"{s}.ipynb" for s, _ in STUDIES]
    files += list((REPO / "notebooks" / "params").glob("*/*.yaml"))
    for f in files:
        if f.parent.name in ("batch_size_spectra", "lr_scaling") or f.suffix != ".yaml":
            text = f.read_text()
            assert "/work/" not in text and "../shared" not in text, f
