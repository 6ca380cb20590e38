"""Typed study configs: frozen dataclasses built from notebook parameters, strictly.

papermill only warns about an unknown parameter and injects it anyway, so every study notebook builds its
config right after the parameters cell with :func:`build_config`, which rejects unknown names and wrong types.
The same type check (:func:`check_value`) validates ``-p name=value`` overrides in the runner before any work.
"""
from __future__ import annotations

import ast
import dataclasses
import math
import re
import types
import typing
from typing import Any, Mapping

# Names IPython itself puts in a notebook's globals; never parameters.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_LITERAL_TYPES = (bool, int, float, str, list, tuple, dict, type(None))


class ConfigError(ValueError):
    """A parameter is unknown, missing or of the wrong type."""


def type_name(tp: Any) -> str:
    """Readable name of a type annotation: ``int``, ``list[str]``, ``str | None``."""
    if isinstance(tp, str):
        return tp
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _matches(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if tp is type(None) or tp is None:
        return value is None
    if tp is float:  # an int is a fine float; a bool is not
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if not args:
            return True
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(args) == len(value) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _resolve(tp: Any) -> Any:
    """Turn an annotation string from a parameters cell ('list[int]', 'str | None') into a type."""
    if not isinstance(tp, str):
        return tp
    try:
        return eval(tp, {"list": list, "tuple": tuple, "dict": dict, "int": int, "float": float,  # noqa: S307
                         "str": str, "bool": bool, "None": None, "Any": Any, "Optional": typing.Optional})
    except Exception as exc:  # an annotation we cannot read is a bug in the notebook
        raise ConfigError(f"cannot read the type annotation {tp!r}") from exc


# A number in exponent notation, as YAML 1.2 and JSON write it; YAML 1.1 (PyYAML) reads it as a string unless it
# has both a dot and a signed exponent (1e-3, 2E0, 1.0e3 are strings there, 1.0e-3 a float).
_EXPONENT_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def _floats_from_text(value: Any, tp: Any) -> Any:
    """``value`` with each string in exponent notation (``1e-3``) turned into its float where ``tp`` asks a float
    (also in a list or a union). Other strings stay strings, and fail the type check."""
    args = typing.get_args(tp)
    if isinstance(value, str) and (tp is float or float in args) and not _matches(value, tp):
        return float(value) if _EXPONENT_FLOAT.fullmatch(value.strip()) else value
    if isinstance(value, list) and typing.get_origin(tp) in (list, tuple) and args:
        if typing.get_origin(tp) is list or (len(args) == 2 and args[1] is Ellipsis):
            return [_floats_from_text(v, args[0]) for v in value]
        if len(args) == len(value):
            return [_floats_from_text(v, a) for v, a in zip(value, args)]
    return value


def is_text_type(tp: Any) -> bool:
    """Whether annotation ``tp`` (a type or its text; None: unknown) holds only text: ``str``, ``list[str]``,
    ``tuple[str, ...]``."""
    if tp is None:
        return False
    try:
        tp = _resolve(tp)
    except ConfigError:
        return False
    args = typing.get_args(tp)
    return tp is str or (typing.get_origin(tp) in (list, tuple) and bool(args)
                         and all(a is str or a is Ellipsis for a in args))


def check_value(name: str, value: Any, tp: Any) -> Any:
    """Return ``value`` (ints widened to float where a float is asked, and strings like ``1e-3`` read as floats
    there: :func:`_floats_from_text`) or raise :class:`ConfigError`."""
    tp = _resolve(tp)
    value = _floats_from_text(value, tp)
    if not _matches(value, tp):
        shown = repr(value) if len(repr(value)) <= 200 else repr(value)[:200] + "..."  # a DataFrame: its start
        args = typing.get_args(tp)
        one = typing.get_origin(tp) is list and len(args) == 1 and _matches(_floats_from_text(value, args[0]), args[0])
        hint = (f"; a list of one is written in brackets: -p {name}=[{value}] on the command line, [{value!r}] in a "
                "profile or the notebook") if one else ""
        raise ConfigError(f"parameter {name!r} must be {type_name(tp)}, got {shown} ({type(value).__name__}){hint}")
    if tp is float and isinstance(value, int):
        return float(value)
    if typing.get_origin(tp) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def from_dict(cls: type, values: Mapping[str, Any], *, where: str = "config", data: bool = False) -> Any:
    """Build dataclass ``cls`` from ``values``; unknown keys and wrong types raise, listing the valid names. A
    field named ``device`` (every study has one) must name a device; then ``cls.validate()`` runs if defined.

    ``data``: also run ``cls.check_data()`` if defined, which checks that the local files the config names exist
    here. It is separate from ``validate`` (values only) so that a profile naming data this machine lacks still
    validates; the runner and the notebooks' :func:`build_config` check both before any work."""
    types_ = field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} in {where}; valid names: {sorted(types_)}")
    checked = {k: check_value(k, v, types_[k]) for k, v in values.items()}
    if isinstance(checked.get("device"), str):  # every study's device parameter: "auto", "cpu", "cuda:N"
        from .device import check_device_spec
        try:
            check_device_spec(checked["device"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    try:
        cfg = cls(**checked)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    for check in ("validate", "check_data") if data else ("validate",):
        method = getattr(cfg, check, None)
        if callable(method):
            method()
    return cfg


def build_config(cls: type, namespace: Mapping[str, Any]) -> Any:
    """Build ``cls`` from a notebook's globals: every field is read from ``namespace``.

    Any other public literal-valued name (what papermill injects for a mistyped parameter) is rejected, so run
    this in the cell right after the parameters cell. In a kernel (``In`` in ``namespace``) only the names the
    parameters cells just run assigned count (:func:`_parameter_cell_names`): the notebook's own later variables
    do not, so the notebook runs again in the same kernel (JupyterLab's Run All twice).
    """
    types_ = field_types(cls)
    candidates = {k: v for k, v in namespace.items()
                  if not k.startswith("_") and k not in _IPYTHON_NAMES and isinstance(v, _LITERAL_TYPES)}
    assigned = _parameter_cell_names(namespace.get("In"))
    if assigned is not None:
        candidates = {k: v for k, v in candidates.items() if k in assigned}
    unknown = sorted(set(candidates) - set(types_))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; valid names: {sorted(types_)}")
    missing = [k for k in types_ if k not in namespace]
    if missing:
        raise ConfigError(f"parameter(s) {missing} are not defined; is the parameters cell out of date?")
    return from_dict(cls, {k: namespace[k] for k in types_}, where="the notebook's parameters", data=True)


def _parameter_cell_names(history: Any) -> set[str] | None:
    """The names assigned by the parameters cells run just before the current one (IPython's input history
    ``In``, whose last entry is the cell running): the consecutive cells that hold only assignments of literal
    values, as the notebook's parameters cell and papermill's injected one do. Only the latest run counts: a typo
    fixed in the parameters cell, or a scratch cell run earlier (``threshold = 0.5``), would otherwise stay an
    unknown parameter until the kernel restarts. None without a history (a plain namespace: every literal name
    counts)."""
    if not isinstance(history, list):
        return None
    cells = [_literal_assignments(source) for source in history]
    i = len(cells) - 1
    if i >= 0 and cells[i] is None:  # the cell calling build_config
        i -= 1
    names: set[str] = set()
    while i >= 0 and cells[i] is not None:
        names |= cells[i]
        i -= 1
    return names


def _literal_assignments(source: Any) -> set[str] | None:
    """The names a cell assigns when it holds only assignments of literal values, else None."""
    try:
        body = ast.parse(source).body if isinstance(source, str) else []
    except SyntaxError:
        return None
    if not body or not all(isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value is not None and _literal(s.value)
                           for s in body):
        return None
    return {t.id for s in body for t in (s.targets if isinstance(s, ast.Assign) else [s.target])
            if isinstance(t, ast.Name)}


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def at_least(cfg: Any, lo: int, *names: str, zero_means: Mapping[str, str] | None = None) -> None:
    """Each integer field of ``cfg`` in ``names`` (a list field: non-empty, every entry) must be >= ``lo``;
    else a ConfigError naming the field, its value and the bound (and, for ``lo`` 0, what 0 means there)."""
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, list):
            if not value or any(v < lo for v in value):
                raise ConfigError(f"{name} must be a non-empty list with every entry >= {lo}, got {value}")
        elif value < lo:
            zero = f" (0: {zero_means[name]})" if lo == 0 and name in (zero_means or {}) else ""
            raise ConfigError(f"{name} must be >= {lo}{zero}, got {value}")


def distinct(cfg: Any, *names: str) -> None:
    """Each list field of ``cfg`` in ``names`` must name each entry once: a repeated sampler, store or graph would
    be run twice and its rows mixed under one name in the tables and figures."""
    for name in names:
        values = list(getattr(cfg, name))
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            raise ConfigError(f"{name} lists {repeated[0]!r} more than once, got {values}; give each entry once")


def positive(cfg: Any, *names: str) -> None:
    """Each float field of ``cfg`` in ``names`` (a list field: non-empty, every entry) must be finite and > 0."""
    for name in names:
        value = getattr(cfg, name)
        values = value if isinstance(value, list) else [value]
        if not values or not all(math.isfinite(v) and v > 0 for v in values):
            what = "a non-empty list of finite numbers > 0" if isinstance(value, list) else "a finite number > 0"
            raise ConfigError(f"{name} must be {what}, got {value}")


def typed_value(kind: type, text: str, what: str):
    """``text`` as a ``kind`` (bool, int, float or str; bools are true/false), else a ValueError naming ``what``."""
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        return kind(text)
    except ValueError:
        article = "an" if kind.__name__[0] in "aeiou" else "a"
        raise ValueError(f"{what} takes {article} {kind.__name__}, got {text!r}") from None
