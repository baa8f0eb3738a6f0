"""``nptrain plugins [--json]``: installed plugins, what each provides, and load errors."""
from __future__ import annotations

import argparse
import json
from nptrain.plugin_manager import default_plugins


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    plugins = default_plugins()
    rows = [{"name": p.name, "distribution": p.dist, "version": p.version, "module": p.module,
             "providers": {k: [n if isinstance(n, str) else "/".join(n) for n in v] for k, v in p.providers.items()},
             "error": p.error} for p in plugins.plugins]
    conflicts = plugins.registry.conflict_messages()
    if args.json:
        print(json.dumps({"plugins": rows, "conflicts": conflicts}, indent=2))
        return 0
    for row in rows:
        status = "ERROR" if row["error"] else "ok"
        print(f"{row['distribution']} {row['version']}  [{row['name']}: {row['module']}]  {status}")
        for kind, names in sorted(row["providers"].items()):
            print(f"    {kind:<10} {', '.join(names)}")
        if row["error"]:
            print(f"    error: {row['error']}")
    for msg in conflicts:
        print(f"conflict: {msg}")
    return 0
