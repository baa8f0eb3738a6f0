"""Typed provider records: what a plugin hook returns.

Records are plain data. They name their factory as a ``"module:attribute"`` string so that
importing a plugin's entry module never imports its model code; :func:`resolve` imports the
factory only when a model is actually built.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Optional

import attrs

from nptrain.errors import UserError, describe_exception

# the tasks the core registers itself (``nptrain.builtin``); a plugin may add more with a TaskRecord
TASKS = ("classification", "segmentation", "detection")


def _check_ref(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if callable(value):
        return
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        raise ValueError(f"{attribute.name} must be 'package.module:attribute' or a callable, got {value!r}")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and value.replace("_", "").replace("-", "").isalnum()


def _check_tasks(instance: Any, attribute: attrs.Attribute, value: tuple) -> None:
    # task names only: which tasks exist is known once every plugin's TaskRecord is registered
    bad = [t for t in value if not _is_name(t)]
    if bad:
        raise ValueError(f"{attribute.name}: task names are identifiers like {', '.join(TASKS)}, got {bad}")


def _check_name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not _is_name(value):
        raise ValueError(f"{attribute.name} must be a non-empty identifier, got {value!r}")


def resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import ``"pkg.module:attr"`` (or return a callable unchanged)."""
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a plugin's model module that exits or fails at
        # import is reported as that plugin's fault, never ends the command silently
        raise UserError(f"cannot import {module} (the factory {ref}): {describe_exception(exc)}; "
                        "fix or uninstall the plugin that provides it (see nptrain plugins)") from None
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@attrs.frozen
class Feature:
    """One feature map a backbone or neck returns: its channel count and stride.

    ``stride`` is ``None`` for a pooled vector of shape ``(B, channels)`` (e.g. a ViT class token).
    """

    channels: int
    stride: Optional[int]


@attrs.frozen
class FeatureInfo:
    """The ordered features a backbone or neck returns from ``forward``."""

    features: tuple[Feature, ...] = attrs.field(converter=tuple)

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(f.channels for f in self.features)

    @property
    def strides(self) -> tuple[Optional[int], ...]:
        return tuple(f.stride for f in self.features)

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def of(cls, channels: list[int] | tuple[int, ...], strides: list[Optional[int]] | tuple[Optional[int], ...]) -> "FeatureInfo":
        if len(channels) != len(strides):
            raise ValueError("channels and strides must have the same length")
        return cls(tuple(Feature(int(c), None if s is None else int(s)) for c, s in zip(channels, strides)))


class _Keyed:
    """What every record class says about itself, so the plugin manager, the registry and ``nptrain list``
    read one place: ``KIND`` (registry kind), ``HOOK`` (the hook that returns it), ``TITLE`` (plural shown
    by ``nptrain list``) and the key rule :meth:`keys`. Uniqueness rule: two records of one kind that share
    a key are a conflict naming both distributions."""

    __slots__ = ()
    KIND = ""
    HOOK = ""
    TITLE = ""

    def keys(self) -> tuple:
        """Every registry key this record answers to (one by default: its name)."""
        return (self.key(),)

    def key(self) -> Any:
        """The key ``nptrain plugins`` lists for this record."""
        return getattr(self, "name")


@attrs.frozen(kw_only=True)
class _Provider(_Keyed):
    name: str = attrs.field(validator=_check_name)
    factory: str | Callable[..., Any] = attrs.field(validator=_check_ref)
    description: str = ""
    params: Optional[type] = None  # attrs class validated from the config's ``params`` mapping

    def build_factory(self) -> Callable[..., Any]:
        return resolve(self.factory)


@attrs.frozen(kw_only=True)
class BackboneRecord(_Provider):
    """A backbone. ``factory(params, stage_params, task) -> nn.Module``.

    The module has ``feature_info: FeatureInfo`` (set in ``__init__``) and ``forward(x)`` returns a
    tuple of tensors matching it. ``stage_params`` is the attrs class of one stage entry, or None.
    """

    KIND, HOOK, TITLE = "backbone", "nptrain_backbones", "backbones"
    stage_params: Optional[type] = None
    tasks: tuple[str, ...] = attrs.field(default=TASKS, converter=tuple, validator=_check_tasks)


@attrs.frozen(kw_only=True)
class NeckRecord(_Provider):
    """A neck. ``factory(params, in_features: FeatureInfo) -> nn.Module`` with ``feature_info``;
    ``forward(features: tuple) -> tuple``."""

    KIND, HOOK, TITLE = "neck", "nptrain_necks", "necks"
    tasks: tuple[str, ...] = attrs.field(default=("segmentation", "detection"), converter=tuple, validator=_check_tasks)


@attrs.frozen(kw_only=True)
class HeadRecord(_Provider):
    """A head. ``factory(params, in_features: FeatureInfo, num_classes, task) -> nn.Module``;
    ``forward(features: tuple)`` returns the task output (see ``docs/plugins.md``)."""

    KIND, HOOK, TITLE = "head", "nptrain_heads", "heads"
    tasks: tuple[str, ...] = attrs.field(converter=tuple, validator=_check_tasks)


@attrs.frozen(kw_only=True)
class FullModelRecord(_Provider):
    """A model that is not split into backbone/neck/head.
    ``factory(params, stage_params, num_classes, task) -> nn.Module``."""

    KIND, HOOK, TITLE = "full", "nptrain_full_models", "models"
    stage_params: Optional[type] = None
    tasks: tuple[str, ...] = attrs.field(converter=tuple, validator=_check_tasks)


@attrs.frozen(kw_only=True)
class LossRecord(_Provider):
    """A loss. ``factory(params) -> nn.Module``; ``forward(outputs, targets) -> scalar tensor``.

    ``params`` holds the criterion's own keys (everything in a ``losses`` entry except
    ``criterion`` and ``weight``)."""

    KIND, HOOK, TITLE = "loss", "nptrain_losses", "losses"
    tasks: tuple[str, ...] = attrs.field(default=TASKS, converter=tuple, validator=_check_tasks)


@attrs.frozen(kw_only=True)
class TransformRecord(_Provider):
    """An augmentation step: an ``augmentation.train[]`` / ``augmentation.inference[]`` entry
    ``{name: ..., <params>}``, its keys validated against ``params`` when the config is loaded.

    ``factory(params) -> transform``. A per-sample transform is called as
    ``t(image, target, gen) -> (image, target)`` (``image`` a float ``(C, H, W)`` tensor, ``target`` the
    task's dict, ``gen`` the only source of randomness; see ``nptrain.data.transforms``). With
    ``batch=True`` it acts on whole training batches instead, as
    ``t(images, labels, num_classes, gen) -> (images, soft_labels)`` (mixup/cutmix), and may only
    appear in ``augmentation.train``."""

    KIND, HOOK, TITLE = "transform", "nptrain_transforms", "transforms"
    tasks: tuple[str, ...] = attrs.field(default=TASKS, converter=tuple, validator=_check_tasks)
    batch: bool = False


@attrs.frozen(kw_only=True)
class ConverterRecord(_Provider):
    """Maps an original checkpoint layout onto ours.

    ``name`` is the source (``torchvision``, ``mlcvnets``…); ``presets`` lists the presets it can fill.
    ``factory(state_dict, *, preset, keep_head=True) -> dict[str, Tensor]`` must raise
    :class:`nptrain.errors.ConversionError` on any unmapped source key or unfilled target key.
    """

    KIND, HOOK, TITLE = "converter", "nptrain_converters", "converters"
    presets: tuple[str, ...] = attrs.field(converter=tuple)

    def keys(self) -> tuple:
        """One key per filled preset: ``(source, preset)`` is what must be unique."""
        return tuple((self.name, preset) for preset in self.presets)


@attrs.frozen(kw_only=True)
class PresetRecord(_Keyed):
    """A ready model: a ``model.architecture`` mapping for one task.

    ``architecture`` uses the config's own shape: ``{"backbone": {"name":…, "params":…,
    "stage_params": […]}, "neck": …, "head": …}`` or ``{"full": {...}}``.
    """

    KIND, HOOK, TITLE = "preset", "nptrain_presets", "presets"
    name: str = attrs.field(validator=_check_name)
    task: str = attrs.field(validator=_check_name)
    architecture: Mapping[str, Any]
    description: str = ""
    default_input_size: int = 224
    losses: tuple = ()  # default ``model.losses`` entries, e.g. ({"criterion": "pidnet_loss"},)
    # the memory format its training steps are fastest in on CPU ("channels_last" or "contiguous"),
    # used unless the config sets environment.channels_last; measure with bench/bench_step.py
    memory_format: str = attrs.field(default="contiguous",
                                     validator=attrs.validators.in_(("contiguous", "channels_last")))

    def key(self) -> Any:
        """``(name, task)``: one preset name may serve several tasks."""
        return (self.name, self.task)


# the best-epoch pictures a task may ask for (nptrain.report.best_epoch draws them)
PLOTS = ("confusion", "pr_curve", "samples")


def _optional_ref(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _check_ref(instance, attribute, value)


@attrs.frozen(kw_only=True)
class TaskRecord(_Keyed):
    """A task (``model.task``): everything the core needs to train, evaluate and predict it.

    Every callable is a ``"module:attribute"`` string imported only when used:

    * ``model``: the :class:`~nptrain.modeling.task_models.TaskModel` subclass, called
      ``model(backbone, neck, head, name)``; its ``finish(out, x)`` also shapes full models' outputs;
    * ``dataset``: ``dataset(data_config, split, transform, classes) -> dataset`` whose items are
      ``(image, target dict)`` and which has ``classes``, ``check_files()`` and ``cache_images()``;
    * ``targets``: ``targets(batch_target, device) -> loss targets`` (what losses and metrics receive);
    * ``metric``: ``metric(loaded_config, num_classes) -> Metric`` (:mod:`nptrain.metric_base`);
    * ``predict``: ``predict(loaded, model, classes, image_paths, out_dir, options)`` for ``nptrain predict`` and
      ``nptrain.predict``: returns one result per image and writes files when ``out_dir`` is not None
      (``options``: ``topk``, ``score_thresh``; see :mod:`nptrain.api.predict`).
    """

    KIND, HOOK, TITLE = "task", "nptrain_tasks", "tasks"
    name: str = attrs.field(validator=_check_name)
    model: str | Callable[..., Any] = attrs.field(validator=_check_ref)
    dataset: str | Callable[..., Any] = attrs.field(validator=_check_ref)
    targets: str | Callable[..., Any] = attrs.field(validator=_check_ref)
    metric: str | Callable[..., Any] = attrs.field(validator=_check_ref)
    metric_names: tuple[str, ...] = attrs.field(converter=tuple)
    default_loss: str = attrs.field(validator=_check_name)
    predict: Optional[str | Callable[..., Any]] = attrs.field(default=None, validator=_optional_ref)
    plots: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=attrs.validators.deep_iterable(
        attrs.validators.in_(PLOTS)))
    label: str = attrs.field(default="either", validator=attrs.validators.in_(("file", "folder", "either")))
    label_hint: str = ""
    description: str = ""

    def part(self, field: str) -> Callable[..., Any]:
        """The callable ``field`` names (``"model"``, ``"dataset"``, ``"targets"``, ``"metric"``, ``"predict"``)."""
        ref = getattr(self, field)
        if ref is None:
            raise UserError(f"task {self.name!r} has no {field} (its plugin does not provide one)")
        return resolve(ref)


# every record kind, in the order ``nptrain list`` shows them and docs/plugins.md documents them
RECORD_CLASSES: tuple[type, ...] = (BackboneRecord, NeckRecord, HeadRecord, FullModelRecord, PresetRecord, LossRecord,
                                    ConverterRecord, TransformRecord, TaskRecord)
PROVIDER_KINDS: dict[str, type] = {cls.KIND: cls for cls in RECORD_CLASSES}
