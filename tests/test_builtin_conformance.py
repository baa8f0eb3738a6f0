"""The built-in providers run the same conformance matrix as every plugin."""
from pathlib import Path

from nptrain.testing import conformance_tests

DET_FIXTURES = Path(__file__).parent / "detection" / "fixtures"

# yolox_m/l/x at the smallest input their stride-32 level allows: same code as yolox_s, 3-11x its parameters
TestConformance = conformance_tests(
    "nptrain", input_sizes={"yolox_m": 32, "yolox_l": 32, "yolox_x": 32},
    converter_fixtures={("megvii", "yolox_nano"): (DET_FIXTURES / "yolox_nano", 80),
                        ("megvii", "yolox_s"): (DET_FIXTURES / "yolox_s", 80)})
