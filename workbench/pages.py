"""The HTML pages of ``reports/``: a run's ``report.html`` (its executed notebook without code, headed by the run's
record: status, device, commit, dataset, versions, full configuration) and ``index.html``, one row per run."""
from __future__ import annotations

import html
import platform
import re
import urllib.parse
from pathlib import Path
from typing import Any

import psutil

from .io import read_json, write_text
from .notebooks import DEFAULT_PROFILE
from .provenance import now


def export_html(nb_path: Path, html_path: Path, record: dict[str, Any] | None = None) -> Path:
    """The executed notebook as HTML without code cells (``nbconvert --no-input``), headed by the run's record
    (status, device, commit, versions, full parameters) when ``record`` is given."""
    import nbformat
    from nbconvert import HTMLExporter
    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    # the page title (nbconvert's default is the resources' name, else "Notebook")
    name = f"{record.get('study')} {record.get('run_id')}" if record else nb_path.stem
    body, _ = exporter.from_notebook_node(settle_streams(nbformat.read(str(nb_path), as_version=4)),
                                          resources={"metadata": {"name": name}})
    if record is not None:
        m = re.search(r"<main[^>]*>|<body[^>]*>", body)
        at = m.end() if m else 0
        body = body[:at] + _record_html(record) + _files_html(html_path.parent, record) + body[at:]
    return write_text(html_path, body)


def _files_html(run_dir: Path, rec: dict[str, Any]) -> str:
    """Links from a report to what its run wrote beside it (record, tables, figures, patches, executed notebook)
    and, in the runner's layout (``reports/<study>/<run_id>/``), back to ``reports/index.html``."""
    files = sorted(f.name for f in run_dir.iterdir() if f.is_file() and f.suffix in (".json", ".csv", ".png",
                                                                                          ".patch", ".ipynb"))
    links = [f'<a href="{html.escape(urllib.parse.quote(n))}">{html.escape(n)}</a>' for n in files]
    if run_dir.parent.name == rec.get("study") and run_dir.name == rec.get("run_id"):
        links.insert(0, '<a href="../../index.html">all runs</a>')
    return (f'<p class="workbench-files" style="font-family:sans-serif;font-size:13px">files: {" · ".join(links)}'
            "</p>" if links else "")


def settle_streams(nb):
    """``nb`` with each run of consecutive stream outputs (same name) merged and written as a terminal would
    show it: a line keeps only what follows its last carriage return, so a text progress bar
    (:mod:`workbench.progress`) keeps its last state and a cleared one leaves nothing. Outputs left blank are
    dropped. (nbconvert's ``CoalesceStreamsPreprocessor`` does the first part but is off for HTML.)"""
    for cell in nb.cells:
        merged: list = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" \
                    and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                text = out.text.replace("\r\n", "\n")  # a Windows line end is not a carriage return
                out.text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
        if "outputs" in cell:
            cell.outputs = [o for o in merged if o.output_type != "stream" or o.text.strip()]
    return nb


def _record_html(rec: dict[str, Any]) -> str:
    """A compact block with what every report must record: run, status, device, commit, versions, config."""
    esc = lambda v: html.escape(str(v))  # noqa: E731
    facts = [("study", rec.get("study")), ("run", rec.get("run_id")), ("status", rec.get("status")),
             ("profile", rec.get("profile") or DEFAULT_PROFILE), ("device", rec.get("device")),
             ("GPUs on this machine", ", ".join(rec.get("gpus") or []) or None), ("CPU", rec.get("cpu")),
             ("dataset", _dataset_line(rec.get("dataset"))),
             ("git commit", _commit_line(rec)), ("python / torch / CUDA",
              f"{rec.get('python')} / {rec.get('torch')} / {rec.get('cuda') or 'none'}"),
             ("started / ended (UTC)", f"{rec.get('started')} / {rec.get('ended', '')}")]
    if rec.get("attempts"):
        facts.append(("resumed", f"attempt {len(rec['attempts']) + 1}; earlier: " + "; ".join(
            f"{a.get('started')} {a.get('status')} (commit {a.get('git_commit')})" for a in rec["attempts"])))
    if rec.get("resumed_units"):
        facts.append(("units read back from earlier attempts", ", ".join(rec["resumed_units"])))
    if rec.get("kernel_differs"):
        facts.append(("kernel's interpreter", f"{rec.get('executable')}, not the runner's: " + "; ".join(
            k if k == "versions" else f"{k} {rec.get(k)} (runner: {rec.get('runner_' + k)})"
            for k in rec["kernel_differs"])))
    if rec.get("workbench_env"):
        facts.append(("WORKBENCH_* settings", ", ".join(f"{k}={v}" for k, v in rec["workbench_env"].items())))
    if rec.get("error"):
        facts.append(("error", rec["error"]))
    if rec.get("hint"):
        facts.append(("what it likely means", rec["hint"]))
    if rec.get("like"):
        like = rec["like"]
        facts.append(("parameters from", f"run {like.get('run_id')} (commit {like.get('git_commit')}, "
                                         f"{like.get('device')})"))
    params = rec.get("effective") or rec.get("parameters") or {}
    versions = ", ".join(f"{k} {v or 'absent'}" for k, v in (rec.get("versions") or {}).items())
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts if v is not None)
    prow = "".join(f"<tr><th>{esc(k)}</th><td><code>{esc(repr(v))}</code></td></tr>" for k, v in params.items())
    return (f'<section class="workbench-run" style="font-family:sans-serif;font-size:13px;margin:1em 0;'
            f'padding:0.5em 1em;border:1px solid #ccc;background:#f8f8f8">'
            f"<table>{rows}<tr><th>versions</th><td>{esc(versions)}</td></tr></table>"
            f"<details><summary>full effective configuration ({len(params)} parameters)</summary>"
            f"<table>{prow}</table></details></section>")


def _commit_line(rec: dict[str, Any]) -> str | None:
    """The report's commit fact: the recorded commit, the patch kept for a dirty tree, and the notebook's own
    reading when the tree changed between the runner's record and the kernel's."""
    line = rec.get("git_commit")
    if patch := rec.get("uncommitted_patch"):
        line = (f"{line}; its uncommitted changes: {patch['file']} (sha256 {patch['sha256'][:12]}"
                + (", taken at the end" if patch.get("taken") == "at the end" else "") + ")")
    if rec.get("git_commit_notebook"):
        line = f"{line}; the notebook's kernel read {rec['git_commit_notebook']}"
    return line


def _dataset_line(data: dict[str, dict[str, Any]] | None) -> str | None:
    """One line for the data a run read (:func:`provenance.dataset_record`): per field, the value, and the path
    with its size, file count and fingerprint, or that it is missing."""
    parts = []
    for field, d in (data or {}).items():
        text = (f"{field}={d.get('value')}" + (" (built-in)" if d.get("builtin") else "")
                + (f" (from {d['read_from']})" if d.get("read_from") else ""))
        if d.get("missing"):
            text += f": {d.get('path')} MISSING"
        elif d.get("error"):
            text += f": {d.get('path')} unreadable ({d['error']})"
        elif "path" in d:
            text += (f": {d['path']}, {d['files']} file(s), {d['bytes'] / 1e6:.1f} MB, sha256 {d['sha256'][:12]}"
                     + (" (truncated walk)" if d.get("truncated") else ""))
        for name, sub in d.items():  # the GNN study's graphs: one record per graph
            if isinstance(sub, dict):
                text += f"; {name}: " + (f"{sub['path']}, sha256 {sub['sha256'][:12]}" if "sha256" in sub else
                                         ", ".join(f"{k} {v}" for k, v in sub.items()))
        parts.append(text)
    return "; ".join(parts) or None


def list_runs(reports: Path) -> list[dict[str, Any]]:
    """Every run's record under ``reports`` (scratch folders ``_*`` left out), newest first; an unreadable one
    as a stub that says so."""
    rows = []
    for cfg in sorted(reports.glob("*/*/config.json")):
        if cfg.parent.parent.name.startswith("_"):
            continue  # scratch runs from JupyterLab / nbval
        try:
            rec = read_json(cfg)
        except (OSError, ValueError):
            rec = None
        if not isinstance(rec, dict):  # unreadable, or JSON that is not a run record (a stray or hand-edited file)
            rec = {"study": cfg.parent.parent.name, "run_id": cfg.parent.name, "status": "unreadable config"}
        rec["_dir"] = cfg.parent.relative_to(reports).as_posix()
        rows.append(rec)
    return sorted(rows, key=lambda r: str(r.get("started", "")), reverse=True)


def _status(record: dict) -> str:
    """The record's status, but a run "running" here whose process is gone (killed outright, or its machine
    lost power) reads "interrupted": its record could not be finished."""
    status = record.get("status")
    pid = record.get("pid")
    if status == "running" and record.get("host") == platform.node() and isinstance(pid, int) \
            and not psutil.pid_exists(pid):
        return "interrupted"
    return str(status)


def write_index(reports: Path) -> Path:
    """``reports/index.html``: one row per run with study, date, profile, device, commit, status (a failed run's
    error in short, in full on hover) and links; the newest runs first."""
    esc = lambda v: html.escape(str(v if v is not None else ""))  # noqa: E731
    rows, failed = [], 0
    for r in list_runs(reports):
        d = r["_dir"]
        name = esc(r.get("run_id"))
        href = esc(urllib.parse.quote(d))  # a '#' or '?' in a profile name would cut the link short
        link = f'<a href="{href}/report.html">{name}</a>' if (reports / d / "report.html").exists() else name
        status = esc(_status(r))
        failed += status in ("failed", "interrupted")
        error = str(r.get("error") or "")
        why = f'<br><small title="{esc(error)}">{esc(first_line(error, 100))}</small>' if error else ""
        cells = [esc(r.get("study")), link, esc(r.get("started")), esc(r.get("profile") or DEFAULT_PROFILE),
                 esc(r.get("device")), _commit_cell(r.get("git_commit")), status + why,
                 f'<a href="{href}/config.json">config</a>']
        rows.append(f'<tr class="{status}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = "".join(f"<th>{h}</th>" for h in ("study", "run", "started (UTC)", "profile", "device", "commit",
                                              "status", "config"))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>workbench reports</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}} tr.failed{{background:#fdd}}
tr.running{{background:#ffd}} tr.interrupted{{background:#fdd}}</style></head><body>
<h1>workbench reports</h1><p>{len(rows)} run(s), {failed} failed. Rebuilt {esc(now())}.</p>
<table><thead><tr>{heads}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    return write_text(reports / "index.html", page)


def _commit_cell(commit: Any) -> str:
    """The index's commit cell: the short hash, its ``-dirty`` mark kept, the full record on hover."""
    full = str(commit or "")
    short = re.sub(r"^([0-9a-f]{10})[0-9a-f]{30}", r"\1", full)
    short = short.split(" ")[0] + (" (stated)" if "stated by WORKBENCH_GIT_COMMIT" in full else "")
    return f'<span title="{html.escape(full)}">{html.escape(short)}</span>'


def first_line(text: str, width: int) -> str:
    """The first non-blank line of ``text``, cut to ``width`` characters with an ellipsis."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[:width - 3] + "..."
