"""Typed configs: the checks that stop a mistyped or unknown parameter before any work."""
import dataclasses

import pytest

from workbench.config import ConfigError, build_config, check_value, from_dict


@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int = 3
    lr: float = 0.1
    name: str = "a"
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    path: str | None = None
    flag: bool = False

    def validate(self):
        if self.n <= 0:
            raise ConfigError("n must be positive")


@pytest.mark.parametrize("value,tp,ok", [
    (1, "int", True), (True, "int", False), (1.5, "int", False), (1, "float", True), ("1", "float", False),
    ([1, 2], "list[int]", True), ([1, "2"], "list[int]", False), (None, "str | None", True),
    ("x", "str | None", True), (3, "str | None", False), (False, "bool", True), (0, "bool", False),
    (True, "float", False),   # lr=True is no learning rate of 1.0
])
def test_check_value(value, tp, ok):
    if ok:
        check_value("p", value, tp)
    else:
        with pytest.raises(ConfigError, match="parameter 'p' must be"):
            check_value("p", value, tp)


def test_int_is_widened_to_float():
    assert isinstance(from_dict(Cfg, {"lr": 1}).lr, float)


def test_unknown_key_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['nn'\].*valid names: \['flag', 'lr'"):
        from_dict(Cfg, {"nn": 3})


def test_validate_runs():
    with pytest.raises(ConfigError, match="positive"):
        from_dict(Cfg, {"n": 0})


def test_build_config_from_notebook_globals():
    ns = {"n": 5, "lr": 0.2, "name": "b", "sizes": [4], "path": None, "flag": True,
          "In": [], "get_ipython": print, "_i1": "x", "dataclasses": dataclasses, "Cfg": Cfg}
    cfg = build_config(Cfg, ns)
    assert cfg == Cfg(5, 0.2, "b", [4], None, True)


def test_build_config_rejects_injected_unknown_and_missing():
    ns = {"n": 5, "lr": 0.2, "name": "b", "sizes": [4], "path": None, "flag": True}
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_config(Cfg, {**ns, "batchsize": 32})  # what papermill injects for a typo
    del ns["flag"]
    with pytest.raises(ConfigError, match=r"\['flag'\] are not defined"):
        build_config(Cfg, ns)


def test_build_config_in_a_kernel_counts_only_the_parameters_cells_names():
    """In a kernel (IPython's ``In`` history) a literal global assigned by a later cell of an earlier run is not an
    unknown parameter (Run All twice in JupyterLab failed there); one assigned in a parameters-shaped cell, the
    notebook's own or papermill's injected one, still is."""
    ns = {"n": 5, "lr": 0.2, "name": "b", "sizes": [4], "path": None, "flag": True}
    params = 'n: int = 5  # help\nlr = 0.2\nname = "b"\nsizes = [4]\npath = None\nflag = True\n'
    later = "import time\nt0 = 3\nwhere = {'a': 1}\nresult = f(x)\n"  # a later cell: not only literals
    history = ["", params, "cfg = build_config(Cfg, globals())", later]
    assert build_config(Cfg, {**ns, "t0": 3, "where": {"a": 1}, "In": history}).n == 5
    injected = "# Parameters\nbatchsize = 32\n"
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['batchsize'\]"):
        build_config(Cfg, {**ns, "batchsize": 32, "t0": 3, "In": [*history, params, injected]})


def test_build_config_in_a_kernel_forgets_a_typo_fixed_and_a_scratch_cell_run_earlier():
    """Only the parameters cells run just before the build cell count: a typo (``optimzers``) fixed and the cell run
    again, or a literal-only scratch cell run earlier (``threshold = 0.5``), no longer fail every later Run All
    until the kernel restarts. The typo itself still fails while it stands."""
    ns = {"n": 5, "lr": 0.2, "name": "b", "sizes": [4], "path": None, "flag": True}
    params = 'n: int = 5  # help\nlr = 0.2\nname = "b"\nsizes = [4]\npath = None\nflag = True\n'
    build = "cfg = build_config(Cfg, globals())"
    typo = params + "optimzers = ['sgd']\n"
    with pytest.raises(ConfigError, match=r"\['optimzers'\]"):
        build_config(Cfg, {**ns, "optimzers": ["sgd"], "In": ["", typo, build]})
    history = ["", typo, build, "threshold = 0.5", "print(threshold)", params, build]
    assert build_config(Cfg, {**ns, "optimzers": ["sgd"], "threshold": 0.5, "In": history}).n == 5


def test_bounds_on_list_fields():
    """A list field checked by at_least must be non-empty (an empty batch_sizes would run nothing) with every entry
    at the bound or above."""
    from types import SimpleNamespace

    from workbench.config import at_least
    at_least(SimpleNamespace(sizes=[1, 2]), 1, "sizes")
    for bad in ([], [0, 2]):
        with pytest.raises(ConfigError, match="sizes must be a non-empty list"):
            at_least(SimpleNamespace(sizes=bad), 1, "sizes")


@pytest.mark.parametrize("between", ["# a note, no code", "x = ("])
def test_build_config_in_a_kernel_stops_at_a_comment_only_or_unparsable_cell(between):
    """The parameters cells are the literal-only cells run just before the build cell: a comment-only cell (no
    statements) or one that does not parse ends them, so ``threshold = 0.5`` run before it is not a parameter."""
    ns = {"n": 5, "lr": 0.2, "name": "b", "sizes": [4], "path": None, "flag": True, "threshold": 0.5}
    params = 'n: int = 5\nlr = 0.2\nname = "b"\nsizes = [4]\npath = None\nflag = True\n'
    history = ["", "threshold = 0.5", between, params, "cfg = build_config(Cfg, globals())"]
    assert build_config(Cfg, {**ns, "In": history}).n == 5


def test_build_config_in_a_kernel_skips_tuple_targets_of_a_literal_cell():
    """``lo, hi = 1, 2`` is a literal-only cell, but only plain names count as parameter names: its tuple target
    is left out, not read as a name (no crash), and the parameters cell before it still counts."""
    ns = {"n": 5, "lr": 0.2, "name": "b", "sizes": [4], "path": None, "flag": True, "lo": 1, "hi": 2}
    params = 'n: int = 5\nlr = 0.2\nname = "b"\nsizes = [4]\npath = None\nflag = True\n'
    history = ["", params, "lo, hi = 1, 2", "cfg = build_config(Cfg, globals())"]
    assert build_config(Cfg, {**ns, "In": history}) == Cfg(5, 0.2, "b", [4], None, True)


def test_a_single_exponent_string_for_a_list_of_optional_floats_gets_the_list_hint():
    """``1e-3`` is a float once read as one: for ``list[float | None]`` the hint is given too (the element type
    reads the text, the list type does not)."""
    with pytest.raises(ConfigError, match=r"a list of one is written in brackets: -p lrs=\[1e-3\]"):
        check_value("lrs", "1e-3", "list[float | None]")
