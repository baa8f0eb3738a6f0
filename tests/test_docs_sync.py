"""docs/plugins.md carries the hook reference exactly as the hookspec docstrings say it."""
from pathlib import Path

from nptrain.testing.hookdocs import splice

ROOT = Path(__file__).resolve().parents[1]


def test_hook_reference_matches_hookspecs():
    text = (ROOT / "docs" / "plugins.md").read_text()
    assert splice(text) == text, "docs/plugins.md is stale: run python -m nptrain.testing.hookdocs docs/plugins.md"


def test_every_hook_is_documented_with_example():
    from nptrain import hookspecs

    for name in dir(hookspecs):
        if name.startswith("nptrain_"):
            doc = getattr(hookspecs, name).__doc__
            assert "Collecting hook" in doc and "Example::" in doc and "arguments" in doc.lower(), name


def test_config_reference_matches_classes():
    from nptrain.testing.configdocs import splice as splice_config

    text = (ROOT / "docs" / "config.md").read_text()
    assert splice_config(text) == text, "docs/config.md is stale: run python -m nptrain.testing.configdocs docs/config.md"
