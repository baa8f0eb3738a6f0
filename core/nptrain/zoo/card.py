"""``model.md`` cards: YAML front matter (validated) followed by a Markdown description."""
from __future__ import annotations

import io
from typing import Any, Callable, Optional

import attrs
from ruamel.yaml import YAML

from nptrain.config.bounded_yaml import load_yaml
from nptrain.errors import UserError
from nptrain.zoo.stub import parse_stub

TASKS = ("classification", "segmentation", "detection")


@attrs.define(kw_only=True)
class ModelCard:
    stub: str
    task: str = attrs.field(validator=attrs.validators.in_(TASKS))
    architecture: str
    dataset: str
    metrics: dict[str, float] = attrs.Factory(dict)
    params: int
    flops: Optional[int] = None
    sparsity: float = 0.0
    num_classes: int
    class_names: list[str] = attrs.Factory(list)
    input_size: list[int] = attrs.Factory(list)
    # quantized entries (SPARSE_NAME quant / prunedNN_quant): one row per artifact with its metric and
    # latency, and how the SPARSE_CATEGORY was chosen from the metric against the baseline
    artifacts: list[dict[str, Any]] = attrs.Factory(list)
    quantization: dict[str, Any] = attrs.Factory(dict)
    description: str = ""

    def render(self) -> str:
        front = attrs.asdict(self)
        desc = front.pop("description")
        buf = io.StringIO()
        YAML(typ="safe", pure=True).dump(front, buf)
        return f"---\n{buf.getvalue()}---\n\n{desc.strip()}\n"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool)) or _is_number(value)


def _flat_mapping(value: Any) -> bool:
    """A mapping of names to strings, numbers, booleans or null (what a card row may hold)."""
    return isinstance(value, dict) and all(isinstance(k, str) and _is_scalar(x) for k, x in value.items())


# what each front matter field must hold: a card may come from a remote zoo, and `zoo list` / `show`
# format these values, so a wrong type is refused here rather than failing later
_FIELD_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "stub": ("a string", lambda v: isinstance(v, str)),
    "task": ("a string", lambda v: isinstance(v, str)),
    "architecture": ("a string", lambda v: isinstance(v, str)),
    "dataset": ("a string", lambda v: isinstance(v, str)),
    "description": ("a string", lambda v: isinstance(v, str)),
    "metrics": ("a mapping of metric name to number",
                lambda v: isinstance(v, dict) and all(isinstance(k, str) and _is_number(x) for k, x in v.items())),
    "params": ("a non-negative integer", lambda v: _is_int(v) and v >= 0),
    "flops": ("a non-negative integer or null", lambda v: v is None or (_is_int(v) and v >= 0)),
    "sparsity": ("a number", _is_number),
    "num_classes": ("a non-negative integer", lambda v: _is_int(v) and v >= 0),
    "class_names": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "input_size": ("a list of integers", lambda v: isinstance(v, list) and all(_is_int(x) for x in v)),
    "artifacts": ("a list of mappings of name to string or number",
                  lambda v: isinstance(v, list) and len(v) <= 64 and all(_flat_mapping(x) for x in v)),
    "quantization": ("a mapping of name to string or number", _flat_mapping),
}


def _type_problem(name: str, value: Any) -> Optional[str]:
    expected = _FIELD_TYPES.get(name)
    if expected is None or expected[1](value):
        return None
    return f"expected {expected[0]}, got {type(value).__name__}"


def parse_card(text: str, where: str = "model.md") -> ModelCard:
    if not text.startswith("---\n"):
        raise UserError(f"{where}: model card must start with a '---' YAML front matter block")
    front, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise UserError(f"{where}: front matter is not closed by a '---' line")
    data: Any = load_yaml(front, where, line_offset=1) or {}  # line 1 is the opening '---'
    if not isinstance(data, dict):
        raise UserError(f"{where}: front matter must be a mapping")
    fields = {f.name for f in attrs.fields(ModelCard)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise UserError(f"{where}: unknown front matter field(s): {', '.join(unknown)}")
    missing = sorted(f.name for f in attrs.fields(ModelCard)
                     if f.default is attrs.NOTHING and f.name not in data)
    if missing:
        raise UserError(f"{where}: front matter lacks: {', '.join(missing)}")
    for name, value in data.items():
        problem = _type_problem(name, value)
        if problem:
            raise UserError(f"{where}: front matter field {name!r}: {problem}")
    try:
        card = ModelCard(**data, description=body.strip()) if "description" not in data else ModelCard(**data)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: invalid front matter: {exc}") from None

    stub = parse_stub(card.stub)
    if stub.sub_domain != card.task:
        raise UserError(f"{where}: task {card.task!r} does not match the stub's SUB_DOMAIN {stub.sub_domain!r}")
    return card
