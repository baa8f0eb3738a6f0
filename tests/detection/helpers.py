"""Plugin set with the built-in detection providers, whether or not the core registers them yet."""
from __future__ import annotations

import functools
from typing import Optional

from nptrain.plugin_manager import PluginInfo, PluginSet, add_records, load_plugins
from nptrain.records import RECORD_CLASSES

STANDALONE_DIST = "nptrain-detection"


@functools.lru_cache(maxsize=1)
def detection_plugins() -> tuple[PluginSet, Optional[str]]:
    """(plugin set, dist to run conformance for). When ``nptrain.builtin.detection_plugin`` is not
    registered by the core, its records are added under a stand-in distribution name so the
    conformance kit can run on them alone; once registered, the core's own conformance test covers
    them and the dist is None."""
    plugins = load_plugins(external=False)
    if plugins.registry.find("head", "anchor_free_decoupled_head") is not None:
        return plugins, None
    from nptrain.builtin import detection_plugin as module

    info = PluginInfo(name="builtin_detection", dist=STANDALONE_DIST, version="0", module=module.__name__)
    for record_cls in RECORD_CLASSES:
        impl = getattr(module, record_cls.HOOK, None)
        add_records(plugins.registry, info, impl() if impl else [])
    plugins.plugins.append(info)
    return plugins, STANDALONE_DIST
