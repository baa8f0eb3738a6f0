"""The steps every weight converter shares: rename each source key, then hold the result against the preset.

A converter supplies only its key rule (``target_key(source_key) -> our key | None``) and whatever its
format needs on top; these helpers make every converter fail the same loud way: a source key with no
counterpart, two source keys landing on one target, a target key left unfilled, a key the preset does
not have, or a tensor of the wrong shape is a :class:`ConversionError` naming the keys.

Example (a whole converter, when a key rule is all the format needs)::

    def from_mine(state_dict, *, preset, keep_head=True):
        return convert_by_rule(state_dict, target_key, source="mine", preset=preset, keep_head=keep_head)

Converters with more to do (checked-and-dropped buffers, wrapper prefixes, partial files) call the
steps themselves: :func:`rename`, :func:`preset_shapes`, :func:`drop_head`, :func:`check_layout`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

import torch

from nptrain.errors import ConversionError

V = TypeVar("V")


def short(items: Iterable[str], limit: int = 5) -> str:
    """The first ``limit`` items joined, with the total when there are more."""
    items = list(items)
    return ", ".join(items[:limit]) + (f", … ({len(items)} in all)" if len(items) > limit else "")


def rename(state_dict: Mapping[str, torch.Tensor], target_key: Callable[[str], Optional[str]], *, label: str,
           skip: tuple[str, ...] = (), unmapped_hint: Callable[[list[str]], str] = lambda keys: "") -> dict[str, torch.Tensor]:
    """``{target_key(k): v}`` for every source key not starting with one of ``skip`` (dropped on purpose).

    Raises :class:`ConversionError` for keys ``target_key`` maps to None and for two source keys
    mapping onto one target. ``unmapped_hint(keys)`` may add advice to the first message."""
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unmapped: list[str] = []
    clashes: list[str] = []
    for key, value in state_dict.items():
        if skip and key.startswith(skip):
            continue
        target = target_key(key)
        if target is None:
            unmapped.append(key)
            continue
        if target in origin:
            clashes.append(f"{origin[target]} and {key}")
        origin[target] = key
        out[target] = value
    if unmapped:
        raise ConversionError(f"{label}: {len(unmapped)} unmapped source key(s): {short(unmapped)}"
                              f"{unmapped_hint(unmapped)}")
    if clashes:
        raise ConversionError(f"{label}: {len(clashes)} source key pair(s) map to one target: {'; '.join(clashes[:5])}")
    return out


def preset_shapes(spec: Any, *, num_classes: int, task: Optional[str] = None) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of ``create_model(spec)`` with its shape, built on the meta device (nothing allocated)."""
    from nptrain.modeling.api import create_model

    kwargs = {"task": task} if task else {}
    with torch.device("meta"):
        model = create_model(spec, num_classes=num_classes, **kwargs)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


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


def convert_by_rule(state_dict: Mapping[str, torch.Tensor], target_key: Callable[[str], Optional[str]], *,
                    source: str, preset: str, keep_head: bool = True, task: Optional[str] = "classification",
                    classifier_key: str = "head.classifier.weight") -> dict[str, torch.Tensor]:
    """Rename every key with ``target_key`` and check the result against ``preset`` (the class count is read
    from the converted ``classifier_key``); ``keep_head=False`` drops and skips every ``head.`` key."""
    label = f"{source}→{preset}"
    out = rename(state_dict, target_key, label=label)
    expected = preset_shapes(preset, task=task, num_classes=classes_in(out, classifier_key))
    return check_layout(drop_head(out, keep_head), drop_head(expected, keep_head), label=label, preset=preset)
