"""Resolve ``model.architecture`` and ``model.losses`` against the installed providers.

Each component's ``params``/``stage_params`` are structured with the provider's own attrs
classes, so a typo in a backbone parameter is reported at its line like any other field.
"""
from __future__ import annotations

from typing import Any, Optional

import attrs

from nptrain.config.model_section import ComponentConfig, ModelConfig
from nptrain.config.structure import structure
from nptrain.hints import suggest
from nptrain.config.yaml_io import LocatedConfig
from nptrain.errors import ConfigError, PluginError, UserError, ValueAt
from nptrain.known_plugins import install_hint
from nptrain.registry import Provided, Registry

ARCH = ("model", "architecture")


@attrs.define
class ResolvedComponent:
    """A provider with validated params, ready to build."""

    kind: str
    provided: Provided
    params: Any
    stage_params: list
    path: tuple = ()  # where the config describes it, e.g. ("model", "architecture", "backbone")

    @property
    def record(self) -> Any:
        return self.provided.record


@attrs.define
class ResolvedLoss:
    provided: Provided
    params: Any
    weight: float
    path: tuple = ()  # ("model", "losses", i)


@attrs.define
class ResolvedModel:
    task: str
    # the task's TaskRecord (model class, dataset, targets, metric...), looked up once here
    task_spec: Any = attrs.field(default=None, eq=False, repr=False)
    full: Optional[ResolvedComponent] = None
    backbone: Optional[ResolvedComponent] = None
    neck: Optional[ResolvedComponent] = None
    head: Optional[ResolvedComponent] = None
    losses: list = attrs.Factory(list)
    # the config it came from, so a provider that refuses its params at build time is located too
    located: Optional[LocatedConfig] = attrs.field(default=None, eq=False, repr=False)


def _lookup(registry: Registry, kind: str, name: str, cfg: LocatedConfig, path: tuple) -> Provided:
    try:
        prov = registry.find(kind, name)
    except PluginError as exc:
        raise cfg.error(path, str(exc)) from None
    if prov is None:
        raise cfg.error(path, registry.unknown_message(kind, name).replace(f"unknown {kind} {name!r}", f"unknown {kind} {name!r}", 1))
    return prov


def resolve_component(kind: str, comp: ComponentConfig, task: str, registry: Registry, cfg: LocatedConfig,
                      path: tuple) -> ResolvedComponent:
    prov = _lookup(registry, kind, comp.name, cfg, path + ("name",))
    record = prov.record
    if task not in getattr(record, "tasks", (task,)):
        raise cfg.error(path + ("name",), f"{kind} {comp.name!r} does not support task {task!r} "
                        f"(it supports {', '.join(record.tasks)})")
    if record.params is None:
        if comp.params:
            raise cfg.error(path + ("params",), f"{kind} {comp.name!r} takes no params")
        params = None
    else:
        params = structure(comp.params or {}, record.params, cfg=cfg, base=path + ("params",))
    stage_cls = getattr(record, "stage_params", None)
    stages: list = []
    if comp.stage_params:
        if stage_cls is None:
            raise cfg.error(path + ("stage_params",), f"{kind} {comp.name!r} takes no stage_params")
        stages = [_stage(s, stage_cls, cfg, path + ("stage_params", i)) for i, s in enumerate(comp.stage_params)]
    return ResolvedComponent(kind=kind, provided=prov, params=params, stage_params=stages, path=path)


def _stage(value: Any, stage_cls: Any, cfg: LocatedConfig, base: tuple) -> Any:
    """One stage: through the stage class's ``from_config(value)`` when it has one (a stage that is not a mapping,
    such as NetsPresso's MobileNetV4 block lists; a ``ValueAt`` is located at its element), else cattrs."""
    from_config = getattr(stage_cls, "from_config", None)
    if from_config is None:
        return structure(value, stage_cls, cfg=cfg, base=base)
    try:
        return from_config(value)
    except ValueAt as exc:
        raise cfg.error(base + exc.sub, str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise cfg.error(base, str(exc)) from None


def _unknown_preset(name: str, task: str, registry: Registry) -> str:
    """Why ``model.name`` built nothing: a preset of another task, a near miss, or a plugin to install."""
    tasks = registry.preset_tasks(name)
    if tasks:
        return f"preset {name!r} is for {', '.join(tasks)}, not {task!r}: set model.task or pick another preset"
    names = [p.record.name for p in registry.all("preset") if p.record.task == task]
    near = suggest(name, names)
    hint = f" (did you mean {near!r}?)" if near else install_hint(name)
    return (f"unknown preset {name!r} for {task}{hint}; installed: {', '.join(sorted(set(names))) or 'none'} "
            "(or describe the model under model.architecture)")


def resolve_model(model: ModelConfig, registry: Registry, cfg: LocatedConfig) -> ResolvedModel:
    arch = model.architecture
    out = ResolvedModel(task=model.task, task_spec=registry.task(model.task), located=cfg)
    if model.fx_model_checkpoint is None or not arch.is_empty():
        if arch.full is not None:
            out.full = resolve_component("full", arch.full, model.task, registry, cfg, ARCH + ("full",))
        elif arch.backbone is None:
            if model.fx_model_checkpoint is None:
                if model.name:
                    raise cfg.error(("model", "name"), _unknown_preset(model.name, model.task, registry))
                raise cfg.error(ARCH, "no model: set architecture.backbone (and head) or architecture.full, "
                                "or name a preset in model.name", value=False)
        else:
            out.backbone = resolve_component("backbone", arch.backbone, model.task, registry, cfg, ARCH + ("backbone",))
            if arch.neck is not None:
                out.neck = resolve_component("neck", arch.neck, model.task, registry, cfg, ARCH + ("neck",))
            if arch.head is None:
                raise cfg.error(ARCH, "architecture.head is missing (e.g. head: {name: fc} for classification)", value=False)
            out.head = resolve_component("head", arch.head, model.task, registry, cfg, ARCH + ("head",))
    for i, loss in enumerate(model.losses):
        path = ("model", "losses", i)
        prov = _lookup(registry, "loss", loss.criterion, cfg, path + ("criterion",))
        if model.task not in prov.record.tasks:
            raise cfg.error(path + ("criterion",), f"loss {loss.criterion!r} does not support task {model.task!r}")
        params = structure(loss.params, prov.record.params, cfg=cfg, base=path) if prov.record.params else None
        out.losses.append(ResolvedLoss(provided=prov, params=params, weight=1.0 if loss.weight is None else loss.weight,
                                       path=path))
    return out


__all__ = ["ResolvedComponent", "ResolvedLoss", "ResolvedModel", "resolve_component", "resolve_model",
           "ConfigError", "UserError"]
