"""The ``augmentation`` section: each entry's ``name`` picks an installed transform, whose params
class (``nptrain list transforms``) validates the entry's other keys.

Entries are checked against the task (a transform declares the tasks it serves) and the split
(a batch-level step such as ``mixing`` belongs in ``augmentation.train``), all at load time.
"""
from __future__ import annotations

from typing import Any, Optional

import attrs

from nptrain.config.structure import CONVERTER, structure_errors
from nptrain.hints import suggest
from nptrain.config.yaml_io import LocatedConfig
from nptrain.errors import ConfigError, PluginError
from nptrain.registry import Provided, Registry
from nptrain.config.structure import raise_errors
from nptrain.plugin_manager import default_plugins

SPLITS = ("train", "inference")


@attrs.define(kw_only=True)
class TransformConfig:
    """One validated entry: the transform's name, its params record and the provider that builds it."""

    name: str
    params: Any = None
    provided: Optional[Provided] = attrs.field(default=None, eq=False, repr=False)


@attrs.define(kw_only=True)
class AugmentationConfig:
    """Ordered transform lists; each entry is ``{name: ..., <transform params>}``."""

    train: list[TransformConfig] = attrs.Factory(list)
    inference: list[TransformConfig] = attrs.Factory(list)


def _unstructure_transform(entry: TransformConfig) -> dict:
    params = CONVERTER.unstructure(entry.params) if entry.params is not None else {}
    return {"name": entry.name, **params}


CONVERTER.register_unstructure_hook(TransformConfig, _unstructure_transform)


def resolve_augmentation(raw: Any, task: Optional[str], registry: Registry,
                         cfg: LocatedConfig) -> tuple[AugmentationConfig, list[ConfigError]]:
    """``augmentation`` as typed entries, and every problem found (each located)."""
    base = ("augmentation",)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return AugmentationConfig(), [cfg.error(base, f"expected a mapping with fields {', '.join(SPLITS)}; got {raw!r}")]
    errors: list[ConfigError] = []
    for key in raw:
        if key not in SPLITS:
            near = suggest(key, SPLITS)
            errors.append(cfg.error(base + (key,), f"unknown field {key!r}" +
                                    (f" (did you mean {near!r}?)" if near else f"; known fields: {', '.join(SPLITS)}"),
                                    value=False))
    out = AugmentationConfig()
    for split in SPLITS:
        entries = raw.get(split)
        if entries is None:
            continue
        if not isinstance(entries, list):
            errors.append(cfg.error(base + (split,), f"expected a list of transforms like [{{name: resize, size: 224}}]; "
                                    f"got {entries!r}"))
            continue
        for i, entry in enumerate(entries):
            resolved, problems = _resolve_entry(entry, split, task, registry, cfg, base + (split, i))
            errors += problems
            if resolved is not None:
                getattr(out, split).append(resolved)
    return out, errors


def parse_transforms(entries: list, split: str = "train", task: Optional[str] = "classification",
                     registry: Optional[Registry] = None) -> list[TransformConfig]:
    """Raw entries as validated records, outside a config file (tests, scripts); errors are
    :class:`~nptrain.errors.ConfigError` located at ``augmentation.<split>[i]``."""
    registry = registry or default_plugins().registry
    where = LocatedConfig(data={"augmentation": {split: entries}}, files=["<entries>"])
    out, errors = resolve_augmentation({split: entries}, task, registry, where)
    raise_errors(errors)
    return getattr(out, split)


def _resolve_entry(entry: Any, split: str, task: Optional[str], registry: Registry, cfg: LocatedConfig,
                   path: tuple) -> tuple[Optional[TransformConfig], list[ConfigError]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return None, [cfg.error(path, "expected a mapping with a name, e.g. {name: resize, size: 32}")]
    name = entry["name"].lower()
    try:
        prov = registry.find("transform", name)
    except PluginError as exc:
        return None, [cfg.error(path + ("name",), str(exc))]
    if prov is None:
        names = registry.names("transform")
        near = suggest(name, names)
        return None, [cfg.error(path + ("name",), f"unknown transform {entry['name']!r}" +
                                (f" (did you mean {near!r}?)" if near else f"; known: {', '.join(names)}"))]
    record = prov.record
    errors = []
    if task is not None and task not in record.tasks:
        # mixup/cutmix blend class labels; blended masks or boxes would need soft dense targets
        errors.append(cfg.error(path + ("name",), f"{name} is not supported for {task} "
                                f"(it serves {', '.join(record.tasks)}); remove it from this list"))
    if record.batch and split != "train":
        errors.append(cfg.error(path + ("name",), f"{name} acts on training batches: it belongs in augmentation.train"))
    params_raw = {k: v for k, v in entry.items() if k != "name"}
    if record.params is None:
        if params_raw:
            errors.append(cfg.error(path + (sorted(params_raw)[0],), f"transform {name!r} takes no params", value=False))
        params = None
    else:
        params, problems = structure_errors(params_raw, record.params, cfg=cfg, base=path)
        errors += problems
    if errors:
        return None, errors
    return TransformConfig(name=name, params=params, provided=prov), []
