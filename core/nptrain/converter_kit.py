"""The steps every weight converter shares: rename each source key, then hold the result against the preset.

A converter supplies only its key rule (``target_key(source_key) -> our key | None``, or a
:mod:`nptrain.converter_rules` rule when the value changes too: ``Map`` with reshape/transpose/dtype
transforms, ``Split``/``Concat`` of fused tensors) and whatever its format needs on top; these helpers make every converter fail the same loud way: a source key with no
counterpart, two source keys landing on one target, a target key left unfilled, a key the preset does
not have, or a tensor of the wrong shape is a :class:`ConversionError` naming the keys.

Example (a whole converter, when a key rule is all the format needs)::

    def from_mine(state_dict, *, preset, keep_head=True):
        return convert_by_rule(state_dict, target_key, source="mine", preset=preset, keep_head=keep_head)

Converters with more to do (checked-and-dropped buffers, wrapper prefixes, partial files) call the
steps themselves: :func:`rename`, :func:`preset_shapes`, :func:`drop_head`, :func:`check_layout`.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

import torch

from nptrain.converter_rules import Concat, KeyRule, expand, join_concats
from nptrain.errors import ConversionError
from nptrain.modeling.api import create_model
from nptrain.plugin_manager import active_plugins

V = TypeVar("V")


def short(items: Iterable[str], limit: int = 5) -> str:
    """The first ``limit`` items joined, with the total when there are more."""
    items = list(items)
    return ", ".join(items[:limit]) + (f", … ({len(items)} in all)" if len(items) > limit else "")


def rename(state_dict: Mapping[str, torch.Tensor], target_key: KeyRule, *, label: str,
           skip: tuple[str, ...] = (), unmapped_hint: Callable[[list[str]], str] = lambda keys: "") -> dict[str, torch.Tensor]:
    """Apply the key rule (see :func:`rename_collect`); any unmapped source key raises :class:`ConversionError`."""
    out, unmapped = rename_collect(state_dict, target_key, label=label, skip=skip)
    if unmapped:
        raise ConversionError(f"{label}: {len(unmapped)} unmapped source key(s): {short(unmapped)}"
                              f"{unmapped_hint(unmapped)}")
    return out


def rename_collect(state_dict: Mapping[str, torch.Tensor], target_key: KeyRule, *, label: str,
                   skip: tuple[str, ...] = ()) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Apply the key rule to every source key not starting with one of ``skip`` (dropped on purpose).

    ``target_key(key)`` returns our key, None (no counterpart), or a :mod:`nptrain.converter_rules` rule
    (``Map`` with value transforms, ``Split`` of a fused tensor, ``Concat`` part). Raises
    :class:`ConversionError` naming source keys landing on one target and incomplete concatenations, each
    with its count. Returns the renamed tensors and the source keys the rule maps to None."""
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unmapped: list[str] = []
    clashes: list[str] = []
    concat_parts: dict[str, dict[int, tuple[str, torch.Tensor]]] = {}
    concat_rules: dict[str, Concat] = {}

    def put(target: str, key: str, value: torch.Tensor) -> None:
        if target in origin:
            clashes.append(f"{origin[target]} and {key}")
        origin[target] = key
        out[target] = value

    for key, value in state_dict.items():
        if skip and key.startswith(skip):
            continue
        rule = target_key(key)
        if rule is None:
            unmapped.append(key)
        elif isinstance(rule, Concat):
            got = concat_parts.setdefault(rule.target, {})
            if rule.index in got:
                clashes.append(f"{got[rule.index][0]} and {key} → part {rule.index} of {rule.target}")
            got[rule.index] = (key, value)
            concat_rules[rule.target] = rule
        else:
            for target, tensor in expand(key, value, rule):
                put(target, key, tensor)
    joined, incomplete = join_concats(concat_parts, concat_rules)
    if incomplete:
        raise ConversionError(f"{label}: {len(incomplete)} concatenated target(s) incomplete: {'; '.join(incomplete[:5])}")
    for target, tensor in joined.items():
        put(target, " + ".join(k for _, (k, _) in sorted(concat_parts[target].items())), tensor)
    if clashes:
        raise ConversionError(f"{label}: {len(clashes)} source key pair(s) map to one target: {'; '.join(clashes[:5])}")
    return out, unmapped


def same_shape_pairs(unmapped: Mapping[str, tuple[int, ...]], unfilled: Mapping[str, tuple[int, ...]]) -> list[str]:
    """``source → target`` for each unmapped source key whose shape only one unfilled target has: the likely fix."""
    pairs = []
    for key, shape in unmapped.items():
        matches = [t for t, s in unfilled.items() if s == shape]
        if len(matches) == 1:
            pairs.append(f"{key} → {matches[0]}")
    return pairs


def preset_shapes(spec: Any, *, num_classes: int, task: Optional[str] = None, plugins: Any = None) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of ``create_model(spec)`` with its shape, built on the meta device (nothing allocated).

    ``plugins``: the set to build with; by default the one the running conversion was given
    (:func:`nptrain.plugin_manager.active_plugins`), so a converter needs no plugin set of its own."""
    with torch.device("meta"):
        model = create_model(spec, num_classes=num_classes, task=task, plugins=plugins or active_plugins())
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def module_places(keys: Iterable[str], pattern: str = r"backbone\.stages\.\d+\.\d+") -> list[str]:
    """The distinct key prefixes matching ``pattern``, in key order: e.g. ``backbone.stages.<s>.<b>`` of every
    block of a preset (its ``preset_shapes``), so a converter can map the source's n-th block onto the n-th here."""
    seen: dict[str, None] = {}
    for key in keys:
        m = re.match(pattern, key)
        if m:
            seen.setdefault(m[0], None)
    return list(seen)


def classes_in(state: Mapping[str, torch.Tensor], classifier_key: str, default: int = 1000) -> int:
    """The class count a checkpoint's classifier weight implies (``default`` when the file has none)."""
    weight = state.get(classifier_key)
    return int(weight.shape[0]) if weight is not None else default


def drop_head(mapping: Mapping[str, V], keep_head: bool, prefixes: tuple[str, ...] = ("head.",)) -> dict[str, V]:
    """``mapping`` without the keys under ``prefixes`` unless ``keep_head``."""
    return dict(mapping) if keep_head else {k: v for k, v in mapping.items() if not k.startswith(prefixes)}


def check_layout(out: dict[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], *, label: str, preset: str,
                 unfilled_hint: Optional[Callable[[list[str]], str]] = None) -> dict[str, torch.Tensor]:
    """Hold converted tensors against the preset's keys and shapes; returns ``out``.

    A BatchNorm whose statistics arrived but whose ``num_batches_tracked`` did not (files written by
    older releases) gets a zero counter. Anything else missing, unexpected or of the wrong shape raises
    :class:`ConversionError`; ``unfilled_hint(keys)`` replaces the default advice for unfilled keys."""
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in out and key.rsplit(".", 1)[0] + ".running_mean" in out:
            out[key] = torch.zeros((), dtype=torch.long)
    missing, extra = sorted(set(expected) - set(out)), sorted(set(out) - set(expected))
    if missing or extra:
        hint = unfilled_hint(missing) if unfilled_hint and missing else f"; is the checkpoint a {preset}?"
        raise ConversionError(f"{label}: {len(missing)} target key(s) unfilled ({short(missing)}), "
                              f"{len(extra)} unexpected ({short(extra)}){hint}")
    wrong = [f"{k} {tuple(v.shape)} != {expected[k]}" for k, v in out.items() if tuple(v.shape) != expected[k]]
    if wrong:
        raise ConversionError(f"{label}: {len(wrong)} shape mismatch(es): {'; '.join(wrong[:5])}; "
                              f"is the checkpoint a {preset}?")
    return out


def convert_by_rule(state_dict: Mapping[str, torch.Tensor], target_key: KeyRule, *,
                    source: str, preset: str, keep_head: bool = True, task: Optional[str] = "classification",
                    classifier_key: str = "head.classifier.weight") -> dict[str, torch.Tensor]:
    """Rename every key with ``target_key`` and check the result against ``preset`` (the class count is read
    from the converted ``classifier_key``); ``keep_head=False`` drops and skips every ``head.`` key."""
    label = f"{source}→{preset}"
    out, unmapped = rename_collect(state_dict, target_key, label=label)
    expected = preset_shapes(preset, task=task, num_classes=classes_in(out, classifier_key))
    if unmapped:  # both sides in one message: what the rule dropped and what it left empty
        wanted = drop_head(expected, keep_head)
        unfilled = {k: v for k, v in wanted.items() if k not in out and not k.endswith(".num_batches_tracked")}
        pairs = same_shape_pairs({k: tuple(state_dict[k].shape) for k in unmapped}, unfilled)
        raise ConversionError(f"{label}: {len(unmapped)} unmapped source key(s): {short(unmapped)}; "
                              f"{len(unfilled)} target key(s) unfilled ({short(sorted(unfilled))})"
                              + (f"; same shape, maybe: {short(pairs, 3)}" if pairs else ""))
    return check_layout(drop_head(out, keep_head), drop_head(expected, keep_head), label=label, preset=preset)
