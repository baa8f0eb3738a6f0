"""``load_config``: files + overrides → validated, typed run configuration, in one phase.

Every section becomes typed records here (ranges included), cross-section and cheap filesystem
facts are checked here, and every problem found is reported together (up to ``MAX_ERRORS``), so
``nptrain config check`` rejects exactly what ``nptrain run`` would reject before training, and
the training code receives records it never has to parse.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Mapping
import typing

import attrs

from nptrain.config import checks
from nptrain.config.augmentation import resolve_augmentation
from nptrain.config.components import ResolvedModel, resolve_model
from nptrain.config.model_section import ModelConfig
from nptrain.config.netspresso import Translation, translate
from nptrain.config.sections import RunConfig
from nptrain.config.structure import CONVERTER, raise_errors, structure, structure_errors
from nptrain.config.yaml_io import LocatedConfig, load_layers, mapping_layer
from nptrain.errors import ConfigError, ConfigErrors
from nptrain.hints import did_you_mean, suggest
from nptrain.plugin_manager import default_plugins
from nptrain.plugin_trace import trace_config
from nptrain.config.distillation_section import check_distillation

SECTIONS = [f.name for f in attrs.fields(RunConfig)]
LOSS_KEYS = ("criterion", "weight")


@attrs.define
class LoadedConfig:
    run: RunConfig
    model: ModelConfig
    resolved: ResolvedModel
    located: LocatedConfig
    # what the NetsPresso Trainer 1.x translation did (detected=False for native files)
    netspresso: Translation = attrs.Factory(Translation)
    # the PluginSet it was loaded with, for what runs from it (checkpoint converters, traces, presets)
    plugins: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def task_spec(self) -> Any:
        """The :class:`~nptrain.records.TaskRecord` of ``model.task`` (dataset, targets, metric, predict...)."""
        return self.resolved.task_spec

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
                    "stage_params": [s.to_config() if hasattr(s, "to_config") else CONVERTER.unstructure(s)
                                     for s in comp.stage_params] or None,
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


def _check_task(model: dict, cfg: LocatedConfig, registry) -> None:
    """``model.task`` names an installed task (built in, or added by a plugin's TaskRecord)."""
    task, names = model.get("task", "classification"), registry.task_names()
    if isinstance(task, str) and task in names:
        return
    near = did_you_mean(task, names) if isinstance(task, str) else ""
    got = "nothing (null)" if task is None else repr(task)
    raise cfg.error(("model", "task"), f"expected one of {', '.join(names)}; got {got}{near}")


def _default_losses(model: dict, registry) -> None:
    if model.get("losses"):
        return
    model["losses"] = [{"criterion": registry.task(model.get("task", "classification")).default_loss}]


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


def _errors_of(exc: ConfigError) -> list[ConfigError]:
    return list(exc.errors) if isinstance(exc, ConfigErrors) else [exc]


def _load_model(data: dict, cfg: LocatedConfig, registry) -> tuple[Any, list[ConfigError]]:
    model_raw = copy.deepcopy(data.get("model") or {})
    if not isinstance(model_raw, dict):
        return None, [cfg.error(("model",), "expected a mapping")]
    try:
        _check_task(model_raw, cfg, registry)
        _apply_preset(model_raw, cfg, registry)
        _default_losses(model_raw, registry)
        _split_losses(model_raw, cfg)
        return structure(model_raw, ModelConfig, cfg=cfg, base=("model",)), []
    except ConfigError as exc:
        return None, _errors_of(exc)


def _section_raw(data: dict, name: str) -> Any:
    raw = data.get(name)
    if name == "training" and isinstance(raw, dict) and raw.get("ema") in (None, {}, False):
        raw = {k: v for k, v in raw.items() if k != "ema"}  # ema: ~ / {} / false all mean off
    return raw


def load_config(paths: Iterable[str | Path] | Mapping[str, Any], overrides: Iterable[str] = (), *, plugins=None,
                check_files: bool = True, for_run: bool = False) -> LoadedConfig:
    """Load, merge and validate config files (or one config given as a mapping of sections); raises
    :class:`ConfigError` with file:line:col, ``<mapping>`` and the field for a mapping
    (:class:`ConfigErrors` when there are several problems).

    ``check_files``: the checkpoint files the model section names exist. ``for_run``: everything
    ``nptrain run`` needs before training is there too (``nptrain config check`` asks the same): the
    data splits are set and their folders and label files exist, and ``logging.output_dir`` can be
    written. Without it a model-only fragment or a config for another machine still loads."""
    plugins = plugins or default_plugins()
    if isinstance(paths, Mapping):
        cfg = mapping_layer(paths, overrides)
    else:
        paths = list(paths)
        if not paths:
            raise ConfigError("no config file given")
        cfg = load_layers(paths, overrides)
    netspresso = translate(cfg, plugins.registry.names("transform"))  # NetsPresso Trainer 1.x files → native layout, locations kept
    data = cfg.data
    registry = plugins.registry
    errors: list[ConfigError] = []
    for key in data:
        if key not in SECTIONS:
            near = suggest(key, SECTIONS)
            errors.append(cfg.error((key,), f"unknown section {key!r}" + (f" (did you mean {near!r}?)" if near else
                                                                         f"; sections are {', '.join(SECTIONS)}"), value=False))
    model, problems = _load_model(data, cfg, registry)
    errors += problems
    raw_task = (data.get("model") or {}).get("task", "classification") if isinstance(data.get("model"), dict) else None
    task = model.task if model is not None else (raw_task if raw_task in registry.task_names() else None)
    task_spec = registry.task(task) if task is not None else None
    sections = {}
    for name in ("data", "training", "logging", "environment"):
        sections[name], problems = structure_errors(_section_raw(data, name), _section_class(name), cfg=cfg, base=(name,))
        errors += problems
    augmentation, problems = resolve_augmentation(data.get("augmentation"), task, registry, cfg)
    errors += problems
    resolved = None
    if model is not None:
        try:
            resolved = resolve_model(model, registry, cfg)
        except ConfigError as exc:
            errors += _errors_of(exc)
        if check_files:
            errors += checks.check_model_files(model, cfg, registry)
    if all(v is not None for v in sections.values()):
        run = RunConfig(augmentation=augmentation, model=model, **sections)
        if task is not None:
            errors += checks.check_metrics(run, task_spec, cfg)
        if model is not None:
            errors += checks.check_full_model_options(run, model, resolved, cfg)
        if check_files:
            errors += check_distillation(run, task, cfg)
        if for_run:
            errors += checks.check_data_paths(run, task_spec, cfg)
            errors += checks.check_output_dir(run, cfg)
    raise_errors(errors)
    loaded = LoadedConfig(run=run, model=model, resolved=resolved, located=cfg, netspresso=netspresso, plugins=plugins)
    trace_config(loaded, plugins)  # NPTRAIN_TRACE_PLUGINS=1: which distribution provides each part
    return loaded


def _section_class(name: str) -> type:
    return typing.get_type_hints(RunConfig)[name]
