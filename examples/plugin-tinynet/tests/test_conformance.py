"""Every provider of this plugin through nptrain's conformance matrix."""
from nptrain.testing import conformance_tests

TestConformance = conformance_tests("np-plugin-tinynet")
