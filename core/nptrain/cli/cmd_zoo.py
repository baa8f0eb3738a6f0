"""``nptrain zoo add|list|show|path|rm|validate|pull|index``: the model zoo."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nptrain.pickles import TRUST_HELP
from nptrain.pickles import command_pickles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("add", help="pack a finished run directory as a zoo entry")
    p.add_argument("run_dir", help="run directory, or one of its quantized-* folders (a quant entry)")
    p.add_argument("--stub", required=True, help="e.g. cv/classification/resnet_v1-50/pytorch/nptrain/digits/base-none; "
                   "a quantized entry may end in /auto: SPARSE_NAME-SPARSE_CATEGORY are measured")
    p.add_argument("--quantized", metavar="DIR", help="pack this quantized-* folder's int8 ONNX (quant / prunedNN_quant)")
    p.add_argument("--repeats", type=int, default=20, help="latency rounds for a quantized entry's card (default 20)")
    p.add_argument("--force", action="store_true", help="replace an existing entry")
    p.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)
    sub.add_parser("list", help="entries in the local zoo").add_argument("--json", action="store_true")
    for name, text in (("show", "print an entry's card"), ("path", "print an entry's folder"),
                       ("rm", "delete an entry"), ("validate", "check checksums and re-run sample inputs")):
        sub.add_parser(name, help=text).add_argument("stub")
    p = sub.add_parser("pull", help="download an entry from a remote zoo (NPTRAIN_ZOO_URL or --url)")
    p.add_argument("stub")
    p.add_argument("--url", help="base URL of the remote zoo")
    p.add_argument("--allow-pickle", action="store_true", help="also download pickled files (*.pt, *.pth, *.pkl, *.bin, ...; any letter case)")
    p = sub.add_parser("index", help="write index.json so a folder can be served as a remote zoo")
    p.add_argument("folder", nargs="?", help="zoo folder (default: the local zoo)")


def run(args: argparse.Namespace) -> int:
    # lazy: ruamel
    from nptrain.zoo import store

    if args.action == "add":
        # lazy: torch
        from nptrain.zoo.pack import add_run

        with command_pickles(args.trust_pickle):
            print(f"added {add_run(args.run_dir, args.stub, force=args.force, quantized=args.quantized, repeats=args.repeats, log=print)}")
    elif args.action == "list":
        rows = [{"stub": s, "task": c.task, "params": c.params, "metrics": c.metrics} for s, c in store.list_entries()]
        if args.json:
            print(json.dumps(rows, indent=2))
        for r in rows if not args.json else []:
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in r["metrics"].items())
            print(f"{r['stub']}  [{r['task']}, {r['params']:,} params{', ' + metrics if metrics else ''}]")
        if not rows and not args.json:
            print(f"(the zoo at {store.zoo_root()} is empty)")
    elif args.action == "show":
        folder, _ = store.load_card(args.stub)
        print((folder / "model.md").read_text(), end="")
    elif args.action == "path":
        print(store.load_card(args.stub)[0])
    elif args.action == "rm":
        print(f"removed {store.remove_entry(args.stub)}")
    elif args.action == "validate":
        # lazy: torch
        from nptrain.zoo.pack import validate_entry

        report = validate_entry(args.stub)
        print("ok: checksums match; " + ", ".join(f"{k} {v:.2e}" for k, v in report.items()))
    elif args.action == "pull":
        # lazy: ruamel
        from nptrain.zoo.remote import pull

        print(f"pulled {pull(args.stub, base_url=args.url, allow_pickle=args.allow_pickle)}")
    elif args.action == "index":
        # lazy: ruamel
        from nptrain.zoo.remote import write_index

        print(f"wrote {write_index(Path(args.folder) if args.folder else store.zoo_root())}")
    return 0
