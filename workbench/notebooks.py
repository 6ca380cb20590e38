"""The study notebooks: where they are, and their ``parameters`` cells as typed specs."""
from __future__ import annotations

import ast
import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from .config import ConfigError, check_value, from_dict, is_text_type
from .report import repo_root


DEFAULT_PROFILE = "cpu"  # the notebooks' own defaults: the CPU-sized run that nbval executes


class _Loader(yaml.SafeLoader):
    """YAML for profiles and ``-p`` values, with integers read as written: YAML 1.1 (PyYAML's) reads ``010`` as
    8, ``1:30`` as 90 and ``0x10`` as 16; here decimal digits are the number they spell and any other integer
    form is refused (a ``-p`` value is then kept as text, which the parameter's type check rejects)."""


def _decimal_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise yaml.constructor.ConstructorError(None, None, f"{text!r}: write integers in decimal digits",
                                                node.start_mark)
    return int(text, 10)


def _plain_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node)
    if ":" in text or "_" in text:  # YAML 1.1's sexagesimal 1:30.5 and digit separators
        raise yaml.constructor.ConstructorError(None, None, f"{text!r}: not a plain number", node.start_mark)
    return yaml.SafeLoader.construct_yaml_float(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _decimal_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _plain_float)

# The config class each study notebook builds from its parameters (`build_config(<class>, globals())`, checked by a
# test): the runner builds it as well, before any work, so that a bad value fails without leaving a failed run.
STUDY_CONFIGS = {
    "batch_size_spectra": "workbench.spectra.study:BatchSizeSpectraConfig",
    "gpu_data_access": "workbench.gpu_access.study:GPUAccessConfig",
    "lr_scaling": "workbench.spectra.study:LrScalingConfig",
    "lsh_sampling": "workbench.lsh.study:LSHStudyConfig",
    "negative_mining": "workbench.xmc_train.study:NegativeMiningConfig",
}


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    help: str


def notebooks_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "notebooks"


def studies(root: Path | None = None) -> list[str]:
    """Every ``notebooks/<study>.ipynb``."""
    return sorted(p.stem for p in notebooks_dir(root).glob("*.ipynb"))


def notebook_path(study: str, root: Path | None = None) -> Path:
    path = notebooks_dir(root) / f"{study}.ipynb"
    if not path.exists() or study not in studies(root):  # a path ("./x", "../x") is not a study name
        known = studies(root)
        if not known:
            raise ConfigError(f"unknown study {study!r}: no study notebooks in {path.parent}; run from the "
                              "workbench checkout (the folder holding notebooks/)")
        raise ConfigError(f"unknown study {study!r}; known: {known}")
    return path


def parameters(nb_path: Path) -> dict[str, Param]:
    """The notebook's ``parameters`` cell, read by papermill: name -> type, default, help."""
    import papermill as pm
    spec = pm.inspect_notebook(str(nb_path))
    if not spec:
        raise ConfigError(f"{nb_path} has no cell tagged 'parameters'")
    out = {}
    for name, p in spec.items():
        try:
            default = ast.literal_eval(p["default"])
        except (ValueError, SyntaxError) as exc:
            raise ConfigError(f"{nb_path}: default of {name!r} is not a literal: {p['default']!r}") from exc
        out[name] = Param(name, p["inferred_type_name"], default, p["help"])
    return out


def profiles(study: str, root: Path | None = None) -> list[str]:
    """The names of ``study``'s parameter profiles (``notebooks/params/<study>/*.yaml``), sorted."""
    return sorted(p.stem for p in (notebooks_dir(root) / "params" / study).glob("*.yaml"))


def load_profile(study: str, profile: str | None, root: Path | None = None) -> dict[str, Any]:
    """``notebooks/params/<study>/<profile>.yaml`` as a dict; no profile is :data:`DEFAULT_PROFILE`, and that
    one may be missing (the notebook's defaults)."""
    profile = profile or DEFAULT_PROFILE
    path = notebooks_dir(root) / "params" / study / f"{profile}.yaml"
    if Path(profile).name != profile or profile in (".", ".."):  # a path: the run id and --resume need a name
        raise ConfigError(f"profile {profile!r} is not a name: profiles are files in notebooks/params/{study}/; "
                          f"known profiles: {profiles(study, root)}")
    if profile == DEFAULT_PROFILE and not path.exists():
        return {}
    if not path.exists():
        raise ConfigError(f"no profile {profile!r} for {study!r} ({path} is missing); known profiles: "
                          f"{profiles(study, root)}")
    try:
        values = yaml.load(path.read_text(), Loader=_Loader) or {}  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: must be a mapping of parameter names to values")
    return values


def parse_assignment(text: str, types: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """``name=value`` from the command line; the value is read as YAML (``3``, ``0.1``, ``[a, b]``, ``true``),
    integers in decimal only (:class:`_Loader`: ``seed=010`` is 10, not YAML 1.1's 8).

    Where ``types`` (name -> annotation, e.g. from :func:`parameters`) says the parameter is text (``str``), the
    value is the text written, unquoted if quoted: ``data_variant=no`` is ``"no"``, ``data_path=~`` is ``"~"``
    and ``data_path=/d #2`` keeps its `` #2``. A list of text reads every item as text. Anywhere else a `` #``
    would start a YAML comment and drop the rest silently: refused."""
    if "=" not in text:
        raise ConfigError(f"-p expects name=value, got {text!r}")
    name, raw = text.split("=", 1)
    name, kind = name.strip(), (types or {}).get(name.strip())
    if kind is not None and is_text_type(kind) and not raw.strip().startswith(("[", "'", '"')):
        return name, raw.strip()
    bare = re.sub(r"'[^']*'|\"[^\"]*\"", "''", raw)  # a ' #' inside quotes is text
    if " #" in bare or bare.strip().startswith("#"):
        raise ConfigError(f"-p {text!r}: ' #' would start a YAML comment and drop the rest of the value; quote the "
                          "value, or leave out the ' #'")
    loader = yaml.BaseLoader if is_text_type(kind) else _Loader  # Base: every scalar the text written
    try:
        value = yaml.load(raw, Loader=loader) if raw.strip() else ""  # noqa: S506 - both loaders build no objects
    except yaml.YAMLError:
        value = raw
    return name, value


def effective_parameters(spec: dict[str, Param], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Defaults updated by ``overrides``; unknown names or wrong types raise before any work."""
    unknown = sorted(set(overrides) - set(spec))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} in {where}; valid names: {sorted(spec)}")
    values = {name: p.default for name, p in spec.items()}
    for name, value in overrides.items():
        values[name] = check_value(name, value, spec[name].type)
    return values


def check_config(study: str, values: dict[str, Any], where: str, data: bool = False) -> Any:
    """The study's config built from ``values`` (its ``validate`` run, and with ``data`` its ``check_data``: the
    local files it names exist here), or None for a study without a registered config; any bad value raises
    :class:`ConfigError`."""
    target = STUDY_CONFIGS.get(study)
    if target is None:
        return None
    module, name = target.split(":")
    cls = getattr(importlib.import_module(module), name)
    try:
        return from_dict(cls, values, where=where, data=data)
    except ConfigError:
        raise
    except ValueError as exc:  # the configs' own validate() raise ValueError
        raise ConfigError(f"{where}: {exc}") from exc
