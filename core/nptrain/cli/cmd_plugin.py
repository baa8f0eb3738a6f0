"""``nptrain plugin new NAME [--dir DIR]``: scaffold a separately installable plugin."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="create a plugin project (pyproject, entry module, model, tests, README)")
    new.add_argument("name", help="provider name, e.g. tinynet (package np_plugin_tinynet)")
    new.add_argument("--dir", help="target folder (default: ./np-plugin-NAME)")


def run(args: argparse.Namespace) -> int:
    from nptrain.scaffold.create import create_plugin

    target = Path(args.dir or f"np-plugin-{args.name.replace('_', '-')}")
    files = create_plugin(args.name, target)
    print(f"created {target} ({len(files)} files). Next:\n  pip install -e {target}\n  nptrain plugins\n"
          f"  pytest {target}/tests")
    return 0
