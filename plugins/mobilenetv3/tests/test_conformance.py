"""Every np-plugin-mobilenetv3 provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

FIXTURES = Path(__file__).parent / "fixtures"
TestConformance = conformance_tests(
    "np-plugin-mobilenetv3",
    converter_fixtures={("torchvision", size): (FIXTURES / size, 1000)
                        for size in ("mobilenet_v3_small", "mobilenet_v3_large")},
)
