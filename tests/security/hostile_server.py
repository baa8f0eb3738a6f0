"""A loopback HTTP server (127.0.0.1 only) that serves whatever a test scripts, hostile or not.

``routes`` maps a request path to either bytes (sent with a Content-Length; ``Range: bytes=N-`` is
honoured with a 206) or a callable ``(handler) -> None`` that writes its own response (to misbehave:
send more than announced, stall, refuse a range). Every request path and Range header is recorded.
"""
from __future__ import annotations

import http.server
import threading
from typing import Callable, Union

Route = Union[bytes, Callable[[http.server.BaseHTTPRequestHandler], None]]


class HostileServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no keep-alive to wait out
            timeout = 20  # a test client that goes away never holds a server thread for long

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                elif callable(route):
                    route(self)
                else:
                    send_bytes(self, route)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "HostileServer":
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requested(self, path: str) -> bool:
        return any(p == path for p, _ in self.requests)


def send_bytes(handler: http.server.BaseHTTPRequestHandler, data: bytes, *, length: int | None = None) -> None:
    """``data`` as a 200 (or a 206 for ``Range: bytes=N-``); ``length`` overrides Content-Length."""
    rng = handler.headers.get("Range")
    start = int(rng.split("=")[1].split("-")[0]) if rng else 0
    body = data[start:]
    handler.send_response(206 if rng else 200)
    if rng:
        handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)
