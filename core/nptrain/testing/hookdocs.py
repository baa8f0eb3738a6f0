"""Render the hook reference of ``docs/plugins.md`` from the hookspec docstrings.

``python -m nptrain.testing.hookdocs docs/plugins.md`` rewrites the block between the markers; a
test fails when the file and the docstrings differ, so the reference cannot drift.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

START = "<!-- hook-reference:start (generated from core/nptrain/hookspecs.py; do not edit) -->"
END = "<!-- hook-reference:end -->"


def render() -> str:
    from nptrain import hookspecs

    parts = []
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("nptrain_"):
            continue
        sig = str(inspect.signature(fn)).replace("'", "")
        parts.append(f"### `{name}{sig}`\n\n{inspect.cleandoc(fn.__doc__ or '')}\n")
    return "\n".join(parts)


def splice(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/plugins.md")
    path.write_text(splice(path.read_text()))
    print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
