"""Testing helpers for nptrain and its plugins.

``conformance_tests("np-plugin-foo")`` returns a pytest test class that runs the conformance
matrix over every provider and preset that distribution registers; ``write_fixture(reference,
folder, input=x)`` writes a converter parity fixture from a reference implementation. Importing
this package does not import torch; the kit does when it is used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def conformance_tests(dist: str, **options: Any) -> type:
    """Test class for every provider of distribution ``dist`` (see :mod:`nptrain.testing.conformance`)."""
    # lazy: torch
    from nptrain.testing.conformance import make_conformance_class

    return make_conformance_class(dist, **options)


def write_fixture(reference: Any, folder: Path, *, input: Any, **options: Any) -> dict:  # noqa: A002
    """Parity fixture (keys.tsv, source.json, input, expected outputs) from ``reference``
    (see :func:`nptrain.testing.fixtures.write_fixture`)."""
    # lazy: torch
    from nptrain.testing.fixtures import write_fixture as write

    return write(reference, folder, input=input, **options)


__all__ = ["conformance_tests", "write_fixture"]
