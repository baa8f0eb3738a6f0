"""Edits on a :class:`LocatedConfig` that keep every value's file:line:col.

The NetsPresso translation moves, renames and removes fields before validation; a later error about
a moved value must still point at the line the user wrote. Each edit also records a note for the
native path it produced (``changes``) so ``nptrain config migrate`` can comment that line.
"""
from __future__ import annotations

from typing import Any, Iterable

import attrs

from nptrain.config.yaml_io import LocatedConfig, Location, dotted

_MISSING = object()


@attrs.define
class LocatedEditor:
    cfg: LocatedConfig
    changes: dict = attrs.Factory(dict)  # native path -> why this line differs from the original
    removed: list = attrs.Factory(list)  # "dotted.field: why" for fields dropped without loss of meaning
    ignored: list = attrs.Factory(list)  # "dotted.field (why)" for fields whose meaning nptrain lacks
    notes: list = attrs.Factory(list)  # what the user should know about how a field was honoured

    # -- reading -----------------------------------------------------------------------
    def get(self, path: Iterable[Any], default: Any = None) -> Any:
        node: Any = self.cfg.data
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return default
        return node

    def has(self, path: Iterable[Any]) -> bool:
        return self.get(path, _MISSING) is not _MISSING

    def error(self, path: Iterable[Any], message: str, *, value: bool = True):
        return self.cfg.error(tuple(path), message, value=value)

    def location(self, path: Iterable[Any]) -> Location:
        return self.cfg.locate(tuple(path))

    # -- location bookkeeping ------------------------------------------------------------
    def _tables(self) -> tuple[dict, dict, dict]:
        return self.cfg.key_locs, self.cfg.value_locs, self.changes

    def _forget(self, path: tuple) -> None:
        for table in self._tables():
            for p in [p for p in table if p[: len(path)] == path]:
                del table[p]

    def _relocate(self, src: tuple, dst: tuple) -> None:
        for table in self._tables():
            moved = {dst + p[len(src):]: v for p, v in table.items() if p[: len(src)] == src}
            for p in [p for p in table if p[: len(src)] == src]:
                del table[p]
            table.update(moved)

    def _parent(self, path: tuple, create: bool = False) -> Any:
        node: Any = self.cfg.data
        for i, part in enumerate(path[:-1]):
            if isinstance(node, dict):
                if not isinstance(node.get(part), (dict, list)):
                    if not create:
                        return None
                    node[part] = {}
                    loc = self.location(path[: i + 1])
                    self.cfg.key_locs.setdefault(path[: i + 1], loc)
                    self.cfg.value_locs.setdefault(path[: i + 1], loc)
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return None
        return node

    # -- edits -------------------------------------------------------------------------
    def drop(self, path: Iterable[Any], *, removed: str | None = None, ignored: str | None = None) -> Any:
        """Remove a mapping key; ``removed`` says why nothing is lost, ``ignored`` why nptrain cannot honour it."""
        path = tuple(path)
        parent = self._parent(path)
        if not isinstance(parent, dict) or path[-1] not in parent:
            return None
        value = parent.pop(path[-1])
        self._forget(path)
        if ignored is not None:
            self.ignored.append(f"{dotted(path)} ({ignored})")
        elif removed is not None:
            self.removed.append(f"{dotted(path)}: {removed}")
        return value

    def move(self, src: Iterable[Any], dst: Iterable[Any], note: str) -> None:
        """Move the value at ``src`` (a mapping key) to ``dst``, keeping its locations."""
        src, dst = tuple(src), tuple(dst)
        parent = self._parent(src)
        if not isinstance(parent, dict) or src[-1] not in parent:
            return
        value = parent.pop(src[-1])
        target = self._parent(dst, create=True)
        self._forget(dst)
        self._relocate(src, dst)
        target[dst[-1]] = value
        self.changes[dst] = note

    def put(self, path: Iterable[Any], value: Any, note: str, *, located_at: Iterable[Any] | None = None) -> None:
        """Set ``path`` to a new value, located where ``located_at`` (default: ``path``) was written."""
        path = tuple(path)
        loc = self.location(tuple(located_at) if located_at is not None else path)
        target = self._parent(path, create=True)
        self._forget(path)
        target[path[-1]] = value
        self._locate_all(path, value, loc)
        self.changes[path] = note

    def _locate_all(self, path: tuple, value: Any, loc: Location) -> None:
        self.cfg.key_locs.setdefault(path, loc)
        self.cfg.value_locs.setdefault(path, loc)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, sub in items:
            self._locate_all(path + (key,), sub, loc)

    def keep_items(self, list_path: Iterable[Any], keep: list[int]) -> None:
        """Keep only the items at positions ``keep`` of the list at ``list_path`` (locations follow)."""
        list_path = tuple(list_path)
        items = self.get(list_path)
        if not isinstance(items, list):
            return
        n = len(list_path)
        saved = []
        for table in self._tables():
            under = {p: v for p, v in table.items() if p[:n] == list_path and len(p) > n}
            for p in under:
                del table[p]
            saved.append(under)
        for new, old in enumerate(keep):
            for table, under in zip(self._tables(), saved):
                table.update({list_path + (new,) + p[n + 1:]: v for p, v in under.items() if p[n] == old})
        items[:] = [items[i] for i in keep]

    def note(self, path: Iterable[Any], text: str) -> None:
        self.changes[tuple(path)] = text
