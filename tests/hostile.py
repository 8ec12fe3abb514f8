"""A small scripted HTTP server on 127.0.0.1 that misbehaves on purpose, independent of the simulator.

Each test says what every route answers: a status, headers and a body, or a function that writes
whatever it likes (a trickle, a redirect, an echo of the request's headers). Every request is
recorded with its headers, so a test can check what reached the server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HostileServer:
    """A threaded ``http.server`` on 127.0.0.1 (random port) whose routes the test scripts.

    Unknown routes answer 404. Stop it with :meth:`stop` (or use it as a context manager).
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Responder] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, method: str, path: str, responder: Responder) -> None:
        """Answer ``method path`` (path without query) with ``responder``."""
        self.routes[(method, path)] = responder

    def answer(
        self,
        method: str,
        path: str,
        status: int,
        body: bytes | str | dict[str, Any] = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method path`` with a fixed status, headers and body (a dict is sent as JSON)."""
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        data = payload.encode() if isinstance(payload, str) else payload
        self.route(method, path, lambda handler: send(handler, status, data, headers))

    def received(self, path: str) -> list[Recorded]:
        """The requests that reached ``path``."""
        with self._lock:
            return [request for request in self.requests if request.path.split("?")[0] == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._dispatch()

            def do_POST(self) -> None:
                self._dispatch()

            def log_message(self, *args: Any) -> None:
                pass

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                responder = server.routes.get((self.command, self.path.split("?")[0]))
                try:
                    if responder is None:
                        send(self, 404, b'{"error": "Not found"}')
                    else:
                        responder(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def send(
    handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    """Write one complete answer."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def trickle(data: bytes, every: float) -> Responder:
    """A responder that announces ``data`` and then sends it one byte every ``every`` seconds."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for byte in _bytes(data):
            handler.wfile.write(byte)
            handler.wfile.flush()
            time.sleep(every)

    return respond


def _bytes(data: bytes) -> Iterator[bytes]:
    for index in range(len(data)):
        yield data[index : index + 1]


def export_answer(download_url: str, record_count: Any = 1, data_type: str = "users") -> dict[str, Any]:
    """A successful answer of the CSV route pointing at ``download_url``."""
    return {
        "success": True,
        "data": {
            "filePath": "exports/users.csv",
            "downloadUrl": download_url,
            "dataType": data_type,
            "recordCount": record_count,
            "dateRange": {"from": "2026-11-24T00:00:00.000Z", "to": "2026-11-25T00:00:00.000Z"},
        },
    }


__all__ = ["HostileServer", "Recorded", "export_answer", "send", "trickle"]
