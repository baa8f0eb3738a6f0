"""``model.md`` cards: YAML front matter (validated) followed by a Markdown description."""
from __future__ import annotations

import io
from typing import Any, Optional

import attrs
from ruamel.yaml import YAML

from nptrain.errors import UserError

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
    description: str = ""

    def render(self) -> str:
        front = attrs.asdict(self)
        desc = front.pop("description")
        buf = io.StringIO()
        YAML(typ="safe", pure=True).dump(front, buf)
        return f"---\n{buf.getvalue()}---\n\n{desc.strip()}\n"


def parse_card(text: str, where: str = "model.md") -> ModelCard:
    if not text.startswith("---\n"):
        raise UserError(f"{where}: model card must start with a '---' YAML front matter block")
    front, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise UserError(f"{where}: front matter is not closed by a '---' line")
    data: Any = YAML(typ="safe", pure=True).load(front) or {}
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
    try:
        card = ModelCard(**data, description=body.strip()) if "description" not in data else ModelCard(**data)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: invalid front matter: {exc}") from None
    from nptrain.zoo.stub import parse_stub

    stub = parse_stub(card.stub)
    if stub.sub_domain != card.task:
        raise UserError(f"{where}: task {card.task!r} does not match the stub's SUB_DOMAIN {stub.sub_domain!r}")
    return card
