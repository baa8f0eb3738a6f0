"""nptrain plugin for PIDNet (no torch import here: the entry point must stay light)."""

__version__ = "0.1.0"
