"""The conformance matrix every provider passes (ours and third parties').

For each backbone (default params, every task it claims): forward shapes match the declared
``feature_info``. For each neck and head: built on a synthetic feature pyramid (of equal widths for a head that
refuses mixed ones), outputs have the declared shapes (detection heads: ``(2, N, 5 + classes)`` with boxes decoded to
pixels). For each preset: forward shape, a training step whose loss gradient reaches every trainable parameter,
``torch.fx.symbolic_trace`` parity (exact), a safetensors state-dict round trip; and for the presets
chosen by ``compress_presets`` (by default the smallest per task, to keep suites fast) what
``nptrain compress`` and ``nptrain export`` do: prune at 0.5, rebuild from the weights-only state dict,
a training step, ONNX export with onnxruntime parity (:mod:`nptrain.testing.compress`). For each
converter with a source fixture: every source key is mapped and every target key filled with the
right shape. For the same presets, one step of knowledge distillation between two instances
(:mod:`nptrain.testing.distill_check`): any model can be a student or a teacher. Third parties get all of it from ``conformance_tests("their-dist")`` (a subclass of the
returned class may add tests).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import pytest
import torch
import torch.fx
from safetensors.torch import load, save

from nptrain.config.components import ResolvedComponent
from nptrain.fx_explain import trace_explained
from nptrain.plugin_manager import PluginSet, load_plugins
from nptrain.records import Feature, FeatureInfo
from nptrain.errors import ConfigError
from nptrain.config.loader import load_config
from nptrain.testing.compress import check_prune_rebuild_train_export
from nptrain.testing.distill_check import check_distillation_step
from nptrain.testing.parity import make_state_dict

SYNTHETIC_PYRAMID = FeatureInfo((Feature(16, 4), Feature(24, 8), Feature(32, 16), Feature(48, 32)))
# for a head that refuses levels of different widths (its convs are shared over the levels, as behind an fpn)
EQUAL_PYRAMID = FeatureInfo(tuple(Feature(16, f.stride) for f in SYNTHETIC_PYRAMID.features))
NUM_CLASSES = 5


def _build_head(prov, task: str):
    """The head with its default params on the first synthetic pyramid it accepts: four levels of different widths,
    then of one width (convs shared over the levels, as behind an fpn), then the deepest three, two, one of those
    (a head whose default params fix its level count, e.g. one anchor list per level). Returns (head, pyramid)."""
    factory = prov.record.build_factory()
    candidates = [SYNTHETIC_PYRAMID, EQUAL_PYRAMID] + [FeatureInfo(EQUAL_PYRAMID.features[-k:]) for k in (3, 2, 1)]
    for pyramid in candidates[:-1]:
        try:
            return factory(_default(prov.record.params), pyramid, NUM_CLASSES, task), pyramid
        except ValueError:  # e.g. "every level must have the same width": try the next pyramid
            continue
    return factory(_default(prov.record.params), candidates[-1], NUM_CLASSES, task), candidates[-1]


def _cases(plugins: PluginSet, dist: str) -> dict[str, list]:
    reg = plugins.registry
    mine = lambda kind: [p for p in reg.all(kind) if p.dist == dist]  # noqa: E731
    return {
        "backbone": [pytest.param(p, t, id=f"{p.record.name}-{t}") for p in mine("backbone") for t in p.record.tasks],
        "neck": [pytest.param(p, id=p.record.name) for p in mine("neck")],
        "head": [pytest.param(p, t, id=f"{p.record.name}-{t}") for p in mine("head") for t in p.record.tasks],
        "preset": [pytest.param(p, id=f"{p.record.name}-{p.record.task}") for p in mine("preset")],
    }


def _param_count(plugins: PluginSet, prov: Any) -> float:
    """Parameters of a preset built on the meta device (nothing allocated); inf when it does not build."""
    # lazy: layer (README map: testing/ may not import modeling)
    from nptrain.modeling.api import create_model

    try:
        with torch.device("meta"):
            model = create_model(prov.record.name, task=prov.record.task, num_classes=NUM_CLASSES, plugins=plugins)
    except Exception:  # noqa: BLE001 - the preset tests report the failure itself
        return float("inf")
    return float(sum(p.numel() for p in model.parameters()))


def compress_cases(plugins: PluginSet, dist: str, which: Union[str, Iterable[str]] = "smallest") -> list[Any]:
    """The preset providers of ``dist`` the compress-and-export check runs on: ``"smallest"`` (per task, by
    parameter count), ``"all"``, or an iterable of preset names (empty: none)."""
    presets = [p for p in plugins.registry.all("preset") if p.dist == dist]
    if which == "all":
        return presets
    if which == "smallest":
        best: dict[str, tuple[float, Any]] = {}
        for prov in presets:
            count = _param_count(plugins, prov)
            if prov.record.task not in best or count < best[prov.record.task][0]:
                best[prov.record.task] = (count, prov)
        return [best[t][1] for t in sorted(best)]
    names = {which} if isinstance(which, str) else set(which)
    unknown = names - {p.record.name for p in presets}
    if unknown:
        raise ValueError(f"compress_presets names {sorted(unknown)}, which {dist} does not provide")
    return [p for p in presets if p.record.name in names]


def _default(cls: Optional[type]) -> Any:
    return cls() if cls is not None else None


def _input(size: int, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, size, size, generator=g)


def check_features(outputs: Any, info: FeatureInfo, size: Optional[int], batch: int) -> None:
    assert isinstance(outputs, (tuple, list)), f"expected a tuple of features, got {type(outputs).__name__}"
    assert len(outputs) == len(info), f"{len(outputs)} features returned, feature_info declares {len(info)}"
    for i, (out, feat) in enumerate(zip(outputs, info.features)):
        if feat.stride is None:
            assert tuple(out.shape) == (batch, feat.channels), f"feature {i}: {tuple(out.shape)} != {(batch, feat.channels)}"
        else:
            expected = (batch, feat.channels) + ((size // feat.stride,) * 2 if size else tuple(out.shape[2:]))
            assert tuple(out.shape) == expected, f"feature {i}: shape {tuple(out.shape)} != {expected} (stride {feat.stride})"


def check_detection_output(out: torch.Tensor, size: int, batch: int = 2) -> None:
    """The detection contract: ``(B, N, 5 + NUM_CLASSES)`` rows ``[cx, cy, w, h, obj, classes…]`` with
    boxes decoded to input pixels (finite, positive sizes, centres within reach of the input)."""
    assert out.dim() == 3 and out.shape[0] == batch and out.shape[2] == 5 + NUM_CLASSES, \
        f"detection output {tuple(out.shape)} is not (B={batch}, N, 5 + {NUM_CLASSES})"
    assert out.shape[1] > 0, "detection output has no predictions"
    boxes = out[..., :4]
    assert bool(torch.isfinite(out).all()), "detection output has non-finite values"
    assert bool((boxes[..., 2:] > 0).all()), "decoded widths/heights must be positive (pixels)"
    # untrained offsets move a centre by a few strides at most: centres far outside mean undecoded output
    assert bool((boxes[..., :2].abs() < 4 * size).all()), "box centres are not in input pixels"


def _synthetic_features(info: FeatureInfo, size: int, batch: int = 2) -> tuple:
    g = torch.Generator().manual_seed(1)
    return tuple(torch.randn((batch, f.channels) + ((size // f.stride,) * 2 if f.stride else ()), generator=g)
                 for f in info.features)


def _pred(out: Any) -> torch.Tensor:
    return out["pred"] if isinstance(out, dict) else out


def _targets(task: str, size: int, batch: int = 2) -> dict:
    g = torch.Generator().manual_seed(2)
    if task == "classification":
        return {"labels": torch.randint(0, NUM_CLASSES, (batch,), generator=g)}
    if task == "segmentation":
        masks = torch.randint(0, NUM_CLASSES, (batch, size, size), generator=g)
        masks[:, : size // 2, : size // 2] = 1  # a region with a boundary for edge-aware losses
        return {"masks": masks}
    boxes = [torch.tensor([[2.0, 3.0, size / 2, size / 2 + 3]]) for _ in range(batch)]
    return {"boxes": boxes, "classes": [torch.tensor([1]) for _ in range(batch)]}


def make_conformance_class(dist: str, *, input_size: int = 64, input_sizes: Optional[Mapping[str, int]] = None,
                           converter_fixtures: Optional[Mapping[tuple[str, str], tuple[Path, int]]] = None,
                           plugins: Optional[PluginSet] = None,
                           compress_presets: Union[str, Iterable[str]] = "smallest") -> type:
    """Build the parametrised test class for ``dist``.

    ``input_size``: square input side for all checks; ``input_sizes`` overrides it per backbone or
    preset name (e.g. a ViT with a fixed position embedding). ``converter_fixtures`` maps
    ``(source, preset)`` to ``(fixture folder with keys.tsv and source.json, num_classes)``.
    ``compress_presets``: which presets are pruned, rebuilt, trained a step and exported to ONNX:
    ``"smallest"`` per task (default), ``"all"``, or preset names."""
    plugins = plugins or load_plugins()
    cases = _cases(plugins, dist)
    cases["compress"] = [pytest.param(p, id=f"{p.record.name}-{p.record.task}")
                         for p in compress_cases(plugins, dist, compress_presets)]
    sizes = dict(input_sizes or {})
    fixtures = dict(converter_fixtures or {})
    size_of = lambda name: sizes.get(name, input_size)  # noqa: E731

    def _build_preset(prov):
        # lazy: layer (README map: testing/ may not import modeling)
        from nptrain.modeling.api import create_model

        torch.manual_seed(0)
        try:
            return create_model(prov.record.name, task=prov.record.task, num_classes=NUM_CLASSES, plugins=plugins)
        except ConfigError as exc:
            # a preset that combines providers of several plugins needs them all installed
            if "pip install" in str(exc):
                pytest.skip(f"needs another plugin: {exc.message}")
            raise

    class TestConformance:
        __test__ = True

        def test_plugin_loaded(self):
            info = [p for p in plugins.plugins if p.dist == dist]
            assert info, f"distribution {dist!r} registers no nptrain entry point"
            assert not any(p.error for p in info), [p.error for p in info]
            assert not plugins.registry.conflicts(), plugins.registry.conflict_messages()

        @pytest.mark.parametrize("prov,task", cases["backbone"] or [pytest.param(None, None, marks=pytest.mark.skip("no backbones"))])
        def test_backbone_feature_info(self, prov, task):
            # lazy: layer (README map: testing/ may not import modeling)
            from nptrain.modeling.builder import build_backbone

            comp = ResolvedComponent("backbone", prov, _default(prov.record.params), [])
            model = build_backbone(comp, task).eval()
            size = size_of(prov.record.name)
            with torch.no_grad():
                check_features(model(_input(size)), model.feature_info, size, 2)

        @pytest.mark.parametrize("prov", cases["neck"] or [pytest.param(None, marks=pytest.mark.skip("no necks"))])
        def test_neck_feature_info(self, prov):
            neck = prov.record.build_factory()(_default(prov.record.params), SYNTHETIC_PYRAMID).eval()
            with torch.no_grad():
                out = neck(_synthetic_features(SYNTHETIC_PYRAMID, input_size))
            check_features(out, neck.feature_info, input_size, 2)

        @pytest.mark.parametrize("prov,task", cases["head"] or [pytest.param(None, None, marks=pytest.mark.skip("no heads"))])
        def test_head_output(self, prov, task):
            head, pyramid = _build_head(prov, task)
            head.eval()
            with torch.no_grad():
                out = _pred(head(_synthetic_features(pyramid, input_size)))
            if task == "classification":
                assert tuple(out.shape) == (2, NUM_CLASSES)
            elif task == "segmentation":
                assert out.shape[:2] == (2, NUM_CLASSES) and out.dim() == 4
            elif task == "detection":
                check_detection_output(out, input_size)

        @pytest.mark.parametrize("prov", cases["preset"] or [pytest.param(None, marks=pytest.mark.skip("no presets"))])
        def test_preset_forward_fx_roundtrip(self, prov):
            size = size_of(prov.record.name)
            model = _build_preset(prov).eval()
            x = _input(size)
            with torch.no_grad():
                out = model(x)
            assert isinstance(out, torch.Tensor), "eval-mode output must be a plain tensor (export sees the main output)"
            if prov.record.task == "classification":
                assert tuple(out.shape) == (2, NUM_CLASSES)
            elif prov.record.task == "segmentation":
                assert tuple(out.shape) == (2, NUM_CLASSES, size, size)
            elif prov.record.task == "detection":
                check_detection_output(out, size)
            traced = trace_explained(model, what=f"preset {prov.record.name} ({prov.record.task})")
            with torch.no_grad():
                assert torch.equal(traced(x), out), "fx-traced output differs from eager"
            # safetensors round trip into a differently initialised twin
            blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
            torch.manual_seed(123)
            twin = _build_preset(prov).eval()
            twin.load_state_dict(load(blob), strict=True)
            with torch.no_grad():
                assert torch.equal(twin(x), out), "state-dict round trip changed the output"

        @pytest.mark.parametrize("prov", cases["preset"] or [pytest.param(None, marks=pytest.mark.skip("no presets"))])
        def test_preset_training_step_reaches_every_parameter(self, prov):
            # lazy: layer (README map: testing/ may not import modeling)
            from nptrain.modeling.builder import build_loss

            size = size_of(prov.record.name)
            model = _build_preset(prov).train()
            loaded = load_config({"model": {"name": prov.record.name, "task": prov.record.task}}, plugins=plugins,
                                 check_files=False)
            loss_fn = build_loss(loaded.resolved)
            loss = loss_fn(model(_input(size)), _targets(prov.record.task, size))
            assert torch.isfinite(loss), f"loss is {loss}"
            loss.backward()
            missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
            assert not missing, f"{len(missing)} parameters get no gradient, e.g. {missing[:5]}"

        @pytest.mark.parametrize("prov", cases["compress"] or [pytest.param(None, marks=pytest.mark.skip("no presets"))])
        def test_preset_prune_rebuild_train_export(self, prov):
            size = size_of(prov.record.name)
            check_prune_rebuild_train_export(lambda: _build_preset(prov), _input(size),
                                             what=f"preset {prov.record.name} ({prov.record.task})")

        @pytest.mark.parametrize("prov", cases["compress"] or [pytest.param(None, marks=pytest.mark.skip("no presets"))])
        def test_preset_distillation_step(self, prov):
            # lazy: layer (README map: testing/ may not import modeling)
            from nptrain.modeling.builder import build_loss
            size, task = size_of(prov.record.name), prov.record.task
            loaded = load_config({"model": {"name": prov.record.name, "task": task}}, plugins=plugins, check_files=False)
            loss_fn = build_loss(loaded.resolved)
            targets = {**_targets(task, size), **({"image_size": (size, size)} if task == "detection" else {})}
            check_distillation_step(lambda: _build_preset(prov), _input(size), task, loss_fn, targets,
                                    what=f"preset {prov.record.name} ({task})")

        @pytest.mark.parametrize("key", list(fixtures) or [pytest.param(None, marks=pytest.mark.skip("no converter fixtures"))],
                                 ids=lambda k: "-".join(k) if k else "none")
        def test_converter_maps_every_key(self, key):
            # lazy: layer (README map: testing/ may not import converter_kit, modeling)
            from nptrain.converter_kit import short
            from nptrain.modeling.api import create_model
            source, preset = key
            folder, num_classes = fixtures[key]
            conv = plugins.registry.converter(source, preset).record.build_factory()
            out = conv(make_state_dict(folder), preset=preset)
            task = plugins.registry.preset_tasks(preset)[0]
            target = create_model(preset, task=task, num_classes=num_classes, plugins=plugins).state_dict()
            unfilled, unexpected = sorted(set(target) - set(out)), sorted(set(out) - set(target))
            assert not unfilled and not unexpected, (
                f"{source}→{preset}: {len(unfilled)} target key(s) unfilled ({short(unfilled)}), "
                f"{len(unexpected)} returned key(s) the preset does not have ({short(unexpected)})")
            bad = [f"{k} {tuple(out[k].shape)} != {tuple(target[k].shape)}" for k in out
                   if tuple(out[k].shape) != tuple(target[k].shape)]
            assert not bad, f"{source}→{preset}: {len(bad)} shape mismatch(es): {'; '.join(bad[:5])}"

    TestConformance.__name__ = f"TestConformance_{dist.replace('-', '_')}"
    return TestConformance
