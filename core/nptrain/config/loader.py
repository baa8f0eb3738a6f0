"""``load_config``: files + overrides → validated, typed run configuration."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Optional

import attrs

from nptrain.config.components import ResolvedModel, resolve_model
from nptrain.config.model_section import ModelConfig
from nptrain.config.sections import RunConfig
from nptrain.config.structure import CONVERTER, structure, suggest
from nptrain.config.yaml_io import LocatedConfig, load_layers
from nptrain.errors import ConfigError

SECTIONS = [f.name for f in attrs.fields(RunConfig)]
LOSS_KEYS = ("criterion", "weight")
# schemes a checkpoint may carry (besides a converter source name): handled elsewhere
CHECKPOINT_SCHEMES = ("zoo", "http", "https")


@attrs.define
class LoadedConfig:
    run: RunConfig
    model: ModelConfig
    resolved: ResolvedModel
    located: LocatedConfig

    def unstructure(self) -> dict:
        """The resolved config with every default filled in (for ``config show`` and run dirs)."""
        data = CONVERTER.unstructure(self.run)
        model = CONVERTER.unstructure(self.model)
        for slot in ("full", "backbone", "neck", "head"):
            comp = getattr(self.resolved, slot)
            if comp is not None:
                model["architecture"][slot] = {
                    "name": comp.record.name,
                    "params": CONVERTER.unstructure(comp.params) if comp.params is not None else None,
                    "stage_params": [CONVERTER.unstructure(s) for s in comp.stage_params] or None,
                }
        model["losses"] = [
            {"criterion": loss.provided.record.name, "weight": loss.weight,
             **(CONVERTER.unstructure(loss.params) if loss.params is not None else {})}
            for loss in self.resolved.losses
        ]
        data["model"] = model
        return data


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _deep_merge(base.get(k), v) if k in base else v
        return out
    return copy.deepcopy(over)


def _apply_preset(model: dict, cfg: LocatedConfig, registry) -> None:
    """``model.name`` naming a preset fills ``architecture`` (the user's keys win) and default losses."""
    name, task = model.get("name"), model.get("task", "classification")
    if not isinstance(name, str) or model.get("fx_model_checkpoint"):
        return
    prov = registry.preset(name, task) if isinstance(task, str) else None
    if prov is None:
        return
    arch = model.get("architecture") or {}
    if not isinstance(arch, dict):
        return
    named = [arch.get(slot) for slot in ("full", "backbone")]
    if any(isinstance(c, dict) and c.get("name") for c in named):  # the user describes their own model
        return
    merged = _deep_merge(copy.deepcopy(dict(prov.record.architecture)), {k: v for k, v in arch.items() if v is not None})
    model["architecture"] = merged
    if not model.get("losses") and prov.record.losses:
        model["losses"] = [dict(x) for x in prov.record.losses]


def _default_losses(model: dict) -> None:
    if model.get("losses"):
        return
    task = model.get("task", "classification")
    model["losses"] = [{"criterion": {"classification": "cross_entropy", "segmentation": "seg_cross_entropy",
                                      "detection": "yolox_loss"}.get(task, "cross_entropy")}]


def _split_losses(model: dict, cfg: LocatedConfig) -> None:
    losses = model.get("losses")
    if losses is None:
        return
    if not isinstance(losses, list):
        raise cfg.error(("model", "losses"), "expected a list of {criterion: ..., weight: ...} entries")
    out = []
    for i, entry in enumerate(losses):
        if not isinstance(entry, dict):
            raise cfg.error(("model", "losses", i), "expected a mapping like {criterion: cross_entropy}")
        out.append({**{k: entry[k] for k in LOSS_KEYS if k in entry},
                    "params": {k: v for k, v in entry.items() if k not in LOSS_KEYS}})
    model["losses"] = out


def _check_files(model: ModelConfig, cfg: LocatedConfig, registry) -> None:
    if model.checkpoint and model.fx_model_checkpoint:
        raise cfg.error(("model", "fx_model_checkpoint"),
                        "only one of checkpoint and fx_model_checkpoint may be set (got both)")
    for field in ("checkpoint", "fx_model_checkpoint", "resume_optimizer_checkpoint"):
        value = getattr(model, field)
        if not value:
            continue
        scheme, sep, rest = value.partition(":")
        path = value
        if sep and len(scheme) > 1:
            if scheme in CHECKPOINT_SCHEMES:
                continue
            if field == "checkpoint" and registry.find("converter", (scheme, model.name or "")) is None and \
                    scheme not in {k for k in _converter_sources(registry)}:
                raise cfg.error(("model", field), f"unknown checkpoint source {scheme!r}; installed converter "
                                f"sources: {', '.join(sorted(_converter_sources(registry))) or 'none'}")
            path = rest
        if not Path(path).expanduser().exists():
            raise cfg.error(("model", field), f"file not found: {path}")


def _converter_sources(registry) -> set[str]:
    return {p.record.name for p in registry.all("converter")}


def load_config(paths: Iterable[str | Path], overrides: Iterable[str] = (), *, plugins=None,
                check_files: bool = True) -> LoadedConfig:
    """Load, merge and validate config files; raises :class:`ConfigError` with file:line:col."""
    from nptrain.plugin_manager import default_plugins

    plugins = plugins or default_plugins()
    paths = list(paths)
    if not paths:
        raise ConfigError("no config file given")
    cfg = load_layers(paths, overrides)
    data = cfg.data
    for key in data:
        if key not in SECTIONS:
            near = suggest(key, SECTIONS)
            raise cfg.error((key,), f"unknown section {key!r}" + (f" (did you mean {near!r}?)" if near else
                                                                    f"; sections are {', '.join(SECTIONS)}"), value=False)
    model_raw = copy.deepcopy(data.get("model") or {})
    if not isinstance(model_raw, dict):
        raise cfg.error(("model",), "expected a mapping")
    _apply_preset(model_raw, cfg, plugins.registry)
    _default_losses(model_raw)
    _split_losses(model_raw, cfg)
    model = structure(model_raw, ModelConfig, cfg=cfg, base=("model",))
    run = structure({k: v for k, v in data.items() if k != "model"}, RunConfig, cfg=cfg)
    run.model = model
    if check_files:
        _check_files(model, cfg, plugins.registry)
    resolved = resolve_model(model, plugins.registry, cfg)
    loaded = LoadedConfig(run=run, model=model, resolved=resolved, located=cfg)
    from nptrain.plugin_trace import trace_config

    trace_config(loaded, plugins)  # NPTRAIN_TRACE_PLUGINS=1: which distribution provides each part
    return loaded
