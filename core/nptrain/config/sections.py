"""The ``data``, ``augmentation``, ``training``, ``logging`` and ``environment`` sections.

Field names follow NetsPresso Trainer where it has one. Every section is typed, ranges included
(:mod:`nptrain.config.ranges`): ``training`` lives in :mod:`nptrain.config.training_section`,
``augmentation`` in :mod:`nptrain.config.augmentation` (its entries are validated against the
installed transforms' params classes).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

import attrs

from nptrain.config.augmentation import AugmentationConfig
from nptrain.config.ranges import NonNegativeInt, PositiveInt, Range, Seed
from nptrain.config.mlflow_section import MlflowConfig
from nptrain.config.training_section import TrainingConfig


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
class HFFeatures:
    """Which columns of a Hugging Face dataset hold the image and the label (class or mask)."""

    image: str = "image"
    label: str = "label"


@attrs.define(kw_only=True)
class HFMetadata:
    """``data.metadata`` for ``format: huggingface`` (NetsPresso Trainer's fields, plus the split names)."""

    repo: str  # a Hub id ("beans", "segments/sidewalk-semantic") or a local folder (save_to_disk, parquet repo)
    subset: Optional[str] = None
    custom_cache_dir: Optional[str] = None  # None: the datasets library's default cache
    features: HFFeatures = attrs.Factory(HFFeatures)
    train_split: str = "train"
    # None: "validation" when the dataset has it, else a fixed 10% of the train split (seed 0)
    valid_split: Optional[str] = None


@attrs.define(kw_only=True)
class DataConfig:
    name: Optional[str] = None
    format: Literal["local", "huggingface"] = "local"
    path: DataPath = attrs.Factory(DataPath)
    # format: huggingface (needs pip install 'nptrain[hf]'); docs/training.md#hugging-face-datasets
    metadata: Optional[HFMetadata] = None
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
    # a training image that cannot be read (truncated, corrupt, gone): stop the run (its state saved, so fixing
    # the file and --resume loses nothing) or skip it, each time, counted in summary.json; validation always stops
    on_bad_file: Literal["stop", "skip"] = "stop"


@attrs.define(kw_only=True)
class ModelSaveOptions:
    # which validation result picks weights/best.*: the primary metric (first of metric_names) or the loss
    best_model_criterion: Literal["loss", "metric"] = "metric"
    save_optimizer_state: bool = True
    validation_epoch: PositiveInt = 1  # validate every this many epochs (and after the last)
    # also keep weights/epoch_NNNN.safetensors every this many epochs (and at the last); None: only best/last
    save_checkpoint_epoch: Optional[PositiveInt] = None
    # count validation_epoch and save_checkpoint_epoch from epoch 1 (epochs 1, 1+N, 1+2N, ... and the last,
    # as NetsPresso Trainer does) instead of N, 2N, ...
    count_from_first_epoch: bool = False
    # [height, width] of the input for the FLOPs count and the exports; None: the validation images' size
    sample_input_size: Optional[Annotated[list[PositiveInt], Range(length=2)]] = None


@attrs.define(kw_only=True)
class MetricsConfig:
    """``logging.metrics``: the names are checked against the task's ``TaskRecord.metric_names`` at load."""

    # None: the task's defaults (classification: top1_accuracy, top5_accuracy; segmentation: miou, pixel_accuracy;
    # detection: map50_95, map50, map75, precision50, recall50); the first one picks weights/best
    metric_names: Optional[list[str]] = None


@attrs.define(kw_only=True)
class LoggingConfig:
    output_dir: str = "runs"
    # the run directory's name, output_dir/<task>/<run_name> (nptrain run --name wins); None: model.name
    run_name: Optional[str] = None
    tensorboard: bool = True
    # MLflow tracking (needs `pip install 'nptrain[mlflow]'`): true (every default), or a mapping of MlflowConfig's
    # fields; false or null: off
    mlflow: Optional[MlflowConfig] = None
    csv: bool = True
    plot: bool = True
    fx_export: bool = True
    onnx_export: bool = True
    onnx_opset: PositiveInt = 18  # 18+: the dynamo exporter; below: the TorchScript one (nptrain.export_tools)
    # at each validation, write the first N validation images with their predictions to samples/
    num_save_samples: Annotated[int, Range(ge=0, le=256)] = 0
    model_save_options: ModelSaveOptions = attrs.Factory(ModelSaveOptions)
    metrics: MetricsConfig = attrs.Factory(MetricsConfig)


@attrs.define(kw_only=True)
class EnvironmentConfig:
    seed: Seed = 1
    num_workers: NonNegativeInt = 0
    gpus: Optional[str] = None
    batch_size: PositiveInt = 32
    deterministic: bool = False
    # keep decoded images in memory (small datasets): each image file is read once
    cache_data: bool = False
    # NHWC memory format for the model and its input batches; None: the preset's own choice (its
    # record's memory_format, measured per family in docs/benchmarks.md), contiguous for other models.
    # Saved weights and exports are the usual layout either way.
    channels_last: Optional[bool] = None
    # compute threads of each training process; "auto": the physical cores this process may use, less
    # those other processes keep busy at start-up (nptrain.training.threads, docs/training.md#speed)
    threads: Union[PositiveInt, Literal["auto"]] = "auto"
    # torch.compile the model for the training steps (needs a C++ compiler on CPU; the first steps
    # pay the compile); evaluation and exports use the plain model
    compile: bool = False


@attrs.define(kw_only=True)
class RunConfig:
    data: DataConfig = attrs.Factory(DataConfig)
    augmentation: AugmentationConfig = attrs.Factory(AugmentationConfig)
    model: Any = None  # ModelConfig; structured separately (its losses need flattening first)
    training: TrainingConfig = attrs.Factory(TrainingConfig)
    logging: LoggingConfig = attrs.Factory(LoggingConfig)
    environment: EnvironmentConfig = attrs.Factory(EnvironmentConfig)
