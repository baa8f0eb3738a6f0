"""``CheckpointSpec.parse``: the one reading of a checkpoint string (``model.checkpoint``, ``create_model(checkpoint=)``).

* ``path/to/weights.safetensors`` (or a source's own file): a local file;
* ``SOURCE:path``: an original checkpoint mapped by the converter registered for ``SOURCE``
  (``torchvision:r50.pth``); a one-letter "source" is a Windows drive and a "source" with a slash
  is part of a path, so both stay files;
* ``zoo:STUB``: an entry of the local model zoo (pulled from ``NPTRAIN_ZOO_URL`` if needed);
* ``https://…`` or ``http://…`` (optionally ``#sha256=<hex>``): a cached download.

A leaf module (standard library only): the config checks, the weight loader, ``nptrain convert`` and the
plugin trace all parse with it, so they cannot disagree about what a string means.
"""
from __future__ import annotations

from typing import Literal, Optional

import attrs

Kind = Literal["file", "source", "zoo", "url"]
URL_SCHEMES = ("http", "https")


@attrs.frozen
class CheckpointSpec:
    text: str  # as the user wrote it
    kind: Kind
    path: str  # the file (kind file/source), the zoo stub (zoo) or the URL (url)
    source: Optional[str] = None  # the converter source (kind source)

    @property
    def remote(self) -> bool:
        """Fetched when the run starts (zoo entry or URL): nothing local to check at load time."""
        return self.kind in ("zoo", "url")

    @classmethod
    def parse(cls, text: str) -> "CheckpointSpec":
        scheme, sep, rest = text.partition(":")
        if not sep or len(scheme) < 2 or "/" in scheme or "\\" in scheme:
            return cls(text, "file", text)
        if scheme == "zoo":
            return cls(text, "zoo", rest)
        if scheme in URL_SCHEMES:
            return cls(text, "url", text)
        if rest.startswith("//"):  # another URL scheme (s3://…): not a converter source, read as a path
            return cls(text, "file", text)
        return cls(text, "source", rest, scheme)
