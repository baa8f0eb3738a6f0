"""Discover plugins, collect their provider records, and keep one broken plugin from taking the rest down.

Plugins come from the entry-point group ``nptrain``; the built-in providers register through the
same hooks under the distribution name ``nptrain``. Environment switches:

* ``NPTRAIN_DISABLE_PLUGINS=a,b`` skips entry points or distributions by name;
* ``NPTRAIN_NO_EXTERNAL_PLUGINS=1`` loads only the built-ins (for tests);
* ``NPTRAIN_TRACE_PLUGINS=1`` prints which plugin answered which hook, on stderr.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import os
import sys
from importlib import metadata
from types import ModuleType
from typing import Iterable, Iterator, Optional

import attrs
import pluggy

from nptrain import hookspecs
from nptrain.errors import describe_exception
from nptrain.records import RECORD_CLASSES
from nptrain.registry import Provided, Registry
from nptrain import __version__

BUILTIN_DIST = "nptrain"
# built-in providers, registered exactly like plugins (one entry module per family)
BUILTIN_MODULES = (("builtin", "nptrain.builtin.plugin"), ("builtin_detection", "nptrain.builtin.detection_plugin"))


@attrs.define
class PluginInfo:
    """One loaded (or failed) plugin module and the distribution that ships it."""

    name: str
    dist: str
    version: str
    module: str
    error: Optional[str] = None
    providers: dict = attrs.Factory(dict)  # kind -> [names]


@attrs.define
class PluginSet:
    pm: pluggy.PluginManager
    plugins: list[PluginInfo]
    registry: Registry

    @property
    def errors(self) -> list[str]:
        return [f"{p.dist} ({p.name}): {p.error}" for p in self.plugins if p.error] + self.registry.conflict_messages()


def _env_list(name: str) -> set[str]:
    return {s.strip() for s in os.environ.get(name, "").split(",") if s.strip()}


def _canon(dist: str) -> str:
    return dist.lower().replace("_", "-")


def _entry_points() -> list[tuple[metadata.EntryPoint, str, str]]:
    """Entry points of group ``nptrain``, once per (distribution, name) even when an editable
    install makes a distribution visible on two paths."""
    seen: set[tuple[str, str]] = set()
    out = []
    for dist in metadata.distributions():
        dist_name = dist.metadata.get("Name") or "?"
        for ep in dist.entry_points:
            if ep.group != "nptrain":
                continue
            key = (_canon(dist_name), ep.name)
            if key in seen:
                continue
            seen.add(key)
            out.append((ep, dist_name, dist.version or "?"))
    return sorted(out, key=lambda t: (t[1].lower(), t[0].name))


def _trace(msg: str) -> None:
    if os.environ.get("NPTRAIN_TRACE_PLUGINS"):
        print(f"[nptrain plugins] {msg}", file=sys.stderr)


def load_plugins(*, external: Optional[bool] = None, disable: Iterable[str] = ()) -> PluginSet:
    """Load the built-ins and every installed plugin; never raises for a broken plugin."""
    if external is None:
        external = os.environ.get("NPTRAIN_NO_EXTERNAL_PLUGINS", "") in ("", "0")
    disabled = _env_list("NPTRAIN_DISABLE_PLUGINS") | set(disable)
    pm = pluggy.PluginManager("nptrain")
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []

    def register(name: str, dist: str, version: str, module_name: str, load) -> None:
        info = PluginInfo(name=name, dist=dist, version=version, module=module_name)
        infos.append(info)
        try:
            module = load()
            if not isinstance(module, ModuleType):
                raise TypeError(f"entry point must name a module, got {type(module).__name__}")
            pm.register(module, name=f"{dist}:{name}")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal,
            # even one that calls sys.exit() or raises another BaseException at import
            info.error = f"failed to load {module_name}: {describe_exception(exc)}"
            _trace(info.error)

    for name, module_name in BUILTIN_MODULES:
        register(name, BUILTIN_DIST, __version__, module_name,
                 lambda module_name=module_name: importlib.import_module(module_name))
    if external:
        for ep, dist, version in _entry_points():
            if ep.name in disabled or dist in disabled or _canon(dist) in {_canon(d) for d in disabled}:
                _trace(f"skipped {dist}:{ep.name} (NPTRAIN_DISABLE_PLUGINS)")
                continue
            if _canon(dist) == BUILTIN_DIST:
                continue
            register(ep.name, dist, version, ep.value, ep.load)

    registry = Registry()
    by_plugin_name = {f"{i.dist}:{i.name}": i for i in infos}
    for record_cls in RECORD_CLASSES:
        hook_name = record_cls.HOOK
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = by_plugin_name[impl.plugin_name]
            if info.error:
                continue
            try:
                records = list(impl.function() or ())
                bad = [r for r in records if not isinstance(r, record_cls)]
                if bad:
                    raise TypeError(f"{hook_name} returned {type(bad[0]).__name__}, expected {record_cls.__name__}")
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - sys.exit() inside a hook included
                info.error = f"{hook_name}: {describe_exception(exc)}"
                _trace(info.error)
                continue
            add_records(registry, info, records)
            _trace(f"{impl.plugin_name} answered {hook_name} with {len(records)} record(s)")
    # a plugin that failed half-way must not leave records behind
    for info in infos:
        if info.error:
            registry.drop_dist(info.dist)
            info.providers.clear()
    return PluginSet(pm=pm, plugins=infos, registry=registry)


def add_records(registry: Registry, info: PluginInfo, records: Iterable) -> None:
    """Register ``records`` as provided by ``info``'s plugin and list them under its providers."""
    for record in records:
        registry.add(Provided(record=record, dist=info.dist, plugin=info.name))
        info.providers.setdefault(record.KIND, []).append(record.key())


# the plugin set of the conversion or build running now (see ``using_plugins``), for code a plugin calls
# back into without a set of its own (a converter's ``preset_shapes``)
_ACTIVE: contextvars.ContextVar[Optional[PluginSet]] = contextvars.ContextVar("nptrain_active_plugins", default=None)


@contextlib.contextmanager
def using_plugins(plugins: PluginSet) -> Iterator[PluginSet]:
    """Make ``plugins`` the :func:`active_plugins` while the block runs (a converter, a build)."""
    token = _ACTIVE.set(plugins)
    try:
        yield plugins
    finally:
        _ACTIVE.reset(token)


def active_plugins() -> PluginSet:
    """The set given to :func:`using_plugins` around the running call, else :func:`default_plugins`."""
    return _ACTIVE.get() or default_plugins()


@functools.lru_cache(maxsize=1)
def default_plugins() -> PluginSet:
    """The process-wide plugin set (loaded once). Pass a :class:`PluginSet` explicitly where you can."""
    return load_plugins()
