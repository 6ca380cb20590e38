"""Progress bars in batch runs: text bars in the kernel, streamed to the CLI's terminal, settled in the report."""
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench import pages, runner

TINY = Path(__file__).resolve().parents[1] / "notebooks" / "tiny.ipynb"


@pytest.mark.parametrize("batch, expected", [("1", "_TextBar"), ("", "tqdm_notebook|tqdm_asyncio|tqdm")])
def test_bar_class_follows_batch_mode(batch, expected):
    # a fresh interpreter: the class is chosen at import; outside a kernel tqdm.auto is the text tqdm or the
    # notebook one depending on IPython, so only its name pattern is checked there
    code = ("import io; from workbench.progress import tqdm; b = tqdm(range(3), file=io.StringIO()); "
            "print(tqdm.__name__, b.mininterval, b.pos)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "WORKBENCH_BATCH": batch}).stdout.split()
    assert out[0] in expected.split("|")
    if batch:
        assert float(out[1]) == 1.0 and out[2] == "0"  # slower refresh, every bar on one line (no cursor moves)
    else:
        assert float(out[1]) == 0.1  # tqdm's own default: nothing changed outside batch runs


def _stream(name, text):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_settle_streams_keeps_each_bars_last_state_and_drops_cleared_ones():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        _stream("stderr", "\rbar:   0%| 0/4"), _stream("stderr", "\rbar:  50%| 2/4\rbar: 100%| 4/4\n"),
        _stream("stdout", "total 6\n"),
        _stream("stderr", "\rinner: 0/2\rinner: 2/2"), _stream("stderr", "\r            \r"),  # a cleared bar
        nbformat.v4.new_output("display_data", data={"text/plain": "x"}),
        _stream("stdout", "a\r\nb\n"),
    ]
    nb.cells.append(cell)
    outs = pages.settle_streams(nb).cells[0].outputs
    assert [(o.output_type, o.get("name"), o.get("text")) for o in outs] == [
        ("stream", "stderr", "bar: 100%| 4/4\n"),
        ("stream", "stdout", "total 6\n"),
        ("display_data", None, None),
        ("stream", "stdout", "a\nb\n"),
    ]


@pytest.mark.slow
def test_cli_run_streams_the_kernels_bars_and_the_report_keeps_their_last_state(tmp_path, capsys):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(TINY, tmp_path / "notebooks" / "tiny.ipynb")
    run_dir = runner.run_study("tiny", None, {"n": 7}, root=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "tiny bar: 100%" in err and "7/7" in err  # the kernel's bar reached this process's stderr
    html = (run_dir / "report.html").read_text()
    assert html.count("tiny bar") == 1 and "tiny bar: 100%" in html  # its last state only
    assert "\r" not in html
    # without progress, nothing of the kernel's is written here
    runner.run_study("tiny", None, {"n": 7}, root=tmp_path, progress=False)
    assert "tiny bar" not in capsys.readouterr().err


@pytest.mark.slow
def test_kernel_start_up_log_stays_off_the_terminal(tmp_path, capfd):
    """The kernel inherits this process's stderr (fd 2): ipykernel's start-up warning about unencrypted local TCP
    sockets reached every batch run's terminal until the runner launched it at log level ERROR; the cells' own
    stderr (the bar) still comes through. Does not prove: that an ERROR from the kernel app is shown (none is
    provoked here)."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(TINY, tmp_path / "notebooks" / "tiny.ipynb")
    runner.run_study("tiny", None, {"n": 3}, root=tmp_path, progress=True)
    err = capfd.readouterr().err
    assert "tiny bar: 100%" in err and "without encryption" not in err


def test_batch_text_bars_refresh_once_a_second_on_one_line():
    """A nested text bar draws on line 0 (no cursor moves for the report to keep as stale lines), and bars
    refresh at most once a second unless a loop asks otherwise."""
    import io

    from workbench.progress import _TextBar
    out = io.StringIO()
    with _TextBar(total=3, file=out) as outer, _TextBar(total=2, file=out) as inner:
        assert (outer.pos, inner.pos) == (0, 0) and inner.mininterval == 1.0
    assert _TextBar(total=1, file=out, mininterval=0.2).mininterval == 0.2


def test_a_loop_ended_on_purpose_closes_its_widget_bar_as_finished():
    """tqdm's notebook bar closed short of its total turns red ("danger"), as if the loop had failed: a training
    stopped by its time budget looked failed in JupyterLab. close_done ends it at the count reached instead."""
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as widget_bar

    from workbench.progress import close_done
    short, done = widget_bar(total=10, leave=False), widget_bar(total=10, leave=False)
    short.update(3)
    done.update(3)
    short.close()
    close_done(done)
    assert short.container.children[1].bar_style == "danger"
    assert done.container.children[1].bar_style != "danger" and done.total == 3
    from workbench.progress import _TextBar
    text = _TextBar(total=10, disable=False, file=io.StringIO())
    text.update(3)
    close_done(text)
    assert text.total == 10  # a text bar keeps 3/10: how far the loop got, in the report


def test_close_done_closes_a_text_bar():
    """close_done closes the bar (tqdm disables a closed bar), keeping its total: 3/10."""
    from workbench.progress import _TextBar, close_done
    text = _TextBar(total=10, disable=False, file=io.StringIO())
    text.update(3)
    close_done(text)
    assert text.disable and text.total == 10 and text.n == 3
