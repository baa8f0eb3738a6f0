"""How the built-in tasks are declared (records only: importing this stays light)."""
from __future__ import annotations

from typing import Any

from nptrain.records import TaskRecord


def builtin_task(name: str, model: str, dataset: str, metric: str, **fields: Any) -> TaskRecord:
    """A built-in task's record. ``model`` is a class of ``nptrain.modeling.task_models``; the target adapter
    and the predict writer follow one naming convention: ``nptrain.training.targets:<name>_targets`` and
    ``nptrain.api.predict:predict_<name>``."""
    return TaskRecord(name=name, model=f"nptrain.modeling.task_models:{model}", dataset=dataset, metric=metric,
                      targets=f"nptrain.training.targets:{name}_targets",
                      predict=f"nptrain.api.predict:predict_{name}", **fields)
