"""Malformed configs give one located line: file:line:col: field: message (did you mean …)."""
from __future__ import annotations

import pytest

from nptrain.config.loader import load_config
from nptrain.builtin.transform_params import FlipParams, ResizeParams
from nptrain.errors import ConfigError

BASE = """
model:
  task: classification
  name: tiny
  architecture:
    backbone:
      name: simple_cnn
      params:
        norm_type: batch_norm
    head:
      name: fc
training:
  epochs: 3
"""


def error_of(paths, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config([str(p) for p in paths], overrides)
    return str(info.value)


def test_valid_config_loads_with_defaults(write):
    loaded = load_config([write("c.yaml", BASE)])
    assert loaded.resolved.backbone.params.stem_channels == 16
    assert loaded.resolved.head.params.num_layers == 1
    assert [l.provided.record.name for l in loaded.resolved.losses] == ["cross_entropy"]
    assert loaded.run.training.epochs == 3


def test_wrong_literal_names_line_and_suggests(write):
    path = write("c.yaml", BASE.replace("norm_type: batch_norm", "norm_type: batch_nrom"))
    assert error_of([path]) == (f"{path}:8:20: model.architecture.backbone.params.norm_type: expected one of "
                                "batch_norm, group_norm; got 'batch_nrom' (did you mean 'batch_norm'?)")


def test_unknown_key_is_error_with_did_you_mean(write):
    path = write("c.yaml", BASE.replace("epochs: 3", "epoch: 3"))
    assert error_of([path]) == f"{path}:12:3: training.epoch: unknown field 'epoch' (did you mean 'epochs'?)"


def test_unknown_section(write):
    path = write("c.yaml", BASE + "trainig:\n  epochs: 1\n")
    assert error_of([path]) == f"{path}:13:1: trainig: unknown section 'trainig' (did you mean 'training'?)"


def test_wrong_type(write):
    path = write("c.yaml", BASE.replace("epochs: 3", "epochs: three"))
    assert error_of([path]) == f"{path}:12:11: training.epochs: expected an integer; got 'three'"


def test_unknown_backbone_lists_installed_and_install_hint(write):
    from nptrain.plugin_manager import load_plugins

    path = write("c.yaml", BASE.replace("name: simple_cnn", "name: efficientformer"))
    without = load_plugins(disable=["np-plugin-efficientformer"])
    with pytest.raises(ConfigError) as info:
        load_config([str(path)], ["model.architecture.backbone.params={}"], plugins=without)
    msg = str(info.value)
    assert msg.startswith(f"{path}:6:13: model.architecture.backbone.name: unknown backbone 'efficientformer'")
    assert "(pip install np-plugin-efficientformer provides it)" in msg
    assert "installed: " in msg and "simple_cnn" in msg


def test_unknown_backbone_did_you_mean(write):
    path = write("c.yaml", BASE.replace("name: simple_cnn", "name: simple_cnm"))
    msg = error_of([path])
    assert msg.startswith(f"{path}:6:13: model.architecture.backbone.name: unknown backbone 'simple_cnm' (did you mean 'simple_cnn'?)")
    assert "installed: " in msg and "simple_cnn" in msg


def test_both_checkpoints_set(write, tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"")
    (tmp_path / "m.pt").write_bytes(b"")
    path = write("c.yaml", BASE.replace("  name: tiny\n", f"  name: tiny\n  checkpoint: {tmp_path}/w.safetensors\n"
                                        f"  fx_model_checkpoint: {tmp_path}/m.pt\n"))
    assert error_of([path]) == (f"{path}:5:24: model.fx_model_checkpoint: only one of checkpoint and "
                                "fx_model_checkpoint may be set (got both)")


def test_missing_checkpoint_file(write):
    path = write("c.yaml", BASE.replace("  name: tiny\n", "  name: tiny\n  checkpoint: nowhere/w.safetensors\n"))
    assert error_of([path]) == f"{path}:4:15: model.checkpoint: file not found: nowhere/w.safetensors"


def test_missing_config_file(tmp_path):
    assert error_of([tmp_path / "nope.yaml"]) == f"config file not found: {tmp_path / 'nope.yaml'}"


def test_invalid_yaml_names_line(write):
    path = write("c.yaml", "model:\n  task: [classification\n")
    assert error_of([path]).startswith(f"{path}:3:1: invalid YAML")


def test_loss_params_validated_at_their_line(write):
    path = write("c.yaml", BASE.replace("training:", "  losses:\n    - criterion: cross_entropy\n"
                                        "      label_smothing: 0.1\ntraining:"))
    assert error_of([path]) == (f"{path}:13:7: model.losses[0].label_smothing: unknown field 'label_smothing' "
                                "(did you mean 'label_smoothing'?)")


def test_files_merge_in_order_and_overrides_win(write):
    a = write("a.yaml", BASE)
    b = write("b.yaml", "training:\n  epochs: 7\nmodel:\n  architecture:\n    head:\n      params:\n        dropout_prob: 0.2\n")
    loaded = load_config([str(a), str(b)], ["environment.batch_size=8"])
    assert loaded.run.training.epochs == 7
    assert loaded.resolved.head.params.dropout_prob == 0.2
    assert loaded.resolved.backbone.record.name == "simple_cnn"  # kept from a.yaml
    assert loaded.run.environment.batch_size == 8
    # an error in the second file points at the second file
    b2 = write("b2.yaml", "training:\n  epochs: -x\n")
    assert error_of([a, b2]).startswith(f"{b2}:2:11: training.epochs")


def test_override_error_points_at_command_line(write):
    path = write("c.yaml", BASE)
    assert error_of([path], ["training.epochs=abc"]) == "<command line>: training.epochs: expected an integer; got 'abc'"
    with pytest.raises(ConfigError, match="must look like section.field=value"):
        load_config([str(path)], ["=3"])


def test_override_indexes_lists_and_merges_mappings(write):
    path = write("c.yaml", BASE + "augmentation:\n  train:\n    - name: resize\n      size: 64\n"
                 "    - name: randomhorizontalflip\n")
    loaded = load_config([str(path)], ["augmentation.train.0.size=96", "augmentation.train.-1.p=0.25",
                                       "model.architecture.head={params: {dropout_prob: 0.4}}"])
    train = loaded.run.augmentation.train
    assert [(t.name, t.params) for t in train] == [("resize", ResizeParams(size=96)), ("randomhorizontalflip", FlipParams(p=0.25))]
    assert loaded.resolved.head.record.name == "fc"  # merged into the file's head, not replaced
    assert loaded.resolved.head.params.dropout_prob == 0.4
    # a bad value set through an index is located on the command line, at load time
    assert error_of([path], ["augmentation.train.0.size=big"]) == (
        "<command line>: augmentation.train[0].size: expected an integer or a list; got 'big'")


@pytest.mark.parametrize("override, message", [
    ("augmentation.train.size=96", "<command line>: augmentation.train: is a list: name an item by its "
                                   "position, e.g. augmentation.train.0.size"),
    ("augmentation.train.5.size=96", "<command line>: augmentation.train: has 1 item(s); position 5 in override "
                                     "'augmentation.train.5.size=96' is out of range"),
    ("training.epochs.x=1", "<command line>: training.epochs: expected an integer"),
])
def test_override_path_errors_say_what_to_write(write, override, message):
    path = write("c.yaml", BASE + "augmentation:\n  train:\n    - name: resize\n      size: 64\n")
    assert message in error_of([path], [override])


def test_preset_name_fills_architecture(write):
    path = write("c.yaml", "model:\n  name: simple_cnn\n  architecture:\n    head:\n      params:\n        dropout_prob: 0.3\n")
    loaded = load_config([str(path)])
    assert loaded.resolved.backbone.record.name == "simple_cnn"
    assert loaded.resolved.head.params.dropout_prob == 0.3


def test_no_model_is_explained(write):
    assert "no model: set architecture.backbone" in error_of([write("c.yaml", "model:\n  task: classification\n")])
    path = write("d.yaml", "model:\n  name: simple_cnm\n")
    assert error_of([path]).startswith(f"{path}:2:9: model.name: unknown preset 'simple_cnm' for classification "
                                       "(did you mean 'simple_cnn'?); installed: ")
    path = write("e.yaml", "model:\n  name: simple_cnn_seg\n")
    assert error_of([path]) == (f"{path}:2:9: model.name: preset 'simple_cnn_seg' is for segmentation, not "
                                "'classification': set model.task or pick another preset")


def test_head_task_mismatch(write):
    path = write("c.yaml", BASE.replace("task: classification", "task: segmentation"))
    assert error_of([path]).startswith(f"{path}:10:13: model.architecture.head.name: head 'fc' does not support task 'segmentation'")


DETECTION = """
model:
  task: detection
  name: yolox_nano
  postprocessor:
    params:
      score_thresh: 0.05
      nms_thresh: 0.5
"""


def test_detection_postprocessor_is_typed_and_range_checked(write):
    loaded = load_config([write("d.yaml", DETECTION)])
    params = loaded.model.postprocessor.params
    assert (params.score_thresh, params.nms_thresh, params.max_detections, params.class_agnostic) == (0.05, 0.5, 100, False)
    path = write("d.yaml", DETECTION.replace("nms_thresh: 0.5", "nms_thresh: 1.5"))
    assert error_of([path]) == f"{path}:7:19: model.postprocessor.params.nms_thresh: invalid value 1.5: must be <= 1.0"
    path = write("d.yaml", DETECTION.replace("nms_thresh: 0.5", "nms_tresh: 0.5"))
    assert error_of([path]) == (f"{path}:7:7: model.postprocessor.params.nms_tresh: unknown field 'nms_tresh' "
                                "(did you mean 'nms_thresh'?)")
    path = write("d.yaml", DETECTION + "      max_detections: 0\n")
    assert error_of([path]).startswith(f"{path}:8:23: model.postprocessor.params.max_detections: invalid value 0")


def test_scalar_where_a_mapping_belongs_lists_the_fields(write):
    path = write("c.yaml", BASE)
    assert error_of([path], ["data.path.train=/data/train"]) == \
        "<command line>: data.path.train: expected a mapping with fields image, label; got '/data/train'"
    other = write("d.yaml", BASE + "environment: [1, 2]\n")  # the line after BASE's 12 lines
    assert error_of([other]).startswith(f"{other}:13:14: environment: expected a mapping with fields seed, ")
