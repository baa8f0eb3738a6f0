"""Write a new plugin project from :mod:`nptrain.scaffold.templates`."""
from __future__ import annotations

import re
from pathlib import Path
from string import Template

from nptrain.errors import UserError
from nptrain.scaffold.templates import FILES

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


def create_plugin(name: str, directory: Path) -> list[Path]:
    """Create ``directory`` (default ``np-plugin-NAME``) holding a working plugin; never overwrites."""
    if not NAME_RE.match(name):
        raise UserError(f"plugin name {name!r} must be lowercase letters, digits and underscores, starting with a letter")
    if directory.exists() and any(directory.iterdir()):
        raise UserError(f"{directory} exists and is not empty; choose another --dir")
    values = {"name": name, "pkg": f"np_plugin_{name}", "dist": f"np-plugin-{name.replace('_', '-')}",
              "cls": "".join(part.capitalize() for part in name.split("_"))}
    written = []
    for rel, text in FILES.items():
        path = directory / Template(rel).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
        written.append(path)
    return written
