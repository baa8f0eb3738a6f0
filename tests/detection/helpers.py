"""Plugin set with the built-in detection providers, whether or not the core registers them yet."""
from __future__ import annotations

import functools
from typing import Optional

from nptrain.plugin_manager import PluginInfo, PluginSet, load_plugins
from nptrain.registry import HOOK_OF_KIND, Provided

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
    for kind, hook in HOOK_OF_KIND.items():
        impl = getattr(module, hook, None)
        for record in (impl() if impl else []):
            plugins.registry.add(kind, Provided(record=record, dist=STANDALONE_DIST, plugin=info.name))
            info.providers.setdefault(kind, []).append(plugins.registry.key_of(kind, record))
    plugins.plugins.append(info)
    return plugins, STANDALONE_DIST
