"""Fixtures shared by the NetsPresso Trainer config tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from . import npdata


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """Tiny classification, segmentation and detection sets in NetsPresso's local layout (cls/, seg/, det/)."""
    root = tmp_path_factory.mktemp("npdata")
    npdata.make_cls(root / "cls")
    npdata.make_seg(root / "seg")
    npdata.make_det(root / "det")
    return root
