"""Silence a third-party library while it runs: its logger, Python warnings, and what it prints.

The ONNX exporters and the quantizers (onnxruntime's, NNCF) print progress bars, deprecation notes and per-node
log lines the user cannot act on; nptrain reports what matters itself. A leaf module (stdlib only) so
that any package may use it without adding to its import path."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Iterator


@contextlib.contextmanager
def quiet_library(logger_name: str) -> Iterator[None]:
    """Within the block the logger ``logger_name`` (``""``: the root logger) and its children that set
    no level of their own let only errors through, warnings are ignored, and stdout and stderr go
    nowhere. The logger's level is restored after, also when the block raises."""
    log = logging.getLogger(logger_name)
    old_level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(old_level)
