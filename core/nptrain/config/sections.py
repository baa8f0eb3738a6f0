"""The ``data``, ``augmentation``, ``training``, ``logging`` and ``environment`` sections."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

import attrs


@attrs.define(kw_only=True)
class SplitPath:
    """One split: ``image`` folder (class-per-folder or flat) and, for the CSV form, the ``label`` file."""

    image: Optional[str] = None
    label: Optional[str] = None


@attrs.define(kw_only=True)
class DataPath:
    root: Optional[str] = None
    train: Optional[SplitPath] = None
    valid: Optional[SplitPath] = None
    test: Optional[SplitPath] = None


@attrs.define(kw_only=True)
class DataConfig:
    name: Optional[str] = None
    format: Literal["local"] = "local"
    path: DataPath = attrs.Factory(DataPath)
    id_mapping: Union[list[str], dict[str, Any], str, None] = None
    ignore_index: int = 255


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


@attrs.define(kw_only=True)
class LoggingConfig:
    output_dir: str = "runs"
    tensorboard: bool = True
    csv: bool = True
    plot: bool = True
    onnx_export: bool = True
    onnx_opset: int = 17


@attrs.define(kw_only=True)
class EnvironmentConfig:
    seed: int = 1
    num_workers: int = 0
    gpus: Optional[str] = None
    batch_size: int = 32
    deterministic: bool = False


@attrs.define(kw_only=True)
class RunConfig:
    data: DataConfig = attrs.Factory(DataConfig)
    augmentation: AugmentationConfig = attrs.Factory(AugmentationConfig)
    model: Any = None  # ModelConfig; structured separately (its losses need flattening first)
    training: TrainingConfig = attrs.Factory(TrainingConfig)
    logging: LoggingConfig = attrs.Factory(LoggingConfig)
    environment: EnvironmentConfig = attrs.Factory(EnvironmentConfig)
