"""Render the hook and record reference of ``docs/plugins.md`` from the hookspec docstrings and the
record classes (fields, types, defaults; :data:`FIELD_NOTES` says what each field means).

``python -m nptrain.testing.hookdocs docs/plugins.md`` rewrites the block between the markers; a
test fails when the file and the docstrings differ, so the reference cannot drift.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any
from nptrain.records import PROVIDER_KINDS

START = "<!-- hook-reference:start (generated from core/nptrain/hookspecs.py; do not edit) -->"
END = "<!-- hook-reference:end -->"


# what each record field means; a test fails when a record gains a field without a note here
FIELD_NOTES: dict[str, str] = {
    "name": "provider name used in configs (`architecture.backbone.name`, `losses[].criterion`, `--from` for a "
            "converter); letters, digits, `_`, `-`",
    "factory": "`\"package.module:attribute\"` (imported only when a model is built) or a callable; signature per kind "
               "in the factories table",
    "description": "one line shown by `nptrain list`",
    "params": "attrs class of the component's `params` (every field with a default), or None",
    "stage_params": "attrs class of one `stage_params` list entry, or None",
    "tasks": "tasks served: classification, segmentation, detection or a task a plugin adds",
    "presets": "presets this converter fills",
    "task": "the preset's task",
    "architecture": "`model.architecture` mapping: `{backbone, neck, head}` or `{full}`, each `{name, params, "
                    "stage_params}`",
    "default_input_size": "square input side used when a config or command gives none (compress, export, benchmark)",
    "losses": "default `model.losses` entries, e.g. `({\"criterion\": \"pidnet_loss\"},)`",
    "memory_format": "`contiguous` or `channels_last`: the format its training steps are fastest in on CPU, used unless "
                     "the config sets `environment.channels_last` (measure with `bench/bench_step.py`)",
    "model": "task: `TaskModel` subclass, `model(backbone, neck, head, name)`; its `finish(out, x)` shapes full "
             "models' outputs too",
    "dataset": "task: `dataset(data_config, split, transform, classes)` builder",
    "targets": "task: `targets(batch_target, device)`: dataset targets → what losses and metrics receive",
    "metric": "task: `metric(loaded_config, num_classes) -> Metric` (`nptrain.metric_base`)",
    "metric_names": "task: names allowed in `logging.metrics.metric_names` (the metric picks its own default)",
    "default_loss": "task: criterion used when `model.losses` is empty and the preset names none",
    "predict": "task: `predict(loaded, model, classes, image_paths, out_dir, options) -> list` for `nptrain predict` "
               "and `nptrain.predict` (`out_dir` None: return results only; `options`: `topk`, `score_thresh`), or None "
               "(not supported)",
    "plots": "task: best-epoch pictures: `confusion` (confusion_matrix.png), `pr_curve` (pr_curve.png), `samples` "
             "(val_samples.png; built-in tasks only, it draws their targets)",
    "label": "task: what `data.path.<split>.label` is: `file`, `folder` or `either`",
    "label_hint": "task: what the data splits need, shown when a label is missing (empty: a label is optional)",
    "batch": "transform: acts on whole training batches (mixup/cutmix style) and is allowed only in "
             "`augmentation.train`",
}


def _default_text(field: Any) -> str:
    # lazy: attrs
    import attrs

    if field.default is attrs.NOTHING:
        return "required"
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        return "empty"
    return f"`{field.default!r}`"


def render_records() -> str:
    """A table of fields (type, default, meaning) per record class."""
    # lazy: attrs
    import attrs

    parts = ["### Records\n\nWhat the hooks return (`nptrain.records`); `nptrain.declare.preset_family` builds "
             "preset records for widths × tasks in one call.\n"]
    for kind, cls in PROVIDER_KINDS.items():
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        rows = [f"| `{f.name}` | `{str(f.type).replace('|', chr(92) + '|')}` | {_default_text(f)} | {FIELD_NOTES[f.name]} |" for f in attrs.fields(cls)]
        parts.append(f"#### `{cls.__name__}` ({kind})\n\n{doc}\n\n| field | type | default | meaning |\n"
                     f"|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def render() -> str:
    # lazy: layer (README map: testing/ may not import hookspecs)
    from nptrain import hookspecs

    parts = []
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("nptrain_"):
            continue
        sig = str(inspect.signature(fn)).replace("'", "")
        parts.append(f"### `{name}{sig}`\n\n{inspect.cleandoc(fn.__doc__ or '')}\n")
    parts.append(render_records())
    return "\n".join(parts)


def splice(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/plugins.md")
    path.write_text(splice(path.read_text()))
    print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
