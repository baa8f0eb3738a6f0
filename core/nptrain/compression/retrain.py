"""``retrain.yaml``'s distillation block: the unpruned run as the teacher of its pruned copy."""
from __future__ import annotations

from pathlib import Path
from typing import Any

# what nptrain compress writes. Not the section's defaults (weight 0.5, temperature 4, Hinton's choice for
# training from scratch): a pruned model retrained for a few epochs recovered more with the teacher's
# plain probabilities weighted high; at temperature 4 it did worse than without a teacher on the digits
# walkthrough (docs/compression.md has the figures)
RETRAIN_DISTILLATION = {"weight": 0.9, "temperature": 1.0, "kind": "auto", "feature_pairs": "auto"}
# detection distils neck features (no logits, no temperature): the section's even mix with the task
# loss; 0.9 would leave the box losses a tenth of the signal (not measured on detection)
RETRAIN_DETECTION = {"weight": 0.5, "temperature": 4.0, "kind": "auto", "feature_pairs": "auto"}
OFF_HINT = ("the original run teaches the pruned model (docs/compression.md); to retrain without it set "
            "distillation: null here or pass training.distillation=null")


def with_teacher(config: dict[str, Any], run_dir: Path) -> Any:
    """``config`` (a run's unstructured config) with ``training.distillation`` naming ``run_dir`` as
    teacher, and a comment above it saying how to turn it off."""
    # lazy: ruamel
    from ruamel.yaml.comments import CommentedMap

    training = CommentedMap(config.get("training") or {})
    task = (config.get("model") or {}).get("task")
    settings = RETRAIN_DETECTION if task == "detection" else RETRAIN_DISTILLATION
    training["distillation"] = {"teacher": str(Path(run_dir).resolve()), **settings}
    training.yaml_set_comment_before_after_key("distillation", before=OFF_HINT, indent=2)
    out = CommentedMap(config)
    out["training"] = training
    return out
