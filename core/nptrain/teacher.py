"""The teacher of ``training.distillation``: built from its config and safetensors weights, frozen.

A teacher run directory may come from someone else, so it is rebuilt exactly as ``nptrain evaluate``
rebuilds a run (:mod:`nptrain.training.run_model`): its ``config.yaml`` and ``weights/best.safetensors``
(else ``last``), nothing unpickled. ``{config, checkpoint}`` builds the config's architecture and
loads the ``.safetensors`` checkpoint (shrunk to its shapes when pruned); a torch.fx ``.pt`` checkpoint
is unpickled only under ``--trust-pickle``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import attrs
import torch
from torch import nn

from nptrain.config.distillation_section import DistillationConfig
from nptrain.errors import UserError
from nptrain.run_files import read_classes
from nptrain.pickles import load_graph_module

# where a teacher problem is reported: (path below training.distillation, message) -> exception
Refuse = Callable[[tuple, str], Exception]


@attrs.define
class Teacher:
    model: nn.Module
    task: str
    classes: Optional[list[str]]  # None: not recorded (a {config, checkpoint} teacher)
    source: str  # what the run header names


def load_teacher(dist: DistillationConfig, task: str, num_classes: int, *, refuse: Refuse,
                 log: Callable[[str], None] = print) -> Teacher:
    """The teacher ``dist`` names, on the CPU, frozen and in eval mode."""
    if isinstance(dist.teacher, str):
        teacher = _from_run_dir(Path(dist.teacher).expanduser(), task, refuse, log)
    else:
        teacher = _from_files(dist.teacher, task, num_classes, refuse, log)
    return attrs.evolve(teacher, model=freeze(teacher.model))


def _same_task(loaded, task: str, refuse: Refuse, where: tuple) -> None:
    if loaded.model.task != task:
        raise refuse(where, f"the teacher is a {loaded.model.task} model; this run trains {task}")


def freeze(model: nn.Module) -> nn.Module:
    """No gradients, eval mode for good: ``train()`` on it is a no-op, so nothing flips it back."""
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    model.train = lambda mode=True: model  # type: ignore[method-assign]  # BatchNorm/dropout stay in eval
    return model


def _from_run_dir(run_dir: Path, task: str, refuse: Refuse, log: Callable[[str], None]) -> Teacher:
    # lazy: ruamel
    from nptrain.config.loader import load_config
    from nptrain.training.run_model import load_run_model

    if not (run_dir / "config.yaml").is_file():
        raise refuse(("teacher",), f"{run_dir} is not a run directory (no config.yaml)")
    weights = next((run_dir / "weights" / f for f in ("best.safetensors", "last.safetensors")
                    if (run_dir / "weights" / f).is_file()), None)
    if weights is None:
        raise refuse(("teacher",), f"{run_dir} has no weights/best.safetensors or weights/last.safetensors")
    loaded = load_config([run_dir / "config.yaml"], ["model.checkpoint=null", "training.distillation=null"],
                         check_files=False)
    _same_task(loaded, task, refuse, ("teacher",))
    classes = read_classes(run_dir)
    model = load_run_model(run_dir, loaded, len(classes), weights, log=log)
    return Teacher(model, loaded.model.task, classes, f"{run_dir} ({weights.name})")


def _from_files(files: Any, task: str, num_classes: int, refuse: Refuse,  # files: a TeacherFiles record
                log: Callable[[str], None]) -> Teacher:
    # lazy: ruamel
    from nptrain.config.loader import load_config
    from nptrain.training.run_model import has_architecture, rebuild_with_weights

    loaded = load_config([files.config], ["training.distillation=null"], check_files=False)
    _same_task(loaded, task, refuse, ("teacher", "config"))
    checkpoint = Path(files.checkpoint).expanduser()
    if checkpoint.suffix == ".safetensors":
        if not has_architecture(loaded):
            raise refuse(("teacher", "config"), f"{files.config} describes no model.architecture to load "
                         f"{checkpoint.name} into")
        try:
            model = rebuild_with_weights(loaded, num_classes, checkpoint)
        except UserError as exc:  # named at the field that chose this file
            raise refuse(("teacher", "checkpoint"), f"{exc} (the teacher's config is {files.config})") from None
    elif checkpoint.suffix == ".pt":  # a torch.fx GraphModule (nptrain compress's model_fx.pt)
        model = load_graph_module(checkpoint, refuse=lambda msg: refuse(("teacher", "checkpoint"), msg), log=log)
    else:
        raise refuse(("teacher", "checkpoint"), f"expected a .safetensors file (or a torch.fx .pt with "
                     f"--trust-pickle); got {checkpoint.name}")
    return Teacher(model, loaded.model.task, None, f"{files.config} + {files.checkpoint}")


def teacher_outputs_check(teacher: Teacher, classes: list[str], kind: str, refuse: Refuse) -> None:
    """Logit distillation compares class by class: the teacher must know the same classes, in order."""
    if kind in ("logits", "both") and teacher.classes is not None and teacher.classes != classes:
        raise refuse(("teacher",), f"the teacher was trained on classes {teacher.classes[:8]}, this run's data has "
                     f"{classes[:8]}; logit distillation needs the same classes in the same order "
                     "(or use kind: features)")


def place(model: nn.Module, device: torch.device, memory_format: torch.memory_format) -> nn.Module:
    """The teacher on the student's device and memory format."""
    return model.to(device, memory_format=memory_format)


def describe(teacher: Teacher) -> str:
    n = sum(p.numel() for p in teacher.model.parameters())
    return f"{teacher.source}, {n:,} parameters, frozen"


def check_logit_shape(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.shape[1] != teacher.shape[1]:
        raise UserError(f"training.distillation: the teacher predicts {teacher.shape[1]} classes, the student "
                        f"{student.shape[1]}; logit distillation needs the same classes (or use kind: features)")
