"""SparseZoo-style model stubs:

``DOMAIN/SUB_DOMAIN/ARCHITECTURE{-SUB_ARCHITECTURE}/FRAMEWORK/REPO/DATASET{-TRAINING_SCHEME}/SPARSE_NAME-SPARSE_CATEGORY{-SPARSE_TARGET}``

The parser is strict and anchored: every part is checked on its own, and an error names the part,
what was found and what is allowed. ``str(stub)`` gives the canonical text back.
"""
from __future__ import annotations

import re
from typing import Optional

import attrs

from nptrain.errors import UserError

DOMAINS = {"cv": ("classification", "segmentation", "detection")}
FRAMEWORKS = ("pytorch", "onnx")
SPARSE_CATEGORIES = ("none", "conservative", "moderate", "aggressive")
SPARSE_TARGETS = ("disk", "edge", "deepsparse", "gpu", "cpu")
_WORD = re.compile(r"^[a-z0-9][a-z0-9_.]*$")
_SPARSE_NAME = re.compile(r"^(base|arch|pruned\d{0,2}|quant|pruned\d{0,2}_quant)$")
PARTS = ("DOMAIN", "SUB_DOMAIN", "ARCHITECTURE", "FRAMEWORK", "REPO", "DATASET", "SPARSIFICATION")


class StubError(UserError):
    pass


@attrs.frozen
class Stub:
    domain: str
    sub_domain: str
    architecture: str
    sub_architecture: Optional[str]
    framework: str
    repo: str
    dataset: str
    training_scheme: Optional[str]
    sparse_name: str
    sparse_category: str
    sparse_target: Optional[str] = None

    def __str__(self) -> str:
        arch = self.architecture + (f"-{self.sub_architecture}" if self.sub_architecture else "")
        data = self.dataset + (f"-{self.training_scheme}" if self.training_scheme else "")
        sparse = f"{self.sparse_name}-{self.sparse_category}" + (f"-{self.sparse_target}" if self.sparse_target else "")
        return "/".join((self.domain, self.sub_domain, arch, self.framework, self.repo, data, sparse))

    @property
    def path(self) -> str:
        """Relative folder of this stub inside a zoo."""
        return str(self)


def _word(stub: str, part: str, value: str, example: str) -> str:
    if not _WORD.match(value):
        raise StubError(f"stub {stub!r}: {part} {value!r} must be lowercase letters, digits, '_' or '.' "
                        f"(e.g. {example!r})")
    return value


def _choice(stub: str, part: str, value: str, allowed: tuple) -> str:
    if value not in allowed:
        raise StubError(f"stub {stub!r}: {part} {value!r} is not one of {', '.join(allowed)}")
    return value


def parse_stub(text: str) -> Stub:
    """Parse and validate a stub; raises :class:`StubError` naming the offending part."""
    text = text.strip()
    if text.startswith("zoo:"):
        text = text[4:]
    parts = text.split("/")
    if len(parts) != len(PARTS):
        raise StubError(f"stub {text!r} has {len(parts)} part(s); expected {len(PARTS)}: {'/'.join(PARTS)}")
    domain, sub, arch, framework, repo, data, sparse = parts
    _choice(text, "DOMAIN", domain, tuple(DOMAINS))
    _choice(text, "SUB_DOMAIN", sub, DOMAINS[domain])
    arch_name, _, sub_arch = arch.partition("-")
    _word(text, "ARCHITECTURE", arch_name, "resnet_v1")
    if sub_arch:
        _word(text, "SUB_ARCHITECTURE", sub_arch, "50")
    _choice(text, "FRAMEWORK", framework, FRAMEWORKS)
    _word(text, "REPO", repo, "nptrain")
    dataset, _, scheme = data.partition("-")
    _word(text, "DATASET", dataset, "imagenet")
    if scheme:
        _word(text, "TRAINING_SCHEME", scheme, "augmented")
    bits = sparse.split("-")
    if len(bits) not in (2, 3):
        raise StubError(f"stub {text!r}: SPARSE_NAME-SPARSE_CATEGORY[-SPARSE_TARGET] expected, got {sparse!r}")
    if not _SPARSE_NAME.match(bits[0]):
        raise StubError(f"stub {text!r}: SPARSE_NAME {bits[0]!r} is not one of base, pruned[NN], quant, "
                        "pruned[NN]_quant, arch")
    _choice(text, "SPARSE_CATEGORY", bits[1], SPARSE_CATEGORIES)
    target = _choice(text, "SPARSE_TARGET", bits[2], SPARSE_TARGETS) if len(bits) == 3 else None
    return Stub(domain, sub, arch_name, sub_arch or None, framework, repo, dataset, scheme or None,
                bits[0], bits[1], target)
