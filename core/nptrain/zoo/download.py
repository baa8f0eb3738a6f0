"""Bounded HTTP(S) reads for the zoo: JSON documents and files, never more bytes than expected.

A server may be hostile or broken: every read stops one byte past the size the caller expects (the
manifest's ``size``, or a fixed cap), every socket read has a timeout, JSON documents have a total
deadline, redirects may only go to http(s) and never from https down to http, and a file is
streamed into ``<file>.part`` (resumed with a Range request) which is deleted whenever what arrived
cannot be the file.
"""
from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

from nptrain.errors import UserError

CHUNK = 1 << 16
TIMEOUT_S = float(os.environ.get("NPTRAIN_HTTP_TIMEOUT", "30"))  # per socket operation
JSON_DEADLINE_S = 120.0  # a whole index.json / manifest.json
MAX_JSON_BYTES = 4 << 20
MAX_URL_DOWNLOAD_BYTES = 4 << 30  # an https:// checkpoint has no manifest size: cap it


def offline() -> bool:
    return os.environ.get("NPTRAIN_OFFLINE", "") not in ("", "0")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s), and never from https to plain http."""

    max_redirections = 5

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        old, new = req.full_url.split(":", 1)[0].lower(), newurl.split(":", 1)[0].lower()
        if new not in ("http", "https") or (old == "https" and new == "http"):
            raise UserError(f"download failed: {req.full_url}: redirected to {newurl!r}, which nptrain refuses "
                            "(only http(s), never from https to http)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_Redirects)


class RangeRefused(UserError):
    """HTTP 416: the server will not resume from where the partial file ends."""


def open_url(url: str, start: int = 0) -> Any:
    """The HTTP response for ``url`` (from byte ``start``); failures become one-line errors."""
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        return _OPENER.open(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            raise RangeRefused(url) from None
        raise UserError(f"download failed: {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise UserError(f"download failed: {url}: {getattr(exc, 'reason', exc)}") from None


def _declared_length(resp: Any) -> Optional[int]:
    try:
        return int(resp.headers.get("Content-Length"))
    except (TypeError, ValueError):
        return None


def read_capped(url: str, limit: int = MAX_JSON_BYTES, deadline_s: float = JSON_DEADLINE_S) -> bytes:
    """The whole body of ``url``, refused past ``limit`` bytes or ``deadline_s`` seconds."""
    if offline():
        raise UserError(f"offline mode (NPTRAIN_OFFLINE): not fetching {url}")
    end = time.monotonic() + deadline_s
    with open_url(url) as resp:
        declared = _declared_length(resp)
        if declared is not None and declared > limit:
            raise UserError(f"{url}: {declared:,} bytes is more than the {limit:,} accepted; refused")
        body = bytearray()
        try:
            while len(body) <= limit:
                chunk = resp.read(min(CHUNK, limit + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
                if time.monotonic() > end:
                    raise UserError(f"{url}: took longer than {deadline_s:.0f} s to arrive; refused")
        except (OSError, http.client.HTTPException) as exc:
            raise UserError(f"download failed: {url}: {exc or type(exc).__name__}") from None
    if len(body) > limit:
        raise UserError(f"{url}: larger than {limit:,} bytes; refused")
    return bytes(body)


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)


def download(url: str, dest: Path, *, sha256: Optional[str] = None, size: Optional[int] = None,
             limit: Optional[int] = None, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` via ``dest.part``, resuming a partial file; never more than ``size``
    (or ``limit``, default :data:`MAX_URL_DOWNLOAD_BYTES`, when the size is unknown) bytes are kept,
    and sha256/size are verified."""
    if offline():
        raise UserError(f"offline mode (NPTRAIN_OFFLINE): not downloading {url}")
    cap = size if size is not None else (limit if limit is not None else MAX_URL_DOWNLOAD_BYTES)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_symlink() or dest.is_symlink():  # we never make links: something else put it there
        raise UserError(f"{part if part.is_symlink() else dest}: is a symbolic link; refusing to write through it")
    start = part.stat().st_size if part.exists() else 0
    if start > cap:
        _discard(part)
        start = 0
    if size is None or start < size:
        _fetch_into(url, part, start, cap, size is not None, progress)
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        raise UserError(f"download of {url} is incomplete ({got_size} of {size} bytes); run the command again to resume")
    if sha256 is not None:
        # lazy: ruamel
        from nptrain.zoo.store import sha256_file

        digest = sha256_file(part)
        if digest != sha256:
            _discard(part)
            raise UserError(f"download of {url} failed verification (sha256 {digest[:12]}… != {sha256[:12]}…); "
                            "the partial file was deleted")
    os.replace(part, dest)
    return dest


def _fetch_into(url: str, part: Path, start: int, cap: int, from_manifest: bool, progress: bool) -> None:
    """Append the response to ``part`` (from ``start``), stopping one byte past ``cap``."""
    what = f"the manifest's {cap:,} bytes" if from_manifest else f"the {cap:,}-byte limit for downloads"
    try:
        resp = open_url(url, start)
    except RangeRefused:
        _discard(part)
        raise UserError(f"download of {url}: the server refused to resume the partial file (HTTP 416 Range Not "
                        "Satisfiable: the file on the server has changed?); the partial file was deleted, run the "
                        "command again to download it from the start") from None
    with resp:
        if start and resp.status != 206:  # server ignored Range: start over
            start = 0
        elif start and not str(resp.headers.get("Content-Range", "")).startswith(f"bytes {start}-"):
            _discard(part)
            raise UserError(f"download of {url}: the server resumed at the wrong offset "
                            f"({resp.headers.get('Content-Range')!r}, asked for byte {start}); the partial file was deleted")
        declared = _declared_length(resp)
        if declared is not None and start + declared > cap:
            _discard(part)
            raise UserError(f"download of {url} refused: the server announces {start + declared:,} bytes, more than "
                            f"{what}; the partial file was deleted")
        bar = _bar(part.name[: -len(".part")], cap, start) if progress and sys.stderr.isatty() else None
        remaining = cap + 1 - start  # one byte past the cap is enough to know the server sends too much
        try:
            with open(part, "ab" if start else "wb") as fh:
                while remaining > 0:
                    chunk = resp.read(min(CHUNK, remaining))
                    if not chunk:
                        break
                    fh.write(chunk)
                    remaining -= len(chunk)
                    if bar:
                        bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise UserError(f"download of {url} was interrupted ({exc or type(exc).__name__}); run the command "
                            "again to resume") from None
        finally:
            if bar:
                bar.close()
    if remaining <= 0:
        _discard(part)
        raise UserError(f"download of {url} refused: the server sent more than {what}; the partial file was deleted")


def _bar(name: str, total: Optional[int], initial: int):
    # lazy: tqdm
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False)
