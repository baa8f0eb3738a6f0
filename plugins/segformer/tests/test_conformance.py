"""Every np-plugin-segformer provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

FIXTURES = Path(__file__).parent / "fixtures"
TestConformance = conformance_tests(
    "np-plugin-segformer",
    converter_fixtures={("hf", "mit_b0"): (FIXTURES / "mit_b0", 1000),
                        ("hf", "segformer_b0"): (FIXTURES / "segformer_b0_ade", 150)},
)
