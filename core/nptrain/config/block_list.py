"""NetsPresso Trainer's block lists (``[['uir', 96, 192, true, 5, true, 5, 2], …]``): one stage is a list of blocks,
each a list that starts with its kind and then its fields in a fixed order. A family declares its kinds and what
each field takes; :func:`parse_blocks` reads a stage and raises :class:`~nptrain.errors.ValueAt` located at the
block or field that is wrong, naming what it expects; :meth:`Block.to_config` writes it back as the same list.

Field rules: ``int`` (a positive integer), ``even`` (a positive even integer: the block halves it), ``stride``
(1 or 2), ``one`` (exactly 1), ``bool``; a trailing ``?`` also allows ``~``. Example::

    BLOCKS = {"conv": (("out_channels", "int"), ("kernel_size", "int"), ("stride", "stride"))}
    blocks = parse_blocks([["conv", 32, 3, 2]], BLOCKS, family="mynet")
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import attrs

from nptrain.errors import ValueAt

FieldSpec = tuple[tuple[str, str], ...]


def block_shape(kind: str, spec: FieldSpec) -> str:
    """``['kind', field, …]``: how the block is written."""
    return "[" + ", ".join([repr(kind)] + [name for name, _ in spec]) + "]"


def check_field(value: Any, rule: str) -> Optional[str]:
    """Why ``value`` does not fit ``rule`` (see the module docstring), or None."""
    if value is None:
        return None if rule.endswith("?") else "may not be ~"
    rule = rule.rstrip("?")
    if rule == "bool":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an integer, got {value!r}"
    if rule == "stride" and value not in (1, 2):
        return f"expected 1 or 2, got {value}"
    if rule == "one" and value != 1:
        return f"must be 1 (the block keeps the resolution), got {value}"
    if rule == "even" and (value < 2 or value % 2):
        return f"expected a positive even integer (the block splits it in two halves), got {value}"
    return None if value >= 1 else f"expected a positive integer, got {value}"


@attrs.frozen
class Block:
    kind: str
    fields: dict[str, Any]
    spec: FieldSpec = attrs.field(eq=False, repr=False)

    def to_config(self) -> list:
        return [self.kind] + [self.fields[name] for name, _ in self.spec]


def parse_blocks(value: Any, blocks: Mapping[str, FieldSpec], *, family: str,
                 example: Optional[str] = None) -> tuple[Block, ...]:
    """One stage's blocks; ValueAt at the block (``(i,)``) or field (``(i, j)``) that is wrong. Kind names are
    matched case-insensitively and written back lower-case."""
    example = example or next(iter(blocks))
    if not isinstance(value, list) or not value:
        raise ValueError(f"a {family} stage is a non-empty list of blocks such as "
                         f"{block_shape(example, blocks[example])}; got {value!r}")
    out = []
    for i, block in enumerate(value):
        kind = block[0].lower() if isinstance(block, list) and block and isinstance(block[0], str) else None
        if kind not in blocks:
            shown = block[0] if isinstance(block, list) and block else block
            raise ValueAt(f"block {i}: unknown block {shown!r}; expected a list starting with one of "
                          f"{', '.join(map(repr, blocks))}", (i,))
        spec = blocks[kind]
        if len(block) != len(spec) + 1:
            raise ValueAt(f"block {i}: {kind!r} takes {len(spec)} value{'s' if len(spec) != 1 else ''} after its name, "
                          f"{block_shape(kind, spec)}; got {len(block) - 1}", (i,))
        fields = {}
        for j, ((name, rule), v) in enumerate(zip(spec, block[1:]), start=1):
            problem = check_field(v, rule)
            if problem:
                raise ValueAt(f"block {i} ({kind}): {name} {problem}", (i, j))
            fields[name] = v
        out.append(Block(kind, fields, spec))
    return tuple(out)
