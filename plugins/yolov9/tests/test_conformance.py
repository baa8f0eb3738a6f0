"""Every np-plugin-yolov9 provider and preset through nptrain's conformance matrix."""
from nptrain.testing import conformance_tests

TestConformance = conformance_tests("np-plugin-yolov9")
