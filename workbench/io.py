"""Atomic file writes: a reader never sees a half-written config, table or figure; and user-given paths."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask: read from ``/proc/self/status`` (Linux), else set and restored at once under a lock
    (``os.umask`` has no read-only form; another thread creating a file in between would get the private 0600/0700)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``; on error ``path`` is left as it was. The file gets the
    mode a plain ``open(path, "w")`` would give (0666 less the umask), not mkstemp's private 0600: reports are
    meant to be shared."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def relative_note(path: str | Path) -> str:
    """`` (relative to <cwd>)`` for a relative path, else ``""``: for an error about a path that is not there, which
    directory it was looked for in (the runner reads from the checkout's root, JupyterLab from ``notebooks/``)."""
    return "" if user_path(path).is_absolute() else f" (relative to {Path.cwd()})"


def user_path(text: str | Path) -> Path:
    """``text`` as a Path with ``~`` / ``~user`` expanded; an unknown user is a ValueError naming the path (pathlib
    raises RuntimeError, which a config's validation would let through as a crash)."""
    try:
        return Path(text).expanduser()
    except RuntimeError as exc:
        raise ValueError(f"path {str(text)!r}: {exc} (a typo after '~'?)") from None
