"""Every np-plugin-yolofastest provider and preset through nptrain's conformance matrix."""
from nptrain.testing import conformance_tests

TestConformance = conformance_tests("np-plugin-yolofastest")
