"""Model structure, modes, fx traceability, presets' parameter counts and the light entry module."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.fx

import nptrain

from np_plugin_pidnet.model import PIDNet
from np_plugin_pidnet.params import PIDNetParams
from np_plugin_pidnet.presets import PARAMS_19, PARAMS_19_NO_AUX, VARIANTS


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_param_counts_match_the_original(variant):
    # PIDNet(augment=True/False, num_classes=19) of XuJiacong/PIDNet, counted on the original class:
    # s 7,720,935 (= fixture source.json) / 7,625,715; m 28,763,111 / 28,538,515; l 37,314,311 / 36,939,571.
    # The augment=False counts are the paper's 7.6M / 28.5M / 36.9M.
    name = f"pidnet_{variant}"
    with torch.device("meta"):
        assert _count(nptrain.create_model(name, task="segmentation", num_classes=19)) == PARAMS_19[name]
        no_aux = PIDNet(PIDNetParams(**VARIANTS[variant], augment=False), 19)
    assert _count(no_aux) == PARAMS_19_NO_AUX[name]
    assert PARAMS_19 == {"pidnet_s": 7_720_935, "pidnet_m": 28_763_111, "pidnet_l": 37_314_311}
    assert PARAMS_19_NO_AUX == {"pidnet_s": 7_625_715, "pidnet_m": 28_538_515, "pidnet_l": 36_939_571}


def test_state_dict_size_of_the_original_layout():
    # the original state dicts have 479 (S, M) and 545 (L) entries; 453 / 519 without the aux heads
    for variant, entries in (("s", 479), ("m", 479), ("l", 545)):
        with torch.device("meta"):
            assert len(PIDNet(PIDNetParams(**VARIANTS[variant]), 19).state_dict()) == entries
            assert len(PIDNet(PIDNetParams(**VARIANTS[variant], augment=False), 19).state_dict()) == entries - 26


def _small(**kw) -> PIDNet:
    torch.manual_seed(0)
    return PIDNet(PIDNetParams(channels=8, ppm_channels=8, head_channels=16, **kw), num_classes=3)


@pytest.mark.parametrize("m", [2, 3])  # light (PAPPM, Light_Bag) and heavy (DAPPM, Bag) designs
def test_modes_shapes_and_fx_in_both_modes(m):
    model = _small(m=m)
    x = torch.randn(2, 3, 64, 96)
    model.train()
    out = model(x)
    assert set(out) == {"pred", "extra_p", "extra_d"}
    assert tuple(out["pred"].shape) == (2, 3, 8, 12) == tuple(out["extra_p"].shape)
    assert tuple(out["extra_d"].shape) == (2, 1, 8, 12)
    model.eval()
    with torch.no_grad():
        eager = model(x)
        p_aux, main, boundary = model.forward_all(x)
    assert isinstance(eager, torch.Tensor) and torch.equal(eager, main)
    assert p_aux.shape == main.shape and boundary.shape[1] == 1
    traced_eval = torch.fx.symbolic_trace(model)
    # eval graph: the aux heads are not executed (not even traced)
    assert not any(str(n.target).startswith("seghead") for n in traced_eval.graph.nodes)
    with torch.no_grad():
        assert torch.equal(traced_eval(x), eager)
    model.train()
    traced_train = torch.fx.symbolic_trace(model)
    assert any(str(n.target).startswith("seghead_d") for n in traced_train.graph.nodes)
    torch.manual_seed(1)
    ref = model(x)
    torch.manual_seed(1)
    got = traced_train(x)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key


def test_without_aux_heads_returns_a_tensor_in_training_too():
    model = _small(augment=False).train()
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 3, 4, 4)
    assert not hasattr(model, "seghead_p")


def test_task_model_upsamples_pred_only():
    model = nptrain.create_model({"task": "segmentation", "architecture": {"full": {
        "name": "pidnet", "params": {"channels": 8, "ppm_channels": 8, "head_channels": 16}}}}, num_classes=4)
    out = model.train()(torch.randn(2, 3, 64, 64))
    assert tuple(out["pred"].shape) == (2, 4, 64, 64)
    assert tuple(out["extra_p"].shape) == (2, 4, 8, 8) and tuple(out["extra_d"].shape) == (2, 1, 8, 8)


def test_entry_module_does_not_import_torch():
    code = "import sys, np_plugin_pidnet.plugin as p; p.nptrain_presets(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
