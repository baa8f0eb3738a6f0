"""quiet_library: what a third-party library says while it runs is kept from the user, errors excepted,
and the logger is left as it was."""
from __future__ import annotations

import logging
import sys
import warnings

import pytest

from nptrain.quiet_library import quiet_library


def test_silences_prints_warnings_and_logs_below_error(capsys, caplog):
    lib = logging.getLogger("some_library.quantizer")  # a child: it follows the named logger's level
    caplog.set_level(logging.DEBUG)  # let everything through outside the block
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_library("some_library"):
            print("progress 10%")
            print("deprecated", file=sys.stderr)
            warnings.warn("per-node note")
            lib.warning("statistic 3 of 100")
            lib.error("cannot quantize node 7")
        warnings.warn("after")
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", "")
    assert [str(w.message) for w in seen] == ["after"]
    assert [r.getMessage() for r in caplog.records] == ["cannot quantize node 7"]


def test_level_restored_also_when_the_block_raises():
    lib = logging.getLogger("some_library")
    lib.setLevel(logging.INFO)
    with pytest.raises(RuntimeError, match="boom"):
        with quiet_library("some_library"):
            assert lib.level == logging.ERROR
            raise RuntimeError("boom")
    assert lib.level == logging.INFO
    root_level = logging.getLogger().level
    with quiet_library(""):  # the root logger, where onnxruntime's quantizer logs
        assert logging.getLogger().level == logging.ERROR
    assert logging.getLogger().level == root_level
