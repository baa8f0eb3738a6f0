"""Value transforms and fused tensors in converter key rules, their inverse, write_fixture, the fixture
messages, and assert_file_forms_agree with real BatchNorm counters."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import nptrain
from nptrain.converter_kit import convert_by_rule, rename
from nptrain.converter_rules import Cast, Concat, Flatten, Map, Permute, Reshape, Split, Transpose, invert
from nptrain.errors import ConversionError
from nptrain.testing import write_fixture
from nptrain.testing.parity import FixtureError, assert_parity, load_input, make_state_dict, read_keys, source_info


class Original(nn.Module):
    """simple_cnn as an 'original' implementation would lay it out: ``net.*`` and a 1×1 conv classifier."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.net = nptrain.create_model("simple_cnn", num_classes=num_classes).backbone
        self.fc = nn.Conv2d(128, num_classes, 1)

    def forward(self, x):
        pooled = self.net(x)[-1].mean((2, 3), keepdim=True)
        return self.fc(pooled).flatten(1)


def original_rule(key: str):
    if key.startswith("net."):
        return "backbone." + key[4:]
    if key == "fc.weight":
        return Map("head.classifier.weight", Flatten(1))  # (C, F, 1, 1) conv weight -> (C, F) Linear weight
    if key == "fc.bias":
        return "head.classifier.bias"
    return None


def test_write_fixture_then_convert_reproduces_the_reference(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    expected = write_fixture(Original(), tmp_path / "fx", input=x, gain=2 ** 0.5,
                             outputs=lambda m, inp: {"logits": m(inp)})
    folder = tmp_path / "fx"
    rows = read_keys(folder)
    assert rows[0] == ("net.stem.conv.weight", torch.float32, (16, 3, 3, 3))
    assert ("fc.weight", torch.float32, (3, 128, 1, 1)) in rows
    assert ("net.stem.norm.num_batches_tracked", torch.int64, ()) in rows
    info = source_info(folder)
    assert info["gain"] == 2 ** 0.5 and info["outputs"] == {"logits": {"shape": [1, 3]}} and "tolerance" in info
    assert not (folder / "int_buffers.safetensors").exists()  # only zero counters: nothing to store
    # the formula weights, converted, reproduce the reference's outputs
    converted = convert_by_rule(make_state_dict(folder), original_rule, source="orig", preset="simple_cnn")
    model = nptrain.create_model("simple_cnn", num_classes=3).eval()
    model.load_state_dict(converted, strict=True)
    with torch.no_grad():
        report = assert_parity({"logits": model(load_input(folder))}, folder)
    assert report["logits"] < 0.5 and expected["logits"].abs().max() > 0
    # a wrong transform is caught: the same weights, transposed classifier, fail parity
    bad = dict(converted, **{"head.classifier.weight": converted["head.classifier.weight"].flip(0)})
    model.load_state_dict(bad)
    with torch.no_grad(), pytest.raises(AssertionError, match="logits: max violation"):
        assert_parity({"logits": model(load_input(folder))}, folder)


def test_invert_round_trips_through_the_rule(tmp_path):
    write_fixture(Original(), tmp_path / "fx", input=torch.zeros(1, 3, 32, 32))
    ours = nptrain.create_model("simple_cnn", num_classes=3).state_dict()
    for value in ours.values():
        if value.is_floating_point():
            value.normal_()
    source = invert(original_rule, ours, read_keys(tmp_path / "fx"))
    assert list(source) == [name for name, _, _ in read_keys(tmp_path / "fx")]
    assert source["fc.weight"].shape == (3, 128, 1, 1)
    back = convert_by_rule(source, original_rule, source="orig", preset="simple_cnn")
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)


def test_split_concat_transpose_permute_reshape_cast_and_their_inverse():
    torch.manual_seed(0)
    ours = {"q.w": torch.randn(4, 6), "k.w": torch.randn(4, 6), "v.w": torch.randn(4, 6),
            "fused.w": torch.randn(6, 5), "t.w": torch.randn(3, 2), "p.w": torch.randn(2, 3, 4),
            "r.w": torch.randn(12), "h.w": torch.randn(5).half().float()}

    def rule(key: str):
        return {"qkv": Split(("q.w", "k.w", "v.w"), dim=0),
                "a": Concat("fused.w", 0, 2, dim=0), "b": Concat("fused.w", 1, 2, dim=0),
                "t": Map("t.w", Transpose(0, 1)), "p": Map("p.w", Permute(2, 0, 1)),
                "r": Map("r.w", Reshape(-1)), "h": Map("h.w", Cast(torch.float32))}.get(key)

    layout = [("qkv", torch.float32, (12, 6)), ("a", torch.float32, (2, 5)), ("b", torch.float32, (4, 5)),
              ("t", torch.float32, (2, 3)), ("p", torch.float32, (3, 4, 2)), ("r", torch.float32, (3, 4)),
              ("h", torch.float16, (5,))]
    source = invert(rule, ours, layout)
    assert {k: (v.dtype, tuple(v.shape)) for k, v in source.items()} == {n: (d, s) for n, d, s in layout}
    assert torch.equal(source["qkv"][4:8], ours["k.w"]) and torch.equal(source["b"], ours["fused.w"][2:])
    back = rename(source, rule, label="x")
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
    assert back["h.w"].dtype == torch.float32
    # incomplete concatenations, uneven splits and impossible reshapes name the keys
    with pytest.raises(ConversionError, match=r"1 concatenated target\(s\) incomplete: fused.w needs parts \[1\] of 2 \(has 0: a\)"):
        rename({k: v for k, v in source.items() if k != "b"}, rule, label="x")
    with pytest.raises(ConversionError, match=r"qkv: axis 0 of shape \(11, 6\) does not split into 3 equal parts"):
        rename({"qkv": torch.zeros(11, 6)}, rule, label="x")
    with pytest.raises(ConversionError, match=r"fc.weight \(3, 7\) → head: "):
        rename({"fc.weight": torch.zeros(3, 7)}, lambda k: Map("head", Reshape(2, 2)), label="x")


def test_unmapped_and_unfilled_are_named_together_with_counts(tmp_path):
    write_fixture(Original(), tmp_path / "fx", input=torch.zeros(1, 3, 32, 32))
    source = make_state_dict(tmp_path / "fx")
    source["net.stem.conv.kernel"] = source.pop("net.stem.conv.weight")  # a rule that misses one name

    def rule(key):
        return None if key.endswith("kernel") else original_rule(key)

    with pytest.raises(ConversionError) as info:
        convert_by_rule(source, rule, source="orig", preset="simple_cnn")
    assert str(info.value) == ("orig→simple_cnn: 1 unmapped source key(s): net.stem.conv.kernel; "
                               "1 target key(s) unfilled (backbone.stem.conv.weight); "
                               "same shape, maybe: net.stem.conv.kernel → backbone.stem.conv.weight")


def test_fixture_files_say_what_they_must_contain(tmp_path):
    with pytest.raises(FixtureError, match=r"keys.tsv: missing; keys.tsv holds one line per original state-dict "
                                           r"entry, in state_dict\(\) order: NAME<TAB>DTYPE<TAB>SHAPE.*write_fixture"):
        read_keys(tmp_path)
    (tmp_path / "keys.tsv").write_text("a.weight\tfloat32\t2,3\nb.weight float32 2\n")
    with pytest.raises(FixtureError, match=r"keys.tsv:2: 'b.weight float32 2' is not one line per"):
        read_keys(tmp_path)
    (tmp_path / "keys.tsv").write_text("a.weight\tfloat32\t2,3\n")
    with pytest.raises(FixtureError, match=r'source.json: missing; source.json holds a JSON object: "gain"'):
        make_state_dict(tmp_path)
    (tmp_path / "source.json").write_text("{gain: 1}")
    with pytest.raises(FixtureError, match=r"source.json:1: not JSON"):
        source_info(tmp_path)


CONVERTER_PLUGIN = '''
from nptrain import hookimpl
from nptrain.records import ConverterRecord


@hookimpl
def nptrain_converters():
    return [ConverterRecord(name="orig", presets=("simple_cnn",), factory="np_plugin_origconv:convert")]


def convert(state_dict, *, preset, keep_head=True):
    from nptrain.converter_kit import convert_by_rule
    from tests.test_converter_rules import original_rule

    return convert_by_rule(state_dict, original_rule, source="orig", preset=preset, keep_head=keep_head)
'''


def test_file_forms_agree_with_real_batchnorm_counters(fake_dist, tmp_path):
    """A source trained for a while has non-zero counters; the .pth form drops them (zero on load) and is still accepted."""
    from nptrain.plugin_manager import default_plugins
    from nptrain.testing.converters import assert_file_forms_agree

    fake_dist("np-plugin-origconv", "np_plugin_origconv", CONVERTER_PLUGIN)
    default_plugins.cache_clear()
    try:
        reference = Original()
        state = copy.deepcopy(reference.state_dict())
        for key in state:
            if key.endswith("num_batches_tracked"):
                state[key] = torch.tensor(1234)
        got = assert_file_forms_agree(state, source_name="orig", preset="simple_cnn", tmp_path=tmp_path, num_classes=3)
        assert int(got["backbone.stem.norm.num_batches_tracked"]) == 1234
    finally:
        default_plugins.cache_clear()
