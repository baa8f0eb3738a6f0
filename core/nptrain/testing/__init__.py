"""Testing helpers for nptrain and its plugins.

``conformance_tests("np-plugin-foo")`` returns a pytest test class that runs the conformance
matrix over every provider and preset that distribution registers. Importing this package does
not import torch; the kit does when it is used.
"""
from __future__ import annotations

from typing import Any


def conformance_tests(dist: str, **options: Any) -> type:
    """Test class for every provider of distribution ``dist`` (see :mod:`nptrain.testing.conformance`)."""
    from nptrain.testing.conformance import make_conformance_class

    return make_conformance_class(dist, **options)


__all__ = ["conformance_tests"]
