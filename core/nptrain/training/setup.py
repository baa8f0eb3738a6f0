"""Everything a run needs before the first step: process group, seeds, data, model, loss.

Shared by ``nptrain run``, ``nptrain evaluate`` and ``nptrain predict``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Optional

import attrs
import numpy as np
import torch
from torch import nn

from nptrain.checkpoints import load_weights
from nptrain.config.loader import LoadedConfig
from nptrain.data.transforms import Compose, Mixing, build_transforms
from nptrain.errors import DataFieldError, UserError
from nptrain.metric_base import Metric
from nptrain.modeling.builder import build_model
from nptrain.pickles import load_graph_module
from nptrain.plugin_manager import active_plugins


@attrs.define
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)


def pick_device(gpus: Optional[str], dist: Dist) -> torch.device:
    if torch.cuda.is_available() and gpus != "cpu":
        return torch.device("cuda", dist.local_rank)
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # warn_only: a few CUDA kernels have no deterministic version; they are reported, not fatal
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


# a task's dataset (``TaskRecord.dataset`` builds it): items ``(image, target dict)``, ``classes``,
# ``check_files()``, ``cache_images()``
TaskDataset = Any


@attrs.define
class Data:
    train: Optional[TaskDataset]
    valid: TaskDataset
    classes: list[str]
    mixing: Optional[Mixing]


def build_data(loaded: LoadedConfig, *, need_train: bool = True, classes: Optional[list[str]] = None,
               decode: bool = True) -> Data:
    """Train and valid datasets with every file checked. ``decode=False`` only opens headers even with
    ``cache_data`` (what ``config check`` needs: the same refusals as ``run``, no pixels decoded)."""
    try:
        return _build_data(loaded, need_train=need_train, classes=classes, decode=decode)
    except DataFieldError as exc:  # e.g. a Hugging Face feature the dataset lacks: at the config's line
        raise loaded.located.error(("data",) + exc.path, exc.message) from None


def _build_data(loaded: LoadedConfig, *, need_train: bool, classes: Optional[list[str]], decode: bool) -> Data:
    run = loaded.run
    if run.data.format == "huggingface" and loaded.model.task not in ("classification", "segmentation"):
        raise loaded.located.error(("data", "format"), f"huggingface data is read for classification and "
                                   f"segmentation; {loaded.model.task} reads local folders (data.format: local)")
    builder = loaded.task_spec.part("dataset")
    ignore = run.data.ignore_index
    train_tf, mixing = build_transforms(run.augmentation.train, ignore)
    eval_tf, _ = build_transforms(run.augmentation.inference, ignore)
    train = None
    if need_train:
        train = builder(run.data, "train", train_tf, classes)
        train.on_bad_file = run.data.on_bad_file  # validation always stops: its metrics must cover the split
        classes = train.classes
    if run.data.path.valid is None:
        raise UserError("data.path.valid is not set: training and evaluation need a validation split")
    valid = builder(run.data, "valid", eval_tf, classes)
    if train is not None and valid.classes != train.classes:
        raise UserError(f"data.path.valid has classes {valid.classes}, train has {train.classes}; "
                        "set data.id_mapping so both use the same mapping")
    for ds in (train, valid):
        if ds is not None:
            # decode everything now, or at least open every header: a bad file stops the run here,
            # before its run directory exists, not in the middle of an epoch
            if run.environment.cache_data and decode:
                ds.cache_images()
            else:
                ds.check_files()
    return Data(train=train, valid=valid, classes=valid.classes, mixing=mixing)


def inference_transform(loaded: LoadedConfig) -> Compose:
    return build_transforms(loaded.run.augmentation.inference, loaded.run.data.ignore_index)[0]


def build_task_model(loaded: LoadedConfig, num_classes: int, *, load_checkpoint: bool = True,
                     log=print) -> nn.Module:
    """The model a config describes, with ``model.checkpoint`` or ``model.fx_model_checkpoint`` loaded."""
    m = loaded.model
    if m.fx_model_checkpoint and m.fx_model_checkpoint.endswith(".safetensors"):
        return load_pruned_weights(loaded, num_classes, log=log)
    if m.fx_model_checkpoint:  # a .pt only a config names is refused unless pickles are trusted
        field = ("model", "fx_model_checkpoint")
        model = load_fx_model(m.fx_model_checkpoint, log=log,
                              refuse=lambda message: loaded.located.error(field, message))
        setattr(model, "task", m.task)
        return model
    model = build_model(loaded.resolved, num_classes, name=m.name or "")
    if m.checkpoint and load_checkpoint:
        lines = load_weights(model, m.checkpoint, preset=m.name, plugins=loaded.plugins).lines()
        log(f"checkpoint: loaded {m.checkpoint}" + ("" if lines else " (all keys matched)"))
        for line in lines:
            log(f"checkpoint: {line}")
    return model


def load_pruned_weights(loaded: LoadedConfig, num_classes: int, log=print) -> nn.Module:
    """Weights-only pruned model (``nptrain compress``'s ``model.safetensors``): the configured
    architecture is built, shrunk to the file's shapes and loaded strictly; nothing is unpickled."""
    # lazy: safetensors; layer (README map: training/ may not import compression)
    from safetensors.torch import load_file

    # inside: compression.source (nptrain compress) builds on training, so training -> compression stays off module level
    from nptrain.compression.reshape import load_pruned

    m = loaded.model
    if loaded.resolved.backbone is None and loaded.resolved.full is None:
        raise UserError("model.fx_model_checkpoint: a .safetensors pruned model needs model.architecture "
                        "(use the retrain.yaml that nptrain compress wrote)")
    model = build_model(loaded.resolved, num_classes, name=m.name or "")
    load_pruned(model, load_file(str(Path(m.fx_model_checkpoint).expanduser())), m.fx_model_checkpoint)
    log(f"pruned weights: {m.fx_model_checkpoint} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    return model


def load_fx_model(path: str, log=print, *, refuse=UserError) -> nn.Module:
    """Unpickle a torch.fx GraphModule, only when this command line named ``path`` or passed
    ``--trust-pickle`` (see :mod:`nptrain.pickles`); otherwise ``refuse(message)`` is raised."""
    return load_graph_module(path, refuse=refuse, log=log)


def freeze_backbone(model: nn.Module) -> int:
    """Stop gradients into ``backbone.*``; returns the number of frozen tensors."""
    n = 0
    for name, p in model.named_parameters():
        if name.startswith("backbone."):
            p.requires_grad_(False)
            n += 1
    if n == 0:
        raise UserError("model.freeze_backbone: the model has no backbone.* parameters (full model?)")
    return n


def backbone_eval(model: nn.Module) -> None:
    """Keep the frozen backbone in eval mode so its BatchNorm running statistics stay fixed."""
    part = getattr(model, "backbone", None)
    if isinstance(part, nn.Module):
        part.eval()


def loss_targets(task: Any, target: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Dataset targets → loss targets through the target adapter of ``task`` (its TaskRecord, or a task
    name looked up among the installed plugins); see :mod:`nptrain.training.targets` for the built-in ones."""
    if isinstance(task, str):
        task = active_plugins().registry.task(task)
    return task.part("targets")(target, device)


def to_cpu(value: Any) -> Any:
    """Tensors, and lists/tuples of them (detection targets), moved to the CPU; anything else as is."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, list):
        return [to_cpu(v) for v in value]
    return value


def make_task_metric(loaded: LoadedConfig, num_classes: int) -> Metric:
    """The validation metric of ``loaded``'s task (its TaskRecord's metric factory)."""
    return loaded.task_spec.part("metric")(loaded, num_classes)


def main_output(out: Any) -> torch.Tensor:
    return out["pred"] if isinstance(out, dict) else out
