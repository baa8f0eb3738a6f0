"""Checks across sections and against the filesystem, run by ``load_config`` after structuring.

Each returns a list of located errors instead of raising, so one ``config check`` lists every
problem it can see. Filesystem checks are the cheap ones (a path exists, is a folder or a file, a
folder is writable): nothing is opened or scanned, so ``config check`` stays instant on big datasets.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from nptrain.checkpoint_spec import CheckpointSpec
from nptrain.config.model_section import ModelConfig
from nptrain.config.sections import RunConfig
from nptrain.hints import did_you_mean, suggest
from nptrain.config.yaml_io import LocatedConfig
from nptrain.errors import ConfigError

RELATIVE_HINT = " (relative paths are resolved against the current directory, or data.path.root)"


def check_model_files(model: ModelConfig, cfg: LocatedConfig, registry: Any) -> list[ConfigError]:
    errors = []
    if model.checkpoint and model.fx_model_checkpoint:
        errors.append(cfg.error(("model", "fx_model_checkpoint"),
                                "only one of checkpoint and fx_model_checkpoint may be set (got both)"))
    sources = {p.record.name for p in registry.all("converter")}
    for field in ("checkpoint", "fx_model_checkpoint", "resume_optimizer_checkpoint"):
        value = getattr(model, field)
        if not value:
            continue
        spec = CheckpointSpec.parse(value)
        if spec.remote:  # fetched when the run starts
            continue
        if spec.kind == "source" and field == "checkpoint" and spec.source not in sources:
            errors.append(cfg.error(("model", field), f"unknown checkpoint source {spec.source!r}"
                                    + did_you_mean(spec.source, sorted(sources))
                                    + f"; installed converter sources: {', '.join(sorted(sources)) or 'none'}"))
            continue
        path = spec.path
        p = Path(path).expanduser()
        if not p.exists():
            errors.append(cfg.error(("model", field), f"file not found: {path}"))
        elif not p.is_file():
            errors.append(cfg.error(("model", field), f"{path} is a folder, not a file"))
    return errors


def _resolve(path: str, root: Optional[str]) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or root is None else Path(root).expanduser() / p


def check_data_paths(run: RunConfig, task: Any, cfg: LocatedConfig) -> list[ConfigError]:
    """The splits training needs are set, and every data path that is set exists and has the right kind
    (``task``: the TaskRecord, whose ``label`` and ``label_hint`` say what a label is; None when unknown)."""
    need = task.label_hint if task is not None else ""
    label_kind = task.label if task is not None else "either"
    data = run.data
    if data.format == "huggingface":  # no paths: the data set is read (and checked) by nptrain.data.huggingface
        if data.metadata is None:
            return [cfg.error(("data", "format"), "huggingface needs data.metadata: {repo, subset, custom_cache_dir, "
                              "features: {image, label}}")]
        return []
    root = data.path.root
    errors = []
    if root is not None and not Path(root).expanduser().is_dir():
        errors.append(cfg.error(("data", "path", "root"), f"folder not found: {root}"))
        return errors  # every relative path below would repeat it
    for split in ("train", "valid", "test"):
        sp = getattr(data.path, split)
        base = ("data", "path", split)
        if sp is None or sp.image is None or (sp.label is None and need):
            if split != "test":
                what = need or ("a folder with one subfolder per class, or images plus "
                                                          f"data.path.{split}.label CSV")
                where = base if sp is None else base + ("image" if sp.image is None else "label",)
                errors.append(cfg.error(where, f"is not set: training and evaluation need it ({what})", value=False))
            if sp is None:
                continue
        if sp.image is not None:
            folder = _resolve(sp.image, root)
            if not folder.is_dir():
                what = "is a file, not a folder" if folder.exists() else "folder not found"
                errors.append(cfg.error(base + ("image",), f"{what}: {folder}" + ("" if folder.exists() else RELATIVE_HINT)))
        if sp.label is not None:
            errors += _check_label(_resolve(sp.label, root), label_kind, cfg, base + ("label",))
    if isinstance(data.id_mapping, str):
        path = _resolve(data.id_mapping, root)
        if not path.is_file():
            errors.append(cfg.error(("data", "id_mapping"), f"file not found: {path}"))
    return errors


def _check_label(path: Path, kind: str, cfg: LocatedConfig, where: tuple) -> list[ConfigError]:
    if not path.exists():
        return [cfg.error(where, f"not found: {path}{RELATIVE_HINT}")]
    if kind == "file" and not path.is_file():
        return [cfg.error(where, f"{path} is a folder; classification labels are a CSV file image_id,class")]
    if kind == "folder" and not path.is_dir():
        return [cfg.error(where, f"{path} is a file; segmentation labels are a folder of masks")]
    if kind == "either" and path.is_file() and path.suffix.lower() != ".json":
        return [cfg.error(where, f"{path} is a file but not .json; detection labels are a folder of YOLO .txt "
                          "files or a COCO .json file")]
    return []


def check_output_dir(run: RunConfig, cfg: LocatedConfig) -> list[ConfigError]:
    """``logging.output_dir`` is a folder we may write in, or can be created under one."""
    path = Path(run.logging.output_dir).expanduser().absolute()
    where = ("logging", "output_dir")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return [cfg.error(where, f"{probe} is a file, so {path} cannot be a folder")]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [cfg.error(where, f"{probe} is not writable" + ("" if probe == path else f" (needed to create {path})"))]
    return []


def check_full_model_options(run: RunConfig, model: ModelConfig, resolved: Any, cfg: LocatedConfig) -> list[ConfigError]:
    """Options that need a backbone/neck/head model, set for an ``architecture.full`` one."""
    if resolved is None or resolved.full is None:
        return []
    errors = []
    if run.training.optimizer.overwrite:
        errors.append(cfg.error(("training", "optimizer", "overwrite"), "needs a backbone/neck/head model; "
                                f"model.architecture.full ({resolved.full.record.name}) has no parts to overwrite"))
    if model.freeze_backbone:
        errors.append(cfg.error(("model", "freeze_backbone"), f"needs a backbone; model.architecture.full "
                                f"({resolved.full.record.name}) has none"))
    return errors


def check_metrics(run: RunConfig, task: Any, cfg: LocatedConfig) -> list[ConfigError]:
    """``logging.metrics.metric_names`` are metrics of ``task`` (its TaskRecord)."""
    names = run.logging.metrics.metric_names
    available, task = tuple(task.metric_names), task.name
    errors = []
    for i, name in enumerate(names or []):
        if name not in available:
            near = suggest(name, available)
            errors.append(cfg.error(("logging", "metrics", "metric_names", i),
                                    f"{name!r} is not a {task} metric" + (f" (did you mean {near!r}?)" if near else "")
                                    + f"; {task} metrics: {', '.join(available)}"))
    return errors
