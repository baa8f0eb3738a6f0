"""Every np-plugin-resnet provider and preset through nptrain's conformance matrix."""
from pathlib import Path

from nptrain.testing import conformance_tests

TestConformance = conformance_tests(
    "np-plugin-resnet",
    converter_fixtures={("torchvision", "resnet50"): (Path(__file__).parent / "fixtures" / "resnet50", 1000)},
)
