"""One check for a weight converter's plumbing: every form a real file comes in gives the same weights.

Parity (the converted weights reproduce the original outputs) is the plugin's own test, against its
fixture; this helper covers the rest, the same way for every converter, first-party or not::

    from nptrain.testing.converters import assert_file_forms_agree

    def test_file_forms(source, tmp_path):  # source: the original-layout state dict
        assert_file_forms_agree(source, source_name="torchvision", preset="resnet50", tmp_path=tmp_path)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import torch
import nptrain
from nptrain.plugin_manager import default_plugins
from nptrain.errors import ConversionError

COUNTER = "num_batches_tracked"


def module_wrapped(state: Mapping[str, torch.Tensor]) -> Any:
    """What a DataParallel training script saves: ``{"state_dict": {"module.<key>": tensor}}``."""
    return {"state_dict": {f"module.{k}": v for k, v in state.items()}}


def assert_file_forms_agree(state: Mapping[str, torch.Tensor], *, source_name: str, preset: str, tmp_path: Path,
                            num_classes: int = 1000, task: Optional[str] = None,
                            wrap: Callable[[Mapping[str, torch.Tensor]], Any] = module_wrapped,
                            file_name: str = "original.pth") -> dict[str, torch.Tensor]:
    """Convert ``state`` (original layout) for ``preset`` four ways and assert they agree tensor for tensor.

    1. in memory, with the converter registered for ``source_name`` (the reference);
    2. from a ``.pth`` holding ``wrap(state)`` without BatchNorm counters (an older, wrapped file),
       read by the core loader with ``weights_only=True``: equal except the counters, which must be zero
       (so ``state`` may hold any counter values);
    3. ``nptrain convert`` of a ``.safetensors`` copy, then loaded as our checkpoint;
    4. ``create_model(..., checkpoint="SOURCE:file")``.
    Every load is strict. Returns the reference state dict."""
    # lazy: safetensors; layer (README map: testing/ may not import cli, convert)
    from safetensors.torch import save_file

    from nptrain.cli.main import main
    from nptrain.convert import convert_checkpoint
    def model(checkpoint: Optional[str] = None):
        return nptrain.create_model(preset, task=task, num_classes=num_classes, checkpoint=checkpoint)

    def assert_same(got: Mapping[str, torch.Tensor], how: str, counters_dropped: bool = False) -> None:
        assert got.keys() == reference.keys(), f"{how}: keys differ: {sorted(set(got) ^ set(reference))[:5]}"
        differ = [k for k in reference if not (counters_dropped and k.endswith(COUNTER))
                  and not torch.equal(got[k], reference[k])]
        assert not differ, f"{how}: {len(differ)} tensor(s) differ: {differ[:5]}"
        if counters_dropped:  # that file had no BatchNorm counters: the loader starts them at zero
            nonzero = [k for k in reference if k.endswith(COUNTER) and int(got[k]) != 0]
            assert not nonzero, f"{how}: BatchNorm counters missing from the file must load as zero: {nonzero[:5]}"

    converter = default_plugins().registry.converter(source_name, preset).record.build_factory()
    reference = dict(converter(dict(state), preset=preset, keep_head=True))
    model().load_state_dict(reference, strict=True)

    old = tmp_path / file_name
    torch.save(wrap({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}), old)
    assert_same(convert_checkpoint(old, source=source_name, preset=preset), f"wrapped {file_name}", counters_dropped=True)

    plain = tmp_path / "original.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(plain))
    ours = tmp_path / "converted.safetensors"
    assert main(["convert", str(plain), "--model", preset, "--from", source_name, "-o", str(ours)]) == 0
    assert_same(model(str(ours)).state_dict(), "nptrain convert, then checkpoint=")
    assert_same(model(f"{source_name}:{plain}").state_dict(), f"checkpoint={source_name}:FILE")
    return reference


def assert_head_drops(state: Mapping[str, torch.Tensor], *, source_name: str, preset: str,
                      source_head_prefixes: tuple[str, ...], num_classes: int = 7) -> dict[str, torch.Tensor]:
    """``keep_head=False`` for fine-tuning on another class count: no ``head.`` key comes back, a model with
    ``num_classes`` takes the rest with only its head missing, a file without its classifier
    (``source_head_prefixes`` removed) converts to the same keys, and without ``keep_head=False`` that
    file is refused for its unfilled head. Returns the headless conversion."""
    converter = default_plugins().registry.converter(source_name, preset).record.build_factory()
    converted = dict(converter(dict(state), preset=preset, keep_head=False))
    assert not any(k.startswith("head.") for k in converted)
    model = nptrain.create_model(preset, num_classes=num_classes)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected and missing and all(k.startswith("head.") for k in missing), (missing, unexpected)
    # torch fills a missing BatchNorm counter with zero without reporting it, so a head with BatchNorm (an fc_conv
    # head) lists its counters in neither
    assert sorted(missing) == sorted(k for k in model.state_dict() if k.startswith("head.") and not k.endswith(COUNTER))
    headless = {k: v for k, v in state.items() if not k.startswith(source_head_prefixes)}
    assert len(headless) < len(state), f"no source key starts with {source_head_prefixes}"
    assert set(converter(headless, preset=preset, keep_head=False)) == set(converted)
    try:
        converter(headless, preset=preset, keep_head=True)
    except ConversionError as exc:
        assert "unfilled" in str(exc) and "head." in str(exc), exc
    else:
        raise AssertionError("a file without its classifier converted with keep_head=True")
    return converted
