"""``nptrain`` entry point: parse arguments, dispatch lazily, turn user errors into one line + exit 2.

Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; only the chosen
one is imported, so ``nptrain --help`` never imports torch.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

from nptrain import __version__
from nptrain.warning_lines import one_line_warnings

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("nptrain.cli.cmd_run", "train (and evaluate, export) a model from YAML configs"),
    "evaluate": ("nptrain.cli.cmd_evaluate", "evaluate a run directory or config on its validation data"),
    "predict": ("nptrain.cli.cmd_predict", "predict images with a trained run"),
    "data": ("nptrain.cli.cmd_data", "write built-in datasets (e.g. digits) as local image folders"),
    "plugins": ("nptrain.cli.cmd_plugins", "list installed plugins, their providers and load errors"),
    "list": ("nptrain.cli.cmd_list", "list providers (backbones, necks, heads, models, losses, converters) and their params"),
    "config": ("nptrain.cli.cmd_config", "show or check resolved configs"),
    "plugin": ("nptrain.cli.cmd_plugin", "create a new plugin project (nptrain plugin new NAME)"),
    "compress": ("nptrain.cli.cmd_compress", "structured channel pruning → fx GraphModule + weights-only file"),
    "export": ("nptrain.cli.cmd_export", "export to ONNX (checked with onnxruntime) or torch.fx"),
    "quantize": ("nptrain.cli.cmd_quantize", "post-training static int8 (onnxruntime QDQ, OpenVINO/NNCF) with a report"),
    "benchmark": ("nptrain.cli.cmd_benchmark", "params, FLOPs, peak memory, latency in eager/fx/onnxruntime"),
    "zoo": ("nptrain.cli.cmd_zoo", "model zoo: pack runs, list, validate, pull from a remote zoo"),
    "convert": ("nptrain.cli.cmd_convert", "convert an original checkpoint into an nptrain safetensors file"),
}


def build_parser(load: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nptrain", description="Train, compress and export edge vision models.")
    parser.add_argument("--version", action="version", version=f"nptrain {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == load:
            importlib.import_module(module).add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _command_of(argv: Sequence[str]) -> Optional[str]:
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    debug = "--debug" in argv or bool(os.environ.get("NPTRAIN_DEBUG"))
    if not debug:  # a library's multi-line warning never stands above our one-line error
        one_line_warnings()
    try:
        parser = build_parser(load=command)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except KeyboardInterrupt:
        print("nptrain: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`nptrain list | head`): stop quietly, as Unix tools do; point stdout at
        # /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        # lazy: off the `nptrain --help` path
        from nptrain.errors import UserError

        if debug:
            raise
        if isinstance(exc, UserError):
            for line in getattr(exc, "lines", None) or [str(exc)]:  # ConfigErrors: one line per problem
                print(f"nptrain: error: {line}", file=sys.stderr)
            return int(getattr(exc, "exit_code", 2))  # RunStopped: 3, RunInterrupted: 128 + signal
        # lazy: off the `nptrain --help` path
        from nptrain.plugin_blame import blame_plugin

        blamed = blame_plugin(exc)  # a plugin's bug names the plugin, never the core
        if blamed:
            print(f"nptrain: error: {blamed}", file=sys.stderr)
            return 2
        print(f"nptrain: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
