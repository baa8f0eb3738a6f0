"""``logging.mlflow``: ``true``/``false`` as NetsPresso Trainer writes it, or a mapping for more
(nptrain.training.tracking does the tracking)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import attrs

from nptrain.config.hook_kit import ScalarError, describe_value


@attrs.define(kw_only=True)
class MlflowConfig:
    """``logging.mlflow`` as a mapping (``true`` is all defaults): where and how a run is tracked in MLflow."""

    # None: $MLFLOW_TRACKING_URI, else a local store in logging.output_dir (mlflow.db + mlartifacts/)
    tracking_uri: Optional[str] = None
    experiment: Optional[str] = None  # None: "nptrain-<task>"
    run_name: Optional[str] = None  # None: the run directory's name
    log_models: bool = True  # weights/best.safetensors and weights/model.onnx as artifacts


def register_mlflow_hooks(conv: Any) -> None:
    """Teach ``conv`` the ``Optional[MlflowConfig]`` field: ``true`` is every default, ``false`` (or null) off,
    a mapping takes the class's fields."""
    field = Optional[MlflowConfig]

    def hook(value: Any, _: Any) -> Any:
        if value is None or value is False:
            return None
        if value is True:
            return MlflowConfig()
        if isinstance(value, Mapping):
            return conv.structure(value, MlflowConfig)
        raise ScalarError(f"expected true, false or a mapping with fields "
                          f"{', '.join(f.name for f in attrs.fields(MlflowConfig))}; got {describe_value(value)}")

    conv.register_structure_hook_func(lambda tp: tp == field, hook)
