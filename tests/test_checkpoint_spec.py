"""``CheckpointSpec.parse``: one reading of a checkpoint string for the config checks, the loader,
``nptrain convert`` and the plugin trace."""
from __future__ import annotations

import pytest

from nptrain.checkpoint_spec import CheckpointSpec


@pytest.mark.parametrize("text,kind,path,source", [
    ("weights/best.safetensors", "file", "weights/best.safetensors", None),
    ("/abs/r50.pth", "file", "/abs/r50.pth", None),
    ("torchvision:/abs/r50.pth", "source", "/abs/r50.pth", "torchvision"),
    ("megvii:yolox_nano.pth", "source", "yolox_nano.pth", "megvii"),
    ("C:/weights/r50.pth", "file", "C:/weights/r50.pth", None),  # a Windows drive, not a source
    ("runs/a:b/best.safetensors", "file", "runs/a:b/best.safetensors", None),  # a colon inside a path
    ("zoo:acme/resnet18-digits", "zoo", "acme/resnet18-digits", None),
    ("https://host/w.safetensors#sha256=ab", "url", "https://host/w.safetensors#sha256=ab", None),
    ("http://host/w.safetensors", "url", "http://host/w.safetensors", None),
    ("s3://bucket/w.safetensors", "file", "s3://bucket/w.safetensors", None),
])
def test_parse(text, kind, path, source):
    spec = CheckpointSpec.parse(text)
    assert (spec.text, spec.kind, spec.path, spec.source) == (text, kind, path, source)
    assert spec.remote == (kind in ("zoo", "url"))


def test_config_check_and_loader_read_a_colon_path_alike(tmp_path):
    """A file whose folder has a colon is a file for the config check too (it used to be an unknown source)."""
    from nptrain.config.loader import load_config
    from nptrain.errors import ConfigError

    folder = tmp_path / "a:b"
    folder.mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {{name: simple_cnn, checkpoint: '{folder}/missing.safetensors'}}\n")
    with pytest.raises(ConfigError, match=r"model.checkpoint: file not found: .*a:b/missing.safetensors"):
        load_config([cfg])
    cfg.write_text("model: {name: simple_cnn, checkpoint: 'torchvison:r50.pth'}\n")
    with pytest.raises(ConfigError, match=r"unknown checkpoint source 'torchvison'"):
        load_config([cfg])
