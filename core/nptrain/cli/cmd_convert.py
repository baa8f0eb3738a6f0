"""``nptrain convert SRC --model PRESET --from SOURCE -o OUT.safetensors``."""
from __future__ import annotations

import argparse
from pathlib import Path
from nptrain.errors import UserError
from nptrain.plugin_manager import default_plugins
from nptrain.training_io import atomic_write_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="original checkpoint: .pth/.pt/.safetensors file or a Hugging Face folder")
    parser.add_argument("--model", required=True, help="target preset, e.g. resnet50")
    parser.add_argument("--from", dest="source", required=True, help="source layout, e.g. torchvision, mlcvnets, hf")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors")
    parser.add_argument("--drop-head", action="store_true", help="leave out the classifier (for fine-tuning)")
    parser.add_argument("--no-verify", action="store_true", help="skip loading the result into the preset")


def run(args: argparse.Namespace) -> int:
    # lazy: torch
    from nptrain.convert import convert_checkpoint

    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise UserError(f"output must end in .safetensors, got {out}")
    plugins = default_plugins()
    state = convert_checkpoint(args.src, source=args.source, preset=args.model, keep_head=not args.drop_head,
                               plugins=plugins)
    if not args.no_verify:
        # lazy: torch
        from nptrain.checkpoints import apply_state_dict
        from nptrain.modeling.api import create_model

        tasks = plugins.registry.preset_tasks(args.model)
        head = [v for k, v in state.items() if k.endswith(("classifier.weight", "cls_pred.weight"))]
        num_classes = int(head[-1].shape[0]) if head else 1000
        model = create_model(args.model, task=tasks[0] if tasks else None, num_classes=num_classes, plugins=plugins)
        report = apply_state_dict(model, state, strict=not args.drop_head, source=args.src)
        for line in report.lines():
            print(f"note: {line}")
    # lazy: safetensors
    from safetensors.torch import save

    atomic_write_bytes(out, save({k: v.contiguous() for k, v in state.items()},
                                 metadata={"nptrain_preset": args.model, "nptrain_source": args.source}))
    print(f"wrote {len(state)} tensors to {out}")
    return 0
