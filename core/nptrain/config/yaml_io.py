"""Read YAML config files keeping the file, line and column of every key and value.

Several files merge in order (mappings merge recursively, everything else is replaced), then
``a.b.c=value`` overrides from the command line apply. Every path remembers where it was last set
so an error can point at the line the user has to change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import attrs
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from nptrain.config.bounded_yaml import load_yaml, read_text_capped
from nptrain.errors import ConfigError

PathKey = tuple  # ("model", "architecture", "backbone", "params", "block_type") / list indexes as ints


@attrs.frozen
class Location:
    file: str
    line: Optional[int] = None  # 1-based
    col: Optional[int] = None  # 1-based


@attrs.define
class LocatedConfig:
    """A merged raw config (plain dicts/lists) and where each key and value came from."""

    data: dict = attrs.Factory(dict)
    key_locs: dict = attrs.Factory(dict)  # path -> Location of the key (or list item)
    value_locs: dict = attrs.Factory(dict)  # path -> Location of the value
    files: list = attrs.Factory(list)

    def locate(self, path: Iterable[Any], *, value: bool = True) -> Location:
        """Best location for ``path``: the value (or key), else the nearest located parent."""
        path = tuple(path)
        while True:
            table = (self.value_locs, self.key_locs) if value else (self.key_locs, self.value_locs)
            for t in table:
                if path in t:
                    return t[path]
            if not path:
                return Location(self.files[-1] if self.files else "<config>")
            path = path[:-1]

    def error(self, path: Iterable[Any], message: str, *, value: bool = True) -> ConfigError:
        path = tuple(path)
        loc = self.locate(path, value=value)
        return ConfigError(message, file=loc.file, line=loc.line, col=loc.col, field=dotted(path) or None)


def dotted(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + str(p))
    return out


def _plain(node: Any, file: str, path: PathKey, cfg: LocatedConfig) -> Any:
    """Convert ruamel nodes to plain Python, recording key/value positions."""
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            sub = path + (str(key),)
            kl = node.lc.key(key)
            vl = node.lc.value(key)
            cfg.key_locs[sub] = Location(file, kl[0] + 1, kl[1] + 1)
            cfg.value_locs[sub] = Location(file, vl[0] + 1, vl[1] + 1)
            out[str(key)] = _plain(value, file, sub, cfg)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for i, value in enumerate(node):
            sub = path + (i,)
            il = node.lc.item(i)
            cfg.key_locs[sub] = cfg.value_locs[sub] = Location(file, il[0] + 1, il[1] + 1)
            out_list.append(_plain(value, file, sub, cfg))
        return out_list
    if hasattr(node, "__float__") and type(node).__name__ == "ScalarFloat":
        return float(node)
    if type(node).__name__ in ("ScalarBoolean",):
        return bool(node)
    if isinstance(node, str):
        return str(node)
    return node


def read_yaml(path: str | Path) -> tuple[dict, LocatedConfig]:
    """Parse one file into a plain mapping plus its locations; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    node = load_yaml(read_text_capped(path, what="config file"), str(path), typ="rt")
    cfg = LocatedConfig(files=[str(path)])
    if node is None:
        return {}, cfg
    if not isinstance(node, CommentedMap):
        raise ConfigError("the top level must be a mapping of sections (data, model, training, ...)", file=str(path), line=1, col=1)
    data = _plain(node, str(path), (), cfg)
    cfg.data = data
    return data, cfg


def _merge_into(dst: dict, src: dict, path: PathKey, cfg: LocatedConfig, src_cfg: LocatedConfig) -> None:
    for key, value in src.items():
        sub = path + (key,)
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge_into(dst[key], value, sub, cfg, src_cfg)
        else:
            dst[key] = value
            # drop stale locations under the replaced path, copy the new ones
            for table, src_table in ((cfg.key_locs, src_cfg.key_locs), (cfg.value_locs, src_cfg.value_locs)):
                for p in [p for p in table if p[: len(sub)] == sub]:
                    del table[p]
                table.update({p: loc for p, loc in src_table.items() if p[: len(sub)] == sub})
        for table, src_table in ((cfg.key_locs, src_cfg.key_locs), (cfg.value_locs, src_cfg.value_locs)):
            if sub in src_table:
                table[sub] = src_table[sub]


def merge_layers(layers: Iterable[LocatedConfig]) -> LocatedConfig:
    out = LocatedConfig()
    for layer in layers:
        out.files.extend(layer.files)
        _merge_into(out.data, layer.data, (), out, layer)
    return out


def _override_value(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"override {text!r} must look like section.field=value (e.g. training.epochs=5, "
                          f"augmentation.train.0.size=96)", file="<command line>")
    try:
        value = load_yaml(raw, "<command line>") if raw.strip() else None
    except ConfigError as exc:
        raise ConfigError(f"override {text!r}: {exc.message}", file="<command line>") from None
    return key.strip().split("."), value


def _step(node: Any, part: str, done: tuple, text: str) -> Any:
    """The key or list position ``part`` inside ``node`` (a list item is named by its 0-based index)."""
    def error(message: str) -> ConfigError:
        return ConfigError(message, file="<command line>", field=dotted(done))

    if isinstance(node, list):
        if not part.lstrip("-").isdigit():
            raise error(f"is a list: name an item by its position, e.g. {dotted(done)}.0.{part}")
        index = int(part)
        if not -len(node) <= index < len(node):
            raise error(f"has {len(node)} item(s); position {index} in override {text!r} is out of range")
        return index % len(node)
    if not isinstance(node, dict):
        raise error(f"holds a {type(node).__name__}, so override {text!r} cannot go inside it")
    return part


def _locate_all(cfg: LocatedConfig, path: tuple, value: Any, loc: Location) -> None:
    """Record ``loc`` for ``path`` and everything inside ``value``."""
    cfg.key_locs[path] = cfg.value_locs[path] = loc
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, sub in items:
        _locate_all(cfg, path + (key,), sub, loc)


def _set(cfg: LocatedConfig, holder: Any, key: Any, path: tuple, value: Any, loc: Location) -> None:
    """Put ``value`` at ``holder[key]``: a mapping merges into a mapping already there, anything else replaces."""
    old = holder[key] if isinstance(holder, list) or key in holder else None
    if isinstance(value, dict) and isinstance(old, dict):
        for sub_key, sub_value in value.items():
            _set(cfg, old, sub_key, path + (sub_key,), sub_value, loc)
        cfg.value_locs[path] = loc
        return
    holder[key] = value
    for table in (cfg.key_locs, cfg.value_locs):  # locations under the replaced value are stale
        for p in [p for p in table if p[: len(path)] == path]:
            del table[p]
    _locate_all(cfg, path, value, loc)


def apply_override(cfg: LocatedConfig, text: str) -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML) to the merged config, located on the command line.

    Missing mappings are created; a number indexes an existing list (``augmentation.train.0.size=96``);
    a mapping value merges into a mapping already there, anything else replaces."""
    parts, value = _override_value(text)
    loc = Location("<command line>")
    node: Any = cfg.data
    path: tuple = ()
    for i, part in enumerate(parts):
        key = _step(node, part, path, text)
        if i == len(parts) - 1:
            _set(cfg, node, key, path + (key,), value, loc)
            return
        if isinstance(node, dict) and not isinstance(node.get(key), (dict, list)):
            node[key] = {}
            cfg.key_locs[path + (key,)] = cfg.value_locs[path + (key,)] = loc
        node = node[key]
        path += (key,)


MAPPING_SOURCE = "<mapping>"  # what errors name as the file of a config given as a Python mapping


def mapping_layer(data: Mapping[str, Any], overrides: Iterable[str] = ()) -> LocatedConfig:
    """A config given as a mapping (``load_config({...})``): a plain deep copy, errors located at
    ``<mapping>`` and the field, overrides applied as for files."""
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping of sections (data, model, training, ...)", file=MAPPING_SOURCE)
    cfg = LocatedConfig(data=_plain_copy(data), files=[MAPPING_SOURCE])
    for text in overrides:
        apply_override(cfg, text)
    return cfg


def _plain_copy(value: Any) -> Any:
    """Nested mappings and sequences as fresh dicts and lists (the loader edits its copy, never the caller's)."""
    if isinstance(value, Mapping):
        return {str(k): _plain_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_copy(v) for v in value]
    return value


def load_layers(paths: Iterable[str | Path], overrides: Iterable[str] = ()) -> LocatedConfig:
    layers = []
    for p in paths:
        _, cfg = read_yaml(p)
        layers.append(cfg)
    merged = merge_layers(layers)
    merged.files = [str(p) for p in paths]
    for text in overrides:
        apply_override(merged, text)
    return merged
