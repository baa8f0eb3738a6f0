"""Less ceremony for a family's presets: one call expands widths × tasks into :class:`PresetRecord` s.

The hooks stay the contract; this only builds the records a ``nptrain_presets`` hook returns::

    @hookimpl
    def nptrain_presets():
        return preset_family(
            "ghostnet_{width}", backbone="ghostnet",
            widths={"s": {"width": 0.5}, "m": {"width": 1.0}},           # backbone params per width
            tasks={"classification": {"head": {"name": "fc"}},
                   "segmentation": {"neck": {"name": "fpn"}, "head": {"name": "fcn"}}},
            default_input_size=224, description="GhostNet {width}")

gives ``ghostnet_s`` and ``ghostnet_m`` for both tasks (four records). Light to import (no torch): safe
in an entry module.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Optional, Sequence

from nptrain.records import PresetRecord

# the head (and neck) nptrain's built-ins give each task when ``tasks`` names only the task
BUILTIN_TASK_PARTS: dict[str, dict[str, Any]] = {
    "classification": {"head": {"name": "fc"}},
    "segmentation": {"neck": {"name": "fpn"}, "head": {"name": "fcn"}},
    "detection": {"neck": {"name": "yolopafpn"}, "head": {"name": "anchor_free_decoupled_head"}},
}


def preset_family(name: str, *, backbone: str, widths: Mapping[str, Mapping[str, Any]],
                  tasks: Mapping[str, Optional[Mapping[str, Any]]] | Sequence[str] = ("classification",),
                  stage_params: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None,
                  default_input_size: int | Mapping[str, int] = 224, description: str = "",
                  losses: Optional[Mapping[str, tuple]] = None) -> list[PresetRecord]:
    """One :class:`PresetRecord` per width and task.

    ``name`` and ``description`` may use ``{width}`` and ``{task}``; ``widths`` maps the width label to
    the backbone's ``params``; ``stage_params`` maps a width label to its stage list. ``tasks`` maps each
    task to the rest of its architecture (``neck``, ``head``), or lists tasks to use
    :data:`BUILTIN_TASK_PARTS` (``fc``; ``fpn`` + ``fcn``; ``yolopafpn`` + ``anchor_free_decoupled_head``).
    ``default_input_size`` may be given per task; ``losses`` maps a task to its default ``model.losses``.
    Two widths × three tasks is six records from one call."""
    if "{width}" not in name and len(widths) > 1:
        raise ValueError(f"preset name {name!r} must contain {{width}} to tell {len(widths)} widths apart")
    parts = dict(tasks) if isinstance(tasks, Mapping) else {t: None for t in tasks}
    records = []
    for width, params in widths.items():
        for task, rest in parts.items():
            if rest is None:
                if task not in BUILTIN_TASK_PARTS:
                    raise ValueError(f"task {task!r}: give its neck/head, e.g. tasks={{{task!r}: {{'head': {{'name': ...}}}}}}")
                rest = BUILTIN_TASK_PARTS[task]
            body: dict[str, Any] = {"name": backbone}
            if params:
                body["params"] = dict(params)
            if stage_params and width in stage_params:
                body["stage_params"] = [dict(s) for s in stage_params[width]]
            size = default_input_size[task] if isinstance(default_input_size, Mapping) else default_input_size
            records.append(PresetRecord(
                name=name.format(width=width, task=task), task=task,
                architecture={"backbone": body, **copy.deepcopy(dict(rest))},
                description=description.format(width=width, task=task), default_input_size=size,
                losses=tuple((losses or {}).get(task, ()))))
    return records


__all__ = ["BUILTIN_TASK_PARTS", "preset_family"]
