"""The ``data``, ``augmentation``, ``training``, ``logging`` and ``environment`` sections.

Field names follow NetsPresso Trainer where it has one. Free-form mappings (``optimizer``,
``scheduler``, ``ema``, transform entries) are validated later by the training/data code against
their own attrs classes, so their errors are located at the user's line as well.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

import attrs


@attrs.define(kw_only=True)
class SplitPath:
    """One split: ``image`` folder (class-per-folder, or flat with a CSV ``label`` file ``image_id,class``;
    segmentation: ``label`` is the folder of masks, matched to images by file stem; detection: ``label`` is
    a folder of YOLO ``.txt`` files (one per image stem) or a COCO ``.json`` file)."""

    image: Optional[str] = None
    label: Optional[str] = None


@attrs.define(kw_only=True)
class PathPattern:
    """Segmentation: regular expressions that file names must match; the first group (else the stem)
    is the key pairing an image with its mask, e.g. ``label: '(.*)_mask\\.png'``."""

    image: Optional[str] = None
    label: Optional[str] = None


@attrs.define(kw_only=True)
class DataPath:
    """Relative paths resolve against ``root`` if set, else against the current directory."""

    root: Optional[str] = None
    train: Optional[SplitPath] = None
    valid: Optional[SplitPath] = None
    test: Optional[SplitPath] = None
    pattern: Optional[PathPattern] = None


@attrs.define(kw_only=True)
class DataConfig:
    name: Optional[str] = None
    format: Literal["local"] = "local"
    path: DataPath = attrs.Factory(DataPath)
    # list of class names, {index: name} mapping, or a .json file holding either (required for YOLO
    # detection labels, which hold class ids only; COCO json brings its own categories);
    # segmentation also takes {colour: name}, e.g. {'(0, 0, 0)': background, '(128, 0, 0)': cat}
    id_mapping: Union[list[str], dict[str, Any], str, None] = None
    ignore_index: int = 255
    # segmentation masks: L/P hold class ids, RGB holds colours (needs pallete or a colour id_mapping);
    # None: decided per file from its PIL mode
    label_image_mode: Optional[Literal["L", "P", "RGB"]] = None
    # segmentation: RGB colour of each class id, [[r, g, b], ...] (the reference's spelling)
    pallete: Optional[list[list[int]]] = None


@attrs.define(kw_only=True)
class AugmentationConfig:
    """Ordered transform lists; each entry is ``{name: ..., <transform params>}``."""

    train: list[dict[str, Any]] = attrs.Factory(list)
    inference: list[dict[str, Any]] = attrs.Factory(list)


@attrs.define(kw_only=True)
class TrainingConfig:
    epochs: int = 10
    optimizer: dict[str, Any] = attrs.Factory(lambda: {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05})
    scheduler: dict[str, Any] = attrs.Factory(lambda: {"name": "cosine_no_sgdr", "warmup_epochs": 0})
    max_norm: Optional[float] = None
    ema: Optional[dict[str, Any]] = None
    mixed_precision: bool = False


def _input_size(_instance: Any, _attribute: Any, value: Optional[list[int]]) -> None:
    if value is not None and (len(value) != 2 or min(value) < 1):
        raise ValueError(f"'sample_input_size' must be [height, width] with sides >= 1: {value}")


@attrs.define(kw_only=True)
class ModelSaveOptions:
    # which validation result picks weights/best.*: the primary metric (first of metric_names) or the loss
    best_model_criterion: Literal["loss", "metric"] = "metric"
    save_optimizer_state: bool = True
    validation_epoch: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    # also keep weights/epoch_NNNN.safetensors every this many epochs (and at the last); None: only best/last
    save_checkpoint_epoch: Optional[int] = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.ge(1)))
    # count validation_epoch and save_checkpoint_epoch from epoch 1 (epochs 1, 1+N, 1+2N, ... and the last,
    # as NetsPresso Trainer does) instead of N, 2N, ...
    count_from_first_epoch: bool = False
    # [height, width] of the input for the FLOPs count and the exports; None: the validation images' size
    sample_input_size: Optional[list[int]] = attrs.field(default=None, validator=_input_size)


@attrs.define(kw_only=True)
class MetricsConfig:
    # None: the task's defaults (classification: top1_accuracy, top5_accuracy; segmentation: miou, pixel_accuracy;
    # detection: map50_95, map50, map75, precision50, recall50); the first one picks weights/best
    metric_names: Optional[list[str]] = None


@attrs.define(kw_only=True)
class LoggingConfig:
    output_dir: str = "runs"
    # the run directory's name, output_dir/<task>/<run_name> (nptrain run --name wins); None: model.name
    run_name: Optional[str] = None
    tensorboard: bool = True
    csv: bool = True
    plot: bool = True
    fx_export: bool = True
    onnx_export: bool = True
    onnx_opset: int = 18  # the lowest the torch 2.13 (dynamo) exporter writes
    # at each validation, write the first N validation images with their predictions to samples/
    num_save_samples: int = attrs.field(default=0, validator=[attrs.validators.ge(0), attrs.validators.le(256)])
    model_save_options: ModelSaveOptions = attrs.Factory(ModelSaveOptions)
    metrics: MetricsConfig = attrs.Factory(MetricsConfig)


@attrs.define(kw_only=True)
class EnvironmentConfig:
    seed: int = 1
    num_workers: int = 0
    gpus: Optional[str] = None
    batch_size: int = 32
    deterministic: bool = False
    # keep decoded images in memory (small datasets): each image file is read once
    cache_data: bool = False
    # NHWC memory format for the model and its input batches: 1.1-1.3x faster training steps for
    # convolutional presets on CPU (resnet, mobilevit, efficientformer), slower for some (pidnet); the
    # figures per preset are in docs/benchmarks.md. Saved weights and exports are the usual layout.
    channels_last: bool = False


@attrs.define(kw_only=True)
class RunConfig:
    data: DataConfig = attrs.Factory(DataConfig)
    augmentation: AugmentationConfig = attrs.Factory(AugmentationConfig)
    model: Any = None  # ModelConfig; structured separately (its losses need flattening first)
    training: TrainingConfig = attrs.Factory(TrainingConfig)
    logging: LoggingConfig = attrs.Factory(LoggingConfig)
    environment: EnvironmentConfig = attrs.Factory(EnvironmentConfig)
