"""A small ipywidgets explorer over a study's tidy measurements.

Live in JupyterLab: dropdowns pick the metric and filter columns and the plot redraws. In batch runs (runner,
nbval) the same figure is drawn once, statically, so the HTML report shows it.
"""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd

from .report import is_batch


def explore(df: pd.DataFrame, plot: Callable[..., object], *, choices: dict[str, Sequence[object]],
            defaults: dict[str, object] | None = None):
    """Call ``plot(df, **selection)`` (it returns a matplotlib figure) under widgets for ``choices``.

    ``choices`` maps a keyword of ``plot`` to its options, e.g. ``{"metric": ["P@1", "PSP@1"]}``.
    Returns the widget when live, else the static figure drawn with ``defaults`` (first options by default).
    """
    for key, opts in choices.items():
        if not list(opts):
            raise ValueError(f"explorer: no options for {key!r}")
    # checked here, not only by the live widget: batch runs (the tests, the reports) would draw a bad default
    for key, value in (defaults or {}).items():
        if key not in choices:
            raise ValueError(f"explorer: default for {key!r}, which has no choices (choices: {sorted(choices)})")
        if value not in list(choices[key]):
            raise ValueError(f"explorer: default {key}={value!r} is not one of its options {list(choices[key])}")
    sel = {k: (defaults or {}).get(k, list(v)[0]) for k, v in choices.items()}
    if is_batch():
        fig = plot(df, **sel)
        import matplotlib.pyplot as plt
        plt.close(fig)  # shown once, as the cell's value: the inline backend would show an open figure again
        return fig
    try:
        import ipywidgets as w
        from IPython.display import display
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        return plot(df, **sel)
    import matplotlib.pyplot as plt

    def redraw(**kw):
        fig = plot(df, **kw)
        display(fig)
        plt.close(fig)

    controls = {k: w.Dropdown(options=list(v), value=sel[k], description=k) for k, v in choices.items()}
    return w.interactive(redraw, **controls)
