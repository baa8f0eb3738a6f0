"""``nptrain config show|check|migrate CONFIG... [key=value...] [-o OUT.yaml]``."""
from __future__ import annotations

import argparse
import sys
from nptrain.plugin_trace import provider_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show", "check", "migrate"],
                        help="migrate: write NetsPresso Trainer 1.x files as one native config")
    parser.add_argument("items", nargs="+", metavar="CONFIG|key=value",
                        help="config files (merged in order) then overrides like training.epochs=5")
    parser.add_argument("-o", "--output", metavar="OUT.yaml", help="migrate: write here (default: stdout)")
    parser.add_argument("--trace", action="store_true",
                        help="also say which distribution provides the preset, each component, loss and converter")


def split_items(items: list[str]) -> tuple[list[str], list[str]]:
    """Config paths first, then ``key=value`` overrides (a path never contains '=' here)."""
    paths = [i for i in items if "=" not in i]
    overrides = [i for i in items if "=" in i]
    return paths, overrides


def run(args: argparse.Namespace) -> int:
    # lazy: ruamel
    from ruamel.yaml import YAML

    from nptrain.config.loader import load_config

    paths, overrides = split_items(args.items)
    if args.action == "migrate":
        # lazy: ruamel
        from nptrain.config.netspresso_migrate import migrate

        return migrate(paths, overrides, args.output)
    # check validates everything run would before training (data splits, output dir); show also
    # prints fragments of a config and configs whose data lives elsewhere
    loaded = load_config(paths, overrides, for_run=args.action == "check")
    note = loaded.netspresso.user_note()
    if note:
        print(note, file=sys.stderr)
    if args.action == "check":
        # lazy: torch
        from nptrain.modeling.builder import check_buildable

        check_buildable(loaded.resolved)  # what run does next: providers that refuse their params fail here
        # lazy: torch
        from nptrain.training.setup import build_data

        # and then what run checks of the data before training: classes alike in both splits, no empty
        # class folder, every file's header readable (nothing decoded)
        build_data(loaded, decode=False)
        print(f"ok: {', '.join(paths)} ({loaded.model.task}, model {describe_model(loaded)})")
    else:
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.dump(loaded.unstructure(), sys.stdout)
    if args.trace:  # YAML comments, so `config show --trace` output still loads
        print("# provided by:")
        for line in provider_lines(loaded, loaded.plugins):
            print(f"#   {line}")
    return 0


def describe_model(loaded) -> str:
    r = loaded.resolved
    if r.full is not None:
        return r.full.record.name
    if r.backbone is None:
        return f"fx: {loaded.model.fx_model_checkpoint}"
    parts = [r.backbone.record.name] + ([r.neck.record.name] if r.neck else []) + [r.head.record.name]
    return " + ".join(parts)
