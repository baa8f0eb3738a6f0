"""Every np-plugin-mobilevit provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

TestConformance = conformance_tests(
    "np-plugin-mobilevit",
    converter_fixtures={("mlcvnets", "mobilevit_s"): (Path(__file__).parent / "fixtures" / "mobilevit_s", 1000)},
)
