"""Hook specifications of the ``nptrain`` plugin system.

A plugin is a module listed in the setuptools entry-point group ``nptrain`` that implements some
of these hooks with ``@nptrain.hookimpl``. Every hook here *collects*: pluggy calls every
implementation and nptrain gathers the records they return. Keep the entry module light: records
name their factory as a ``"module:attribute"`` string, so model code is imported only when a
model is built. The reference in ``docs/plugins.md`` is generated from these docstrings.
"""
from __future__ import annotations

from typing import Iterable

import pluggy

from nptrain.records import (
    BackboneRecord,
    ConverterRecord,
    FullModelRecord,
    HeadRecord,
    LossRecord,
    NeckRecord,
    PresetRecord,
    TaskRecord,
    TransformRecord,
)

hookspec = pluggy.HookspecMarker("nptrain")


@hookspec
def nptrain_backbones() -> Iterable[BackboneRecord]:
    """Return the backbones this plugin provides.

    Collecting hook: every implementation is called and all records are gathered; two records
    with the same name are an error naming both distributions.

    No arguments.

    Example::

        @hookimpl
        def nptrain_backbones():
            return [BackboneRecord(name="tinynet", factory="np_plugin_tiny.model:build",
                                   params=TinyParams, stage_params=TinyStage,
                                   tasks=("classification",), description="A tiny CNN.")]
    """


@hookspec
def nptrain_necks() -> Iterable[NeckRecord]:
    """Return the necks this plugin provides.

    Collecting hook: every implementation is called and all records are gathered.

    No arguments.

    Example::

        @hookimpl
        def nptrain_necks():
            return [NeckRecord(name="fpn", factory="nptrain.components.fpn:build",
                               params=FPNParams, description="Feature pyramid network.")]
    """


@hookspec
def nptrain_heads() -> Iterable[HeadRecord]:
    """Return the heads this plugin provides, each declaring the tasks it serves.

    Collecting hook: every implementation is called and all records are gathered; a head name is
    unique across tasks.

    No arguments.

    Example::

        @hookimpl
        def nptrain_heads():
            return [HeadRecord(name="fc", factory="nptrain.components.fc_head:build",
                               params=FCParams, tasks=("classification",))]
    """


@hookspec
def nptrain_full_models() -> Iterable[FullModelRecord]:
    """Return models that are not split into backbone, neck and head (``architecture.full``).

    Collecting hook: every implementation is called and all records are gathered.

    No arguments.

    Example::

        @hookimpl
        def nptrain_full_models():
            return [FullModelRecord(name="pidnet", factory="np_plugin_pidnet.model:build",
                                    params=PIDNetParams, tasks=("segmentation",))]
    """


@hookspec
def nptrain_losses() -> Iterable[LossRecord]:
    """Return the loss criteria this plugin provides (``model.losses[].criterion``).

    Collecting hook: every implementation is called and all records are gathered.

    No arguments.

    Example::

        @hookimpl
        def nptrain_losses():
            return [LossRecord(name="cross_entropy", factory="nptrain.components.losses:CrossEntropy",
                               params=CrossEntropyParams, tasks=("classification",))]
    """


@hookspec
def nptrain_converters() -> Iterable[ConverterRecord]:
    """Return weight converters from original checkpoint layouts to this plugin's presets.

    Collecting hook: every implementation is called and all records are gathered; the pair
    (source name, preset) must be unique.

    No arguments.

    Example::

        @hookimpl
        def nptrain_converters():
            return [ConverterRecord(name="torchvision", presets=("resnet50",),
                                    factory="np_plugin_resnet.convert:from_torchvision")]
    """


@hookspec
def nptrain_presets() -> Iterable[PresetRecord]:
    """Return ready model presets (``model.name`` with an empty ``architecture``).

    Collecting hook: every implementation is called and all records are gathered; the pair
    (preset name, task) must be unique.

    No arguments.

    Example::

        @hookimpl
        def nptrain_presets():
            return [PresetRecord(name="tinynet_s", task="classification",
                                 architecture={"backbone": {"name": "tinynet"},
                                               "head": {"name": "fc"}})]
    """


@hookspec
def nptrain_transforms() -> Iterable[TransformRecord]:
    """Return the augmentation transforms this plugin provides (``augmentation.train[].name``).

    Collecting hook: every implementation is called and all records are gathered; two records
    with the same name are an error naming both distributions. Each entry's keys are validated
    against the record's ``params`` class when the config is loaded.

    No arguments.

    Example::

        @hookimpl
        def nptrain_transforms():
            return [TransformRecord(name="grayscale", factory="np_plugin_tiny.aug:Grayscale.from_params",
                                    params=GrayscaleParams, description="Average the colour channels.")]
    """


@hookspec
def nptrain_tasks() -> Iterable[TaskRecord]:
    """Return the tasks this plugin adds (``model.task``): model class, dataset builder, target adapter,
    metric factory, metric names, default loss, predict writer and plots.

    Collecting hook: every implementation is called and all records are gathered; two records with
    the same task name are an error naming both distributions. The core registers classification,
    segmentation and detection through this hook; a plugin's task also needs providers (heads, losses,
    presets) that declare it in their ``tasks``.

    No arguments.

    Example::

        @hookimpl
        def nptrain_tasks():
            return [TaskRecord(name="keypoints", model="np_plugin_kp.model:KeypointModel",
                               dataset="np_plugin_kp.data:build_dataset", targets="np_plugin_kp.data:targets",
                               metric="np_plugin_kp.metric:build", metric_names=("pck",),
                               default_loss="keypoint_mse")]
    """
