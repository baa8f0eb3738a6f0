"""Provider records indexed by kind and name, with the distribution that provided each."""
from __future__ import annotations

from typing import Any, Optional

import attrs

from nptrain.errors import PluginError, UserError
from nptrain.hints import did_you_mean
from nptrain.known_plugins import install_hint
from nptrain.records import TASKS as BUILTIN_TASKS

@attrs.frozen
class Provided:
    record: Any
    dist: str
    plugin: str


class UnknownProvider(UserError):
    """A config or command names a provider nothing installed provides."""


@attrs.define
class Registry:
    _entries: dict = attrs.Factory(dict)  # (kind, key) -> [Provided, ...]

    def add(self, provided: Provided) -> None:
        """File ``provided`` under every key its record class's key rule gives (see ``nptrain.records``)."""
        record = provided.record
        for key in record.keys():
            self._entries.setdefault((record.KIND, key), []).append(provided)

    def drop_dist(self, dist: str) -> None:
        for key in list(self._entries):
            self._entries[key] = [p for p in self._entries[key] if p.dist != dist]
            if not self._entries[key]:
                del self._entries[key]

    def conflicts(self) -> dict:
        return {k: v for k, v in self._entries.items() if len(v) > 1}

    def conflict_messages(self) -> list[str]:
        return [_conflict_message(kind, key, provs) for (kind, key), provs in sorted(self.conflicts().items(), key=str)]

    def all(self, kind: str) -> list[Provided]:
        """Every provider of ``kind`` (one per name; for a clash, the first), sorted by name."""
        items = [(k[1], v[0]) for k, v in self._entries.items() if k[0] == kind]
        out, seen = [], set()
        for key, prov in sorted(items, key=lambda t: str(t[0])):
            if id(prov) not in seen:
                seen.add(id(prov))
                out.append(prov)
        return out

    def names(self, kind: str) -> list[str]:
        return sorted({p.record.name for p in self.all(kind)})

    def find(self, kind: str, key: Any) -> Optional[Provided]:
        provs = self._entries.get((kind, key))
        if not provs:
            return None
        if len(provs) > 1:
            raise PluginError(_conflict_message(kind, key, provs))
        return provs[0]

    def get(self, kind: str, name: str, *, task: Optional[str] = None) -> Provided:
        """The provider of ``kind`` called ``name``; a clear error lists what is installed."""
        prov = self.find(kind, name)
        if prov is None:
            raise UnknownProvider(self.unknown_message(kind, name))
        if task is not None and task not in prov.record.tasks:
            raise UserError(f"{kind} {name!r} does not support task {task!r} (it supports {', '.join(prov.record.tasks)})")
        return prov

    def unknown_message(self, kind: str, name: str) -> str:
        names = self.names(kind)
        hint = did_you_mean(name, names) or install_hint(name)
        return f"unknown {kind} {name!r}{hint}; installed: {', '.join(names) or 'none'}"

    def task_names(self) -> list[str]:
        """Installed tasks: the built-in ones in their usual order, then the ones plugins add."""
        return sorted(self.names("task"), key=lambda n: (BUILTIN_TASKS.index(n) if n in BUILTIN_TASKS else len(BUILTIN_TASKS), n))

    def task(self, name: str) -> Any:
        """The :class:`~nptrain.records.TaskRecord` of ``name``; a clear error lists the installed tasks."""
        return self.get("task", name).record

    def preset(self, name: str, task: str) -> Optional[Provided]:
        return self.find("preset", (name, task))

    def preset_tasks(self, name: str) -> list[str]:
        return sorted(k[1][1] for k in self._entries if k[0] == "preset" and k[1][0] == name)

    def converter(self, source: str, preset: str) -> Provided:
        prov = self.find("converter", (source, preset))
        if prov is None:
            sources = sorted({k[1][0] for k in self._entries if k[0] == "converter" and k[1][1] == preset})
            if sources:
                raise UnknownProvider(f"no converter {source!r} for preset {preset!r}"
                                      + did_you_mean(source, sources)
                                      + f"; available sources: {', '.join(sources)}")
            all_sources = sorted({k[1][0] for k in self._entries if k[0] == "converter"})
            raise UnknownProvider(f"no converter fills preset {preset!r}{install_hint(preset)}; "
                                  f"installed sources: {', '.join(all_sources) or 'none'}")
        return prov


def _conflict_message(kind: str, key: Any, provs: list[Provided]) -> str:
    name = key if isinstance(key, str) else "/".join(map(str, key))
    who = " and ".join(f"{p.dist} ({p.plugin})" for p in provs)
    return (f"{kind} {name!r} is provided by both {who}; uninstall one or disable it with "
            f"NPTRAIN_DISABLE_PLUGINS={provs[-1].plugin}")
