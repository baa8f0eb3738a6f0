"""Pruning shrinks models, keeps outputs and attention heads whole, and both output formats rebuild."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

import nptrain
from nptrain.compression.prune import output_layers, prune
from nptrain.compression.reshape import load_pruned
from nptrain.layers import MetaFormerBlock, Mlp, MultiHeadSelfAttention


def cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "nptrain", *args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("method", ["l1", "l2", "bn_scale", "taylor"])
def test_prune_shrinks_and_weights_only_rebuild_is_exact(method):
    torch.manual_seed(0)
    model = nptrain.create_model("simple_cnn", num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    report = prune(model, x, ratio=0.5, method=method, round_to=8)
    assert report.params_after < 0.4 * report.params_before
    assert report.ignored == ["head.classifier"] and model.head.classifier.out_features == 10
    assert all(m.out_channels % 8 == 0 for m in model.modules() if isinstance(m, nn.Conv2d))
    fresh = nptrain.create_model("simple_cnn", num_classes=10)
    load_pruned(fresh, model.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), model(x))


class TinyViT(nn.Module):
    """Patch embedding + two MetaFormer attention blocks + linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 64, 8, 8)
        self.blocks = nn.Sequential(*[MetaFormerBlock(MultiHeadSelfAttention(64, 4), Mlp(64, 128), nn.LayerNorm(64),
                                                      nn.LayerNorm(64), 64) for _ in range(2)])
        self.classifier = nn.Linear(64, 5)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.classifier(self.blocks(tokens).mean(1))


def test_attention_heads_stay_whole():
    torch.manual_seed(0)
    model = TinyViT().eval()
    x = torch.randn(2, 3, 32, 32)
    report = prune(model, x, ratio=0.5)
    attn = model.blocks[0].token_mixer
    assert attn.qkv.out_features == 3 * 4 * 16 and attn.proj.in_features == 64  # heads x head_dim kept
    assert model.blocks[0].mlp.fc1.out_features < 128  # the MLP was pruned
    assert report.params_after < report.params_before
    assert model(x).shape == (2, 5)
    assert output_layers(model) == ["classifier"]


def test_compress_cli_retrain_export_benchmark(trained_run, tmp_path):
    out = tmp_path / "pruned"
    text = cli("compress", str(trained_run), "--ratio", "0.5", "-o", str(out))
    assert "pruned 309,114 -> " in text
    for name in ("model_fx.pt", "model.safetensors", "compression.yaml", "retrain.yaml"):
        assert (out / name).is_file()
    fx_model = torch.load(str(out / "model_fx.pt"), weights_only=False)
    x = torch.randn(1, 3, 32, 32)
    rebuilt = nptrain.create_model("simple_cnn", num_classes=10)
    from safetensors.torch import load_file

    load_pruned(rebuilt, load_file(str(out / "model.safetensors")))
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), fx_model(x))
    digits = trained_run.parents[2] / "digits"
    data = [f"data.path.train.image={digits}/train", f"data.path.valid.image={digits}/valid",
            f"logging.output_dir={tmp_path}/runs", "training.epochs=1", "logging.onnx_export=false",
            "logging.fx_export=false", "logging.plot=false", "logging.tensorboard=false"]
    # retrain the GraphModule (the compressor interchange format) ...
    cli("run", str(out / "retrain.yaml"), f"model.fx_model_checkpoint={out}/model_fx.pt", *data, cwd=tmp_path)
    # ... and the weights-only file, rebuilt from the config's architecture
    cli("run", str(out / "retrain.yaml"), *data, cwd=tmp_path)
    summaries = sorted((tmp_path / "runs").rglob("summary.json"))
    assert len(summaries) == 2
    for s in summaries:
        summary = json.loads(s.read_text())
        assert summary["params"] < 100_000 and summary["best"]["value"] > 0.3
    export = tmp_path / "m13.onnx"
    cli("export", str(trained_run), "--opset", "13", "--dynamic-batch", "-o", str(export))
    assert onnx.load(str(export)).opset_import[0].version == 13
    bench = tmp_path / "bench.json"
    cli("benchmark", str(out / "model_fx.pt"), "--input-size", "32", "--repeats", "2", "--json", str(bench))
    result = json.loads(bench.read_text())
    assert result["params"] < 100_000 and result["flops"] > 0 and result["latency_ms"]["onnxruntime"] is not None


def test_declared_pruning_dims_reach_torch_pruning_and_bad_names_are_refused():
    import warnings

    from nptrain.compression.prune import declared_pruning_dims
    from nptrain.errors import UserError
    from nptrain.layers import LayerScale

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.scale = LayerScale(16, channel_dim=1)
            self.head = nn.Conv2d(16, 4, 1)

        def forward(self, x):
            return self.head(self.scale(self.conv(x)))

    model = Scaled()
    assert declared_pruning_dims(model) == {model.scale.gamma: 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unwrapped parameters detected" guess
        prune(model, torch.randn(1, 3, 8, 8), ratio=0.5, round_to=None)
    assert model.conv.out_channels == model.scale.gamma.numel() == model.head.in_channels == 8
    model.scale.pruning_dims = {"missing": 0}
    with pytest.raises(UserError, match="scale.pruning_dims names 'missing', which is not a parameter"):
        declared_pruning_dims(model)
