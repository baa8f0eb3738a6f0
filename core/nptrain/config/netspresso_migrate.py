"""``nptrain config migrate FILE... [-o OUT.yaml]``: NetsPresso Trainer 1.x files → one native config.

The output is the merged files after the translation of ``nptrain.config.netspresso`` (only what the user
wrote, no defaults filled in), with an end-of-line comment on every line that differs from the original
and a header listing what was removed or cannot apply. It resolves to the same typed config as the
original files (tested)."""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.representer import RoundTripRepresenter
from nptrain.config.loader import load_config
from nptrain.errors import UserError
from nptrain.training_io import atomic_write_bytes

SECTION_ORDER = ("data", "augmentation", "model", "training", "logging", "environment")


class _TildeRepresenter(RoundTripRepresenter):
    """Writes null as ``~`` (as the 1.x files do) rather than an empty value that reads like a forgotten one;
    a subclass, so other YAML dumps in the process keep their style."""


_TildeRepresenter.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "~"))


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _commented(v)
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_commented(v) for v in value)
        if all(not isinstance(v, (dict, list)) for v in value) and value:
            seq.fa.set_flow_style()  # [0.485, 0.456, 0.406] stays on one line
        return seq
    return value


def _comment_at(root: CommentedMap, path: tuple, text: str) -> None:
    node: Any = root
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1]
    if isinstance(node, CommentedMap) and last in node:
        node.yaml_add_eol_comment(text, last)
    elif isinstance(node, CommentedSeq) and isinstance(last, int) and 0 <= last < len(node):
        item = node[last]
        if isinstance(item, CommentedMap) and item:  # on the item's first line
            item.yaml_add_eol_comment(text, next(iter(item)))
        else:
            node.yaml_add_eol_comment(text, last)


def render(data: dict, translation, sources: list[str]) -> str:
    ordered = {k: data[k] for k in SECTION_ORDER if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    root = _commented(ordered)
    for path, text in sorted(translation.changes.items(), key=lambda kv: len(kv[0])):
        if text:
            _comment_at(root, path, text)
    head = [f"nptrain config migrated from {', '.join(sources)}"]
    if not translation.detected:
        head.append("no NetsPresso Trainer 1.x fields found: this is the files merged")
    if translation.removed:
        head.append("removed (same meaning in nptrain without them):")
        head += [f"  {line}" for line in translation.removed]
    if translation.ignored:
        head.append("ignored (no meaning in nptrain here):")
        head += [f"  {line}" for line in translation.ignored]
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    yaml.Representer = _TildeRepresenter
    buf = io.StringIO()
    yaml.dump(root, buf)
    return "".join(f"# {line}\n" for line in head) + buf.getvalue()


def migrate(paths: list[str], overrides: list[str], output: Optional[str]) -> int:
    if not paths:
        raise UserError("no config file given (nptrain config migrate model.yaml data.yaml ... -o OUT.yaml)")
    # full validation first: a file that would not run is reported at its line, not migrated
    loaded = load_config(paths, overrides, check_files=False)
    text = render(loaded.located.data, loaded.netspresso, [str(p) for p in paths])
    if output is None:
        sys.stdout.write(text)
        return 0
    out = Path(output)
    if out.resolve() in {Path(p).resolve() for p in paths}:
        raise UserError(f"-o {output}: that is one of the input files; write the migrated config elsewhere")

    atomic_write_bytes(out, text.encode("utf-8"))
    note = loaded.netspresso.user_note()
    if note:
        print(note, file=sys.stderr)
    print(f"wrote {out} ({len(loaded.netspresso.changes)} changed line(s))")
    return 0
