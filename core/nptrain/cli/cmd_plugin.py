"""``nptrain plugin new NAME [--kinds backbone,head,loss,converter] [--tasks ...] [--source NAME] [--dir DIR]``:
scaffold a separately installable plugin."""
from __future__ import annotations

import argparse
from pathlib import Path
from nptrain.scaffold.create import create_plugin


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="create a plugin project (pyproject, entry module, model, tests, README)")
    new.add_argument("name", help="provider name, e.g. tinynet (package np_plugin_tinynet)")
    new.add_argument("--dir", help="target folder (default: ./np-plugin-NAME)")
    new.add_argument("--kinds", default="backbone,converter",
                     help="comma-separated providers to write: backbone (always), head, loss, converter "
                          "(default: backbone,converter)")
    new.add_argument("--tasks", default="classification",
                     help="comma-separated tasks with a preset each: classification, segmentation, detection "
                          "(default: classification; the first one gets the training config and test)")
    new.add_argument("--source", default="reference", help="the converter's source name (--from), default: reference")


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir or f"np-plugin-{args.name.replace('_', '-')}")
    files = create_plugin(args.name, target, kinds=args.kinds.split(","), tasks=args.tasks.split(","),
                          source=args.source)
    print(f"created {target} ({len(files)} files). Next:\n  pip install -e {target}\n  nptrain plugins\n"
          f"  pytest {target}/tests")
    return 0
