"""Every np-plugin-pidnet provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

TestConformance = conformance_tests(
    "np-plugin-pidnet",
    converter_fixtures={("pidnet", "pidnet_s"): (Path(__file__).parent / "fixtures" / "pidnet_s", 19)},
)
