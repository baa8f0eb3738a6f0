"""Write a new plugin project from :mod:`nptrain.scaffold.templates` for the kinds and tasks asked for."""
from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Iterable, Sequence

from nptrain.errors import UserError
from nptrain.records import TASKS
from nptrain.scaffold import templates as t
from nptrain.hints import suggest

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
KINDS = ("backbone", "head", "loss", "converter")
DEFAULT_KINDS = ("backbone", "converter")
# the template head and loss serve these tasks; detection uses the core's YOLOX neck, head and loss
HEAD_TASKS = ("classification", "segmentation")


def _choice(values: Iterable[str], allowed: Sequence[str], option: str) -> tuple[str, ...]:
    values = [v.strip() for v in values if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        near = suggest(bad[0], list(allowed))
        raise UserError(f"{option}: unknown {bad[0]!r}" + (f" (did you mean {near!r}?)" if near else "")
                        + f"; choose from {', '.join(allowed)}")
    return tuple(v for v in allowed if v in values)  # canonical order, duplicates dropped


def _literal(value: object) -> str:
    return repr(value).replace("'", '"')


def plan(name: str, kinds: Sequence[str], tasks: Sequence[str], source: str) -> dict[str, str]:
    """The template variables for these options (raises :class:`UserError` for a combination that cannot work)."""
    if "backbone" not in kinds:
        raise UserError("--kinds must include backbone (the presets are built on the plugin's backbone)")
    if "converter" in kinds and "classification" not in tasks:
        raise UserError("--kinds converter maps an original classifier: add classification to --tasks, "
                        "or leave converter out of --kinds")
    head_tasks = tuple(x for x in tasks if x in HEAD_TASKS)
    for kind in ("head", "loss"):
        if kind in kinds and not head_tasks:
            raise UserError(f"--kinds {kind}: the template {kind} serves {' and '.join(HEAD_TASKS)}; "
                            f"add one of them to --tasks")
    custom = "head" in kinds
    parts = {task: ({"head": {"name": f"{name}_head"}} if custom and task in head_tasks else None) for task in tasks}
    preset_tasks = _literal(tuple(tasks)) if not any(parts.values()) else _literal(parts)
    losses = ""
    if "loss" in kinds:
        losses = ("\n                         losses=" +
                  _literal({task: ({"criterion": f"{name}_focal"},) for task in head_tasks}) + ",")
    sizes = {task: t.INPUT_SIZES[task] for task in tasks}
    records = sorted({"BackboneRecord"} | {f"{k.capitalize()}Record" for k in kinds if k in ("head", "loss", "converter")})
    params = ["${cls}Params", "${cls}Stage"] + (["${cls}HeadParams"] if "head" in kinds else []) \
        + (["${cls}LossParams"] if "loss" in kinds else [])
    rows = [f"| preset | `{name}_s` | {task} (`{name}` + "
            + (f"`{name}_head`" if parts[task] else {"classification": "`fc` head", "segmentation": "`fpn` + `fcn`",
                                                     "detection": "`yolopafpn` + `anchor_free_decoupled_head`"}[task])
            + ")" + (f", `{name}_focal` loss" if "loss" in kinds and task in head_tasks else "") + " |" for task in tasks]
    if "head" in kinds:
        rows.append(f"| head | `{name}_head` | {', '.join(head_tasks)} |")
    if "loss" in kinds:
        rows.append(f"| loss | `{name}_focal` | {', '.join(head_tasks)} |")
    if "converter" in kinds:
        rows.append(f"| converter | `{source}` → `{name}_s` | maps the original naming (`features.N.*`, `fc.*`) onto ours |")
    first = tasks[0]
    return {"records": ", ".join(records), "params_imports": ", ".join(params),
            "head_tasks": _literal(head_tasks), "loss_tasks": _literal(head_tasks), "preset_tasks": preset_tasks,
            "preset_losses": losses, "input_sizes": str(sizes[first]) if len(sizes) == 1 else _literal(sizes),
            "rows": "\n".join(rows) + "\n",
            "torch_imports": "\nimport torch\n\nfrom nptrain.modeling.api import create_model\n" if "converter" in kinds else "",
            **{k: v for k, v in t.TASK_DATA[first].items() if k != "config"}}


def render_files(name: str, kinds: Sequence[str], tasks: Sequence[str], source: str) -> dict[str, str]:
    """Relative path -> text of every file of the project."""
    data = t.TASK_DATA[tasks[0]]["data"]
    files = {"pyproject.toml": t.PYPROJECT, "MANIFEST.in": t.MANIFEST, "README.md": t.README_HEAD, "$pkg/__init__.py": t.INIT,
             "$pkg/params.py": t.PARAMS_HEAD + (t.PARAMS_HEAD_KIND if "head" in kinds else "")
             + (t.PARAMS_LOSS_KIND if "loss" in kinds else ""),
             "$pkg/plugin.py": t.PLUGIN_HEAD + (t.PLUGIN_HEAD_KIND if "head" in kinds else "")
             + (t.PLUGIN_LOSS_KIND if "loss" in kinds else "") + t.PLUGIN_PRESETS
             + (t.PLUGIN_CONVERTER_KIND if "converter" in kinds else ""),
             "$pkg/model.py": t.MODEL}
    if "head" in kinds:
        files["$pkg/head.py"] = t.HEAD
    if "loss" in kinds:
        files["$pkg/loss.py"] = t.LOSS
    if "converter" in kinds:
        files["$pkg/convert.py"] = t.CONVERT
    files["tests/test_conformance.py"] = t.TEST_CONFORMANCE
    files["tests/test_train.py"] = t.TEST_TRAIN_HEAD + (t.TEST_CONVERTER if "converter" in kinds else "") + t.TEST_TRAIN_RUN
    files[f"configs/${{name}}_{data}.yaml"] = t.TASK_DATA[tasks[0]]["config"]
    values = {"name": name, "pkg": f"np_plugin_{name}", "dist": f"np-plugin-{name.replace('_', '-')}",
              "cls": "".join(part.capitalize() for part in name.split("_")), "source": source}
    # two passes: the plan's own text holds $-variables (e.g. ${cls}Params) filled by the second
    values.update({k: Template(v).substitute(values) for k, v in plan(name, kinds, tasks, source).items()})
    return {Template(rel).substitute(values): Template(text).substitute(values) for rel, text in files.items()}


def create_plugin(name: str, directory: Path, *, kinds: Iterable[str] = DEFAULT_KINDS,
                  tasks: Iterable[str] = ("classification",), source: str = "reference") -> list[Path]:
    """Create ``directory`` (default ``np-plugin-NAME``) holding a working plugin; never overwrites."""
    if not NAME_RE.match(name):
        raise UserError(f"plugin name {name!r} must be lowercase letters, digits and underscores, starting with a letter")
    if not NAME_RE.match(source):
        raise UserError(f"--source {source!r} must be lowercase letters, digits and underscores, starting with a letter")
    kinds, tasks = _choice(kinds, KINDS, "--kinds"), _choice(tasks, TASKS, "--tasks")
    if not tasks:
        raise UserError("--tasks: name at least one of " + ", ".join(TASKS))
    files = render_files(name, kinds, tasks, source)  # every check before anything is written
    if directory.exists() and any(directory.iterdir()):
        raise UserError(f"{directory} exists and is not empty; choose another --dir")
    written = []
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
