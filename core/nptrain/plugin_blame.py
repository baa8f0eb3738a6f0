"""Name the plugin whose code raised, so a plugin's bug is never reported as the core's "internal error".

The CLI's last-resort handler asks :func:`blame_plugin`: when the traceback passes through a module of a
distribution that registers an ``nptrain`` entry point, the one-line message names that distribution,
the plugin's source line, and where to report it.
"""
from __future__ import annotations

import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Optional


def plugin_packages() -> dict[str, str]:
    """Top-level package -> distribution, for every installed distribution with an ``nptrain`` entry point."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") or "?"
        if name.lower() == "nptrain":
            continue
        for ep in dist.entry_points:
            if ep.group == "nptrain":
                out[ep.value.split(":", 1)[0].split(".", 1)[0]] = name
    return out


def module_of_file(filename: str) -> Optional[str]:
    """The imported module whose source is ``filename`` (None when none is)."""
    target = Path(filename).resolve()
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if file and Path(file).resolve() == target:
            return name
    return None


def blame_plugin(exc: BaseException) -> Optional[str]:
    """A one-line message naming the plugin distribution in ``exc``'s traceback, or None when no plugin
    code is involved. The deepest plugin frame is named: that is the line the plugin's author must look at."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    packages = plugin_packages()
    for frame in reversed(frames):
        module = module_of_file(frame.filename)
        top = module.split(".", 1)[0] if module else None
        if top in packages:
            reason = (str(exc).splitlines() or [""])[0][:300]
            return (f"plugin {packages[top]} failed at {frame.filename}:{frame.lineno} in {frame.name}: "
                    f"{type(exc).__name__}: {reason} (raised in the plugin's code: if the config's params for it "
                    f"are valid, report it to the plugin's authors; --debug shows the traceback)")
    return None
