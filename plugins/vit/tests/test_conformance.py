"""Every np-plugin-vit provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

TestConformance = conformance_tests(
    "np-plugin-vit",
    converter_fixtures={("mlcvnets", "vit_tiny"): (Path(__file__).parent / "fixtures" / "vit_tiny", 1000)},
)
