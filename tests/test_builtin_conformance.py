"""The built-in providers run the same conformance matrix as every plugin."""
from nptrain.testing import conformance_tests

TestConformance = conformance_tests("nptrain")
