"""Progress bars for long loops: ``tqdm.auto`` (widgets in JupyterLab, text in a terminal), but plain text bars in
a batch run's kernel, where widgets reach nobody.

Under the runner (``WORKBENCH_BATCH`` set, :func:`is_batch`) a notebook's kernel writes its bars
to its stderr as text, at most one refresh per :data:`BATCH_MININTERVAL` seconds. The runner streams that stderr
to the terminal of ``python -m workbench run`` (:func:`workbench.runner.run_study` with ``progress=True``), and
the HTML report keeps each bar's last state (:func:`workbench.pages.settle_streams` applies the carriage
returns). As widgets, the report only showed each bar as it was drawn first, at 0%.
"""
from __future__ import annotations

import os

from tqdm import std
from tqdm.auto import tqdm as _auto

BATCH_ENV = "WORKBENCH_BATCH"  # set by the runner and the test suite: no live widgets, text bars
BATCH_MININTERVAL = 1.0  # seconds between refreshes of a text bar in a batch kernel (tqdm's own default: 0.1)


class _TextBar(std.tqdm):
    """tqdm's text bar with a longer default refresh interval (a 10-minute loop adds ~600 updates, not ~6000, to
    the stored notebook), and every bar on one line: a nested bar overwrites its parent's line rather than moving
    the cursor, which the report's text would keep as stale lines."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("mininterval", BATCH_MININTERVAL)
        kwargs.setdefault("position", 0)
        super().__init__(*args, **kwargs)


def is_batch() -> bool:
    """True under the runner, papermill via the runner, and the test suite: static figures, text bars."""
    return os.environ.get(BATCH_ENV, "") not in ("", "0")


tqdm = _TextBar if is_batch() else _auto
"""The bar class every long loop of the package uses (chosen when the package is imported)."""


def close_done(bar) -> None:
    """Close ``bar`` for a loop that ended as planned before its total (a time budget, a stop rule). A notebook's
    widget bar closed short of its total turns red ("danger"), as for a failure: its total becomes the count
    reached. A text bar keeps ``3/10``, which says how far the loop got (the report keeps that line). A loop that
    raises should close its bar as it is."""
    from tqdm.notebook import tqdm as widget_bar
    if isinstance(bar, widget_bar) and bar.total is not None and bar.n < bar.total:
        bar.total = bar.n
        bar.refresh()
    bar.close()
