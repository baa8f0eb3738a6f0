"""Every np-plugin-efficientformer provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

TestConformance = conformance_tests(
    "np-plugin-efficientformer",
    converter_fixtures={("snap", "efficientformer_l1"): (Path(__file__).parent / "fixtures" / "efficientformer_l1", 1000)},
)
