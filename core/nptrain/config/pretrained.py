"""``use_pretrained: true`` without a path (how every NetsPresso Trainer config ships): find the weights offline.

NetsPresso Trainer downloads its own checkpoints of each model (``MODEL_CHECKPOINT_URL_DICT`` in its
``models/utils.py``) into ``~/.cache/netspresso_trainer/<model name>/``; nptrain never downloads, so it looks, in
order, for

1. an entry of the local model zoo (``$NPTRAIN_ZOO``) whose card names this architecture (the config's task first);
2. the file NetsPresso Trainer would have downloaded, in its own cache (a NetsPresso-layout safetensors file,
   which :mod:`nptrain.netspresso_weights` maps onto the model);
3. the original authors' safetensors weights in the Hugging Face hub cache (timm's ``timm/<arch>.<tag>``
   repositories), converted on load by the family's converter (``timm:PATH``; the model's name becomes the preset
   that converter fills, which builds the same network as the config);

and uses the first it finds. The original authors' pickled files that their libraries cache (torch hub's
``checkpoints/``, a hub repository's ``pytorch_model.bin``) are never read unasked: one found there is named in the
error with the line that uses it. When nothing is found, the error names NetsPresso's URL, where to put the file,
and the ``nptrain convert`` route."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import attrs

S3 = "https://netspresso-trainer-public.s3.ap-northeast-2.amazonaws.com/checkpoint/"
# NetsPresso Trainer 1.4.1's checkpoint per model name: (folder and file under S3, version id)
NETSPRESSO_FILES: dict[str, tuple[str, str]] = {
    "resnet18": ("resnet/resnet18_imagenet1k.safetensors", "mEn38lTgeWB_kkDQOdiF9DfQKrPL2CCy"),
    "resnet34": ("resnet/resnet34_imagenet1k.safetensors", ".6Ezbpm8lsRyW.HrrnL6AyywYnsjlarr"),
    "resnet50": ("resnet/resnet50_imagenet1k.safetensors", "UF509XgguL1T3IhxSw1HVpfvnhvGGy6J"),
    "mobilenet_v3_small": ("mobilenetv3/mobilenet_v3_small_imagenet1k.safetensors", "dPgl9WzLaJLqmuyDxsCoYawItdi0zES8"),
    "mobilenet_v3_large": ("mobilenetv3/mobilenet_v3_large_imagenet1k.safetensors", "jPG4LAueBDO5VrFGLQ51_z.iDHa5lOgP"),
    "mobilenet_v4_conv_small": ("mobilenetv4/mobilenet_v4_conv_small_imagenet1k.safetensors",
                                "0bpPNyhCNfF5FzHSnXkJFgP8pyU34GKt"),
    "mobilenet_v4_conv_medium": ("mobilenetv4/mobilenet_v4_conv_medium_imagenet1k.safetensors",
                                 "buTzldKEk8MSWZHehi494KsNMfP3G1Zr"),
    "mobilenet_v4_conv_large": ("mobilenetv4/mobilenet_v4_conv_large_imagenet1k.safetensors",
                                "_5D7G_yhUg2YJqwBBgNgUxCHSQPbERSD"),
    "mobilenet_v4_hybrid_medium": ("mobilenetv4/mobilenet_v4_hybrid_medium_imagenet1k.safetensors",
                                   "5eBSYAwF.HjVeTWTOS.YFeL3f_FIa6Nv"),
    "mobilenet_v4_hybrid_large": ("mobilenetv4/mobilenet_v4_hybrid_large_imagenet1k.safetensors",
                                  "UAbo2Ag4dMiOPdgO3qYl2ztK4Vn9PnAv"),
    "segformer_b0": ("segformer/segformer_b0_ade20k.safetensors", "0RRDpZeHb2VvVzFo2jGZN4A4bVQ.k49l"),
    "mobilevit_s": ("mobilevit/mobilevit_s_imagenet1k.safetensors", "IvxVWQ.yqTF9tvZr9E2JLyE7_1dBdDB4"),
    "vit_tiny": ("vit/vit_tiny_imagenet1k.safetensors", "FJwTnbWvFxnlIK.57wjWCh517kuFpOkF"),
    "efficientformer_l1": ("efficientformer/efficientformer_l1_imagenet1k.safetensors",
                           "U5gtiRXNNyBvXOpawPA7lfFil09rq50S"),
    "mixnet_s": ("mixnet/mixnet_s_imagenet1k.safetensors", "9YlFMjHa__1GYFv1H4l4_d4NqX_5djT5"),
    "mixnet_m": ("mixnet/mixnet_m_imagenet1k.safetensors", "F11svT5UpQJWGQTv9B..STYj5_P53O1Y"),
    "mixnet_l": ("mixnet/mixnet_l_imagenet1k.safetensors", "nLUZeSGKWRZVldPLc0FCvFCZc6lPPEyB"),
    "pidnet_s": ("pidnet/pidnet_s_cityscapes.safetensors", "lsgtDpiF1yqJpuCLYpruLdR6on0V53r8"),
    **{f"yolox_{s}": (f"yolox/yolox_{s}_coco.safetensors", v) for s, v in (
        ("nano", "JCXugDTwGegx9Kl6Jc5AMJpIkA.WlNVP"), ("tiny", "lJp1bCEToD_6IaL9kRCqcYIwVZ.QQ.1P"),
        ("s", "QRLqHKqhv8TSYBrmsQ3M8lCR8w7HEZyA"), ("m", "xVUySP8xgVTpa6NhCMQpulqmYeRUAhpS"),
        ("l", "1GR6YNRu.yUfnjq8hKPgARyZ6YejdxMB"), ("x", "NWskUEbSGviBWskHQ3P1dQZXnRXOR1WN"))},
}
# the original authors' files their libraries cache under torch hub's checkpoints/: (glob, converter source)
TORCH_HUB_FILES: dict[str, tuple[str, str]] = {
    **{f"resnet{d}": (f"resnet{d}-*.pth", "torchvision") for d in (18, 34, 50, 101)},
    **{f"mobilenet_v3_{s}": (f"mobilenet_v3_{s}-*.pth", "torchvision") for s in ("small", "large")}}
# timm's weights in the Hugging Face hub cache: NetsPresso's model name → (timm architecture = our preset)
HF_TIMM_MODELS: dict[str, str] = {
    **{f"mobilenet_v4_{s}": f"mobilenetv4_{s}" for s in ("conv_small", "conv_medium", "conv_large", "hybrid_medium",
                                                          "hybrid_large")},
    **{f"mixnet_{s}": f"mixnet_{s}" for s in ("s", "m", "l")}}


@attrs.frozen
class Found:
    spec: str  # what model.checkpoint gets
    where: str  # which place it was found in, for the note
    preset: Optional[str] = None  # the preset a converter source (spec SOURCE:PATH) fills, when not the model name


def netspresso_cache(name: str) -> Optional[Path]:
    """Where NetsPresso Trainer keeps its download of ``name`` (``~/.cache/netspresso_trainer/<name>/<file>``)."""
    if name not in NETSPRESSO_FILES:
        return None
    return Path.home() / ".cache" / "netspresso_trainer" / name / Path(NETSPRESSO_FILES[name][0]).name


def netspresso_url(name: str) -> Optional[str]:
    if name not in NETSPRESSO_FILES:
        return None
    path, version = NETSPRESSO_FILES[name]
    return f"{S3}{path}?versionId={version}"


def _zoo_entry(name: str, task: str) -> Optional[str]:
    """The stub of a local zoo entry for architecture ``name``: one of ``task`` first, then any (its backbone)."""
    # lazy: layer (README map: config may not import zoo; the zoo reads cards with the config's YAML reader)
    from nptrain.zoo.store import list_entries, weights_path, zoo_root

    root = zoo_root()
    matches = [(stub, card) for stub, card in list_entries(root) if card.architecture == name
               and weights_path(stub, root, verify=False).is_file()]
    matches.sort(key=lambda m: m[1].task != task)
    return matches[0][0] if matches else None


def _torch_hub(name: str) -> Optional[tuple[Path, str]]:
    if name not in TORCH_HUB_FILES:
        return None
    pattern, source = TORCH_HUB_FILES[name]
    home = Path(os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch")
    found = sorted((home / "hub" / "checkpoints").glob(pattern))
    return (found[0], source) if found else None


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home) / "hub"


def _hf_timm(name: str) -> tuple[Optional[Path], Optional[Path]]:
    """timm's weights for ``name`` in the hub cache: (a model.safetensors, else None; a pickled .bin, else None).
    Repositories are ``timm/<arch>`` or ``timm/<arch>.<tag>``; the first in name order wins."""
    arch = HF_TIMM_MODELS.get(name)
    if arch is None:
        return None, None
    cache = hf_hub_cache()
    repos = sorted(cache.glob(f"models--timm--{arch}")) + sorted(cache.glob(f"models--timm--{arch}.*"))
    for kind in ("model.safetensors", "pytorch_model.bin"):
        for repo in repos:
            found = sorted(repo.glob(f"snapshots/*/{kind}"))
            if found:
                return (found[0], None) if kind.endswith("safetensors") else (None, found[0])
    return None, None


def find_pretrained(name: str, task: str) -> Found:
    """The weights ``use_pretrained: true`` means for model ``name``; a ValueError saying where nptrain looked and
    how to get them when there are none."""
    stub = _zoo_entry(name, task)
    if stub:
        return Found(f"zoo:{stub}", "the local model zoo")
    cached = netspresso_cache(name)
    if cached is not None and cached.is_file():
        return Found(str(cached), "NetsPresso Trainer's download cache")
    safe, pickled = _hf_timm(name)
    if safe is not None:
        return Found(f"timm:{safe}", "timm's weights in the Hugging Face hub cache, converted on load",
                     preset=HF_TIMM_MODELS[name])
    if pickled is not None:
        preset = HF_TIMM_MODELS[name]
        raise ValueError(f"use_pretrained: true: {name}'s timm weights in the Hugging Face hub cache are a pickle "
                         f"({pickled}) nptrain reads only when named: convert it once: nptrain convert {pickled} "
                         f"--model {preset} --from timm -o {preset}.safetensors, and set checkpoint.path to it")
    hub = _torch_hub(name)
    if hub:
        path, source = hub
        raise ValueError(f"use_pretrained: true: {name}'s original weights are in torch hub's cache ({path}), a "
                         f"pickle nptrain reads only when named: set checkpoint.path: {source}:{path} with "
                         f"use_pretrained: true, or convert it once: nptrain convert {path} --model {name} "
                         f"--from {source} -o {name}.safetensors")
    url = netspresso_url(name)
    if url is None:
        raise ValueError(f"use_pretrained: true: NetsPresso Trainer has no checkpoint for model name {name!r} and "
                         "none is in the local zoo; set checkpoint.path to a weights file, or use_pretrained: false")
    raise ValueError(f"use_pretrained: true: no weights for {name} offline (local zoo, {cached}); nptrain never "
                     f"downloads: fetch {url} to {cached}, or set checkpoint.path to a weights file "
                     "(nptrain list converters: original authors' files)")
