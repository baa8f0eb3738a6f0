"""A ``training.optimizer`` or ``training.scheduler`` mapping from a test or script, as its typed
record, checked as ``load_config`` checks it (configs themselves go through ``load_config``).

Kept apart from :mod:`nptrain.config.training_section`, which defines the records, because it needs
:mod:`nptrain.config.structure`, which imports that module to build its converter."""
from __future__ import annotations

from typing import Any

from nptrain.config.structure import structure
from nptrain.config.training_section import OptimizerConfig, SchedulerConfig, TrainingConfig
from nptrain.config.yaml_io import LocatedConfig


def parse_optimizer(raw: dict) -> OptimizerConfig:
    """A raw ``training.optimizer`` mapping as its record. Errors are unlocated
    :class:`~nptrain.errors.ConfigError` (the file is ``<dict>``)."""
    return _parse(raw, "optimizer")


def parse_scheduler(raw: dict) -> SchedulerConfig:
    """A raw ``training.scheduler`` mapping as its record, errors as :func:`parse_optimizer`'s."""
    return _parse(raw, "scheduler")


def _parse(raw: dict, section: str) -> Any:
    where = LocatedConfig(data={"training": {section: raw}}, files=["<dict>"])
    return getattr(structure({section: raw}, TrainingConfig, cfg=where, base=("training",)), section)
