"""A loopback HTTP server (with Range support) to serve zoos."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range ``Range: bytes=N-`` support; records every request."""

    log: list = []

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        RangeHandler.log.append((self.path, self.headers.get("Range")))
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not rng or not path.is_file():
            return super().do_GET()
        start = int(rng.split("=")[1].split("-")[0])
        data = path.read_bytes()[start:]
        self.send_response(206)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Range", f"bytes {start}-{start + len(data) - 1}/{path.stat().st_size}")
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def serve():
    """serve(folder) -> base URL on 127.0.0.1; the server stops after the test."""
    servers = []

    def _serve(folder: Path) -> str:
        handler = lambda *a, **k: RangeHandler(*a, directory=str(folder), **k)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        RangeHandler.log = []
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield _serve
    for server in servers:
        server.shutdown()
        server.server_close()
