"""Build a run's :class:`~nptrain.training.distill.Distiller` from its config (the engine's one call).

Problems with the teacher are reported at ``training.distillation``'s line in the config.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from nptrain.config.loader import LoadedConfig
from nptrain.training.distill import Distiller


def build_distiller(loaded: LoadedConfig, student: nn.Module, data: Any, device: torch.device,
                    memory_format: torch.memory_format, log: Callable[[str], None] = print) -> Distiller:
    # lazy: layer (README map: training/ may not import teacher)
    from nptrain.teacher import describe, load_teacher, place, teacher_outputs_check

    dist = loaded.run.training.distillation
    task = loaded.model.task
    base = ("training", "distillation")

    def refuse(path: tuple, message: str) -> Exception:
        return loaded.located.error(base + tuple(path), message)

    teacher = load_teacher(dist, task, len(data.classes), refuse=refuse, log=log)
    teacher_outputs_check(teacher, data.classes, dist.kind_for(task), refuse)
    place(teacher.model, device, memory_format)
    # two validation images (eval transforms: deterministic) find the feature channel counts
    probe = torch.stack([data.valid[(i, 0)][0] for i in range(min(2, len(data.valid)))])
    probe = probe.to(device, memory_format=memory_format)
    distiller = Distiller(student, teacher.model, dist, task, probe=probe, ignore_index=loaded.run.data.ignore_index,
                          refuse=refuse)
    distiller.to(device, memory_format)
    log(f"distillation: teacher {describe(teacher)}; {distiller.header()}; "
        "img/s below includes the teacher's forward")
    return distiller
