"""Python warnings on the command line as one line each, said once: never a source line and a multi-line
library text above a user-facing error.

``nptrain`` installs :func:`one_line_warnings` for a command (not for ``--debug``, and not in the Python API,
where warnings belong to the caller's own filters). A leaf module (stdlib only) so the CLI may import it
before anything heavy."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Optional, TextIO

# what a long library warning is cut to: the line stays readable in a terminal and in a log
MAX_CHARS = 300


def warning_line(message: Any, category: type, filename: str) -> str:
    """``nptrain: warning: <first sentence of the message> [<Category> from <package>]``."""
    text = " ".join(str(message).split())  # multi-line texts (torch's "Triggered internally at ...") on one line
    cut = text.find(" (Triggered internally")
    if cut > 0:
        text = text[:cut]
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS - 1] + "…"
    return f"nptrain: warning: {text} [{category.__name__} from {_package_of(filename)}]"


def _package_of(filename: str) -> str:
    """The top-level package a warning came from (``torch``, ``nptrain``, ``onnxscript``), else the file name."""
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1:]
            if rest:
                return rest[0].removesuffix(".py")
    for i, part in enumerate(parts):
        if part.startswith("nptrain") or part.startswith("np_plugin_"):
            return part if part != "core" else parts[i + 1]
    return Path(filename).name


class _Once:
    def __init__(self, stream: Optional[TextIO]) -> None:
        self.stream = stream
        self.seen: set[str] = set()

    def __call__(self, message: Any, category: type, filename: str, lineno: int,
                 file: Optional[TextIO] = None, line: Optional[str] = None) -> None:
        text = warning_line(message, category, filename)
        if text in self.seen:  # the same warning from a loop: said once
            return
        self.seen.add(text)
        out = file or self.stream or sys.stderr
        try:
            print(text, file=out, flush=True)
        except (OSError, ValueError):  # a closed or broken stream: a warning must never become the error
            pass


def one_line_warnings(stream: Optional[TextIO] = None) -> None:
    """From now on every Python warning this process shows is one line on ``stream`` (stderr), each once."""
    warnings.showwarning = _Once(stream)
