"""Every first-party preset is pruned at ratio 0.5, rebuilt from the weights-only file, retrained
for a step and exported to ONNX with onnxruntime parity (small inputs keep this fast).

The check is the conformance kit's (:mod:`nptrain.testing.compress`); each plugin's own conformance
tests already run it on its smallest preset per task, so this file covers the rest (the larger variants of a family
with ``NPTRAIN_ALL_PRESETS=1``: tests/preset_selection.py)."""
from __future__ import annotations

import pytest
import torch

import nptrain
from nptrain.plugin_manager import default_plugins
from nptrain.testing.compress import check_prune_rebuild_train_export
from nptrain.testing.conformance import compress_cases
from tests.preset_selection import skip_larger_variant

# presets documented in docs/compression.md as not prunable, with the reason
NOT_PRUNABLE: dict[str, str] = {}
SIZE = 64


def first_party_presets():
    plugins = default_plugins()
    out = []
    for dist in sorted({p.dist for p in plugins.registry.all("preset")}):
        if not dist.startswith("np-plugin-") or dist == "np-plugin-tinynet":
            continue
        in_kit = {id(p) for p in compress_cases(plugins, dist, "smallest")}
        out += [pytest.param(p.record.name, p.record.task, id=f"{p.record.name}-{p.record.task}")
                for p in plugins.registry.all("preset") if p.dist == dist and id(p) not in in_kit]
    return out


@pytest.mark.parametrize("preset,task", first_party_presets())
def test_prune_retrain_export(preset, task):
    if preset in NOT_PRUNABLE:
        pytest.skip(NOT_PRUNABLE[preset])
    skip_larger_variant(preset)
    # a family declaring prune_refusal is checked for that one-line refusal, then trained and exported unpruned

    def build():
        torch.manual_seed(0)
        return nptrain.create_model(preset, task=task, num_classes=4)

    x = torch.randn(2, 3, SIZE, SIZE)
    res = check_prune_rebuild_train_export(build, x, what=f"preset {preset} ({task})")
    assert res.onnx_max_abs_diff < 1e-3
