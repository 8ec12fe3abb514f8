"""The Langdock simulator: an API server and a signed-URL download server on loopback ports.

The API server answers ``POST /export/...`` like the Langdock Usage Export API; the download server plays
the object store behind the signed ``downloadUrl`` it hands out (S3-style errors). Both record every
request and can be told to misbehave (:meth:`LangdockSimulator.inject`,
:meth:`LangdockSimulator.inject_download`, :meth:`LangdockSimulator.inject_for`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import socketserver
import struct
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from fractions import Fraction
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

from airflow_provider_langdock.clock import SYSTEM_CLOCK, Clock
from airflow_provider_langdock.testing.columns import DataTypeSpec, simulated_data_type
from airflow_provider_langdock.testing.contract import (
    ApiError,
    Route,
    SimulatedExportRequest,
    bad_request,
    iso_millis,
    match_route,
    no_data,
    validate_export,
)
from airflow_provider_langdock.testing.generator import (
    MICROS_PER_HOUR,
    SimulatedExportPlan,
    to_micros,
    workspace,
)

logger = logging.getLogger(__name__)

_ADMIN_PREFIX = "/_simulator/"
_POLL_INTERVAL = 0.02
"""Seconds between shutdown checks of the server loops (stop() waits up to this long)."""
_FILE_PATH = re.compile(r"/files/([0-9a-f]{32})")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_UNAUTHORIZED = ApiError(401, "Unauthorized", "Invalid or missing API key")
_FAULT_MESSAGES = {
    400: "Bad Request",
    401: "Invalid or missing API key",
    404: "No usage data found for the selected period",
    429: "Rate limit exceeded. Please retry later.",
}
_FAULT_ERRORS = {404: "No data found"}


_SIGNATURE_IN_LOG = re.compile(r"([?&]signature=)[^&\s\"]+")


class HeaderDict(dict[str, str]):
    """Request headers as received, looked up case-insensitively (``headers["authorization"]`` works)."""

    def _key(self, name: str) -> str:
        if not dict.__contains__(self, name):
            for key in self:
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, self._key(name))

    def get(self, name: str, default: Any = None) -> Any:
        """The header's value, or ``default``."""
        return dict.get(self, self._key(name), default)


@dataclass(frozen=True)
class RecordedRequest:
    """A request one of the simulator's servers received."""

    server: Literal["api", "download"]
    method: str
    path: str
    """Path with query string, as sent."""
    headers: dict[str, str]
    """Headers as sent (a dict with case-insensitive lookups)."""
    json: Any | None
    """Parsed JSON body; None without a (valid JSON) body."""


@dataclass
class _ApiFault:
    status: int | None
    count: int
    retry_after: str | None
    body: dict[str, Any] | str | None
    delay: float
    reset: bool
    path: str | None


@dataclass
class _DownloadFault:
    status: int | None
    count: int
    truncate_after: int | None
    reset_after: int | None
    delay: float


@dataclass
class _StoredFile:
    path: Path
    size: int
    expires_at: float
    expired: bool = False


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class LangdockSimulator:
    """An offline fake of the Langdock Usage Export API (API server + signed-URL download server).

    Configuration attributes (``seed``, ``row_count``, ``rows_per_day``, ``row_cap``, ``byok``,
    ``disabled_data_types``, ``url_ttl``, ``history_days``, ``accept_ranges``) may be changed while it
    runs; they apply to the next request. :meth:`add_busy_period` makes the row density non-uniform.
    With ``reuse_exports`` a repeated export request (same data type, route, period, grouping and
    data settings) is answered with the file and signed URL made the first time, as benchmarks need.
    """

    def __init__(
        self,
        *,
        api_key: str | Iterable[str] = "sim-key",
        host: str = "127.0.0.1",
        port: int = 0,
        download_port: int = 0,
        seed: int = 0,
        row_count: int = 100,
        rows_per_day: float | None = None,
        row_cap: int = 1_000_000,
        data_start: datetime | None = None,
        data_end: datetime | None = None,
        disabled_data_types: Iterable[str] = frozenset({"workflows"}),
        byok: bool = False,
        path_prefix: str = "",
        url_ttl: float = 3600.0,
        storage_dir: str | None = None,
        history_days: int = 365,
        accept_ranges: bool = True,
        reuse_exports: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.api_keys: frozenset[str] = frozenset({api_key} if isinstance(api_key, str) else api_key)
        if not self.api_keys:
            raise ValueError("at least one API key is needed")
        self.host = host
        self.port = port
        self.download_port = download_port
        self.seed = seed
        self.row_count = row_count
        self.rows_per_day = rows_per_day
        self.row_cap = row_cap
        self.disabled_data_types = frozenset(disabled_data_types)
        self.byok = byok
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.url_ttl = url_ttl
        self.history_days = history_days
        self.accept_ranges = accept_ranges
        self.reuse_exports = reuse_exports
        #: What :meth:`inject_for` storms last on (a test may share its fake clock with the client).
        self.clock = clock
        self._reused_answers: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._busy_hours: tuple[tuple[int, int, Fraction], ...] = ()
        self._storage_dir = storage_dir
        self._owns_storage = storage_dir is None
        self._storage: Path | None = None
        self._window: tuple[datetime | None, datetime | None] = (_utc(data_start), _utc(data_end))
        self._lock = threading.Lock()
        self._recorded: list[RecordedRequest] = []
        self._api_faults: deque[_ApiFault] = deque()
        self._download_faults: deque[_DownloadFault] = deque()
        self._storm: tuple[float, int, str | None] | None = None
        self._files: dict[str, _StoredFile] = {}
        self._secret = secrets.token_bytes(32)
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._addresses: list[str] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> LangdockSimulator:
        """Bind both ports and serve in background threads."""
        if self._servers:
            raise RuntimeError("simulator already started")
        if self._owns_storage:
            self._storage = Path(tempfile.mkdtemp(prefix="langdock-simulator-"))
        else:
            assert self._storage_dir is not None
            self._storage = Path(self._storage_dir)
            self._storage.mkdir(parents=True, exist_ok=True)
        try:
            self._servers = [
                _Server((self.host, self.port), _ApiHandler, self),
                _Server((self.host, self.download_port), _DownloadHandler, self),
            ]
        except OSError:
            self._close_servers()
            self._remove_storage()
            raise
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        self._addresses = [f"http://{host}:{server.server_address[1]}" for server in self._servers]
        for server, name in zip(self._servers, ("api", "download"), strict=True):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"langdock-simulator-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        logger.debug("Langdock simulator at %s (downloads at %s)", self.base_url, self.download_base_url)
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and remove the temporary storage directory."""
        for server in self._servers:
            server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)
        self._close_servers()
        self._threads = []
        self._remove_storage()
        with self._lock:
            self._files.clear()

    def _remove_storage(self) -> None:
        if self._owns_storage and self._storage is not None:
            shutil.rmtree(self._storage, ignore_errors=True)
        self._storage = None

    def _close_servers(self) -> None:
        for server in self._servers:
            server.close_connections()
            server.server_close()
        self._servers = []

    def __enter__(self) -> LangdockSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _address(self, server_index: int) -> str:
        if not self._addresses:
            raise RuntimeError("simulator not started")
        return self._addresses[server_index]

    @property
    def base_url(self) -> str:
        """The API base URL, path prefix included (valid once started, also after :meth:`stop`)."""
        return self._address(0) + self.path_prefix

    @property
    def download_base_url(self) -> str:
        """The download server's base URL (valid once started, also after :meth:`stop`)."""
        return self._address(1)

    # --- control ---------------------------------------------------------------------------------

    def inject(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        retry_after: str | None = None,
        body: dict[str, Any] | str | None = None,
        delay: float = 0.0,
        reset: bool = False,
        path: str | None = None,
    ) -> None:
        """Make the next ``count`` API requests whose path contains ``path`` (any when None) misbehave.

        ``status``: answer it (with ``body``, or a default JSON error body, and ``Retry-After`` when
        given); ``reset``: close the connection with a TCP RST without answering; ``delay``: wait that many
        seconds first (alone: then answer normally). Faults are consumed first in, first out.
        """
        if status is None and not reset and delay <= 0:
            raise ValueError("inject() needs a status, reset=True or a delay")
        if count < 1:
            raise ValueError("count must be at least 1")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"invalid HTTP status {status}")
        fault = _ApiFault(
            status, count, None if retry_after is None else str(retry_after), body, delay, reset, path
        )
        with self._lock:
            self._api_faults.append(fault)

    def inject_download(
        self,
        status: int | None = None,
        *,
        count: int = 1,
        truncate_after: int | None = None,
        reset_after: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``count`` download requests misbehave.

        ``status``: answer it with an S3-style error; ``truncate_after``: announce the full Content-Length
        but close after that many body bytes; ``reset_after``: send that many bytes, then a TCP RST;
        ``delay``: wait that many seconds first.
        """
        if status is None and truncate_after is None and reset_after is None and delay <= 0:
            raise ValueError("inject_download() needs a status, truncate_after, reset_after or a delay")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._download_faults.append(_DownloadFault(status, count, truncate_after, reset_after, delay))

    def inject_for(self, seconds: float, status: int = 429, retry_after: str | None = None) -> None:
        """Answer every API request with ``status`` for the next ``seconds`` (a rate-limit storm)."""
        with self._lock:
            self._storm = (
                self.clock.monotonic() + seconds,
                status,
                None if retry_after is None else str(retry_after),
            )

    def clear_faults(self) -> None:
        """Forget all pending faults and any running storm."""
        with self._lock:
            self._api_faults.clear()
            self._download_faults.clear()
            self._storm = None

    def set_data_window(self, start: datetime | None, end: datetime | None) -> None:
        """Only ``[start, end)`` has usage data (None = unbounded; naive datetimes are UTC)."""
        self._window = (_utc(start), _utc(end))

    def add_busy_period(self, start: datetime, end: datetime, rows_per_day: float) -> None:
        """From ``start`` to ``end`` (whole UTC hours; naive = UTC) produce ``rows_per_day`` instead.

        Applies in ``rows_per_day`` mode only; periods must not overlap. Each hour's rows still depend
        only on the hour, so adjacent ranges still add up to their union.
        """
        first, end_hour = _whole_hour(start, "start"), _whole_hour(end, "end")
        if first >= end_hour:
            raise ValueError("a busy period needs start < end")
        if rows_per_day < 0:
            raise ValueError("rows_per_day must not be negative")
        with self._lock:
            if any(first < period[1] and period[0] < end_hour for period in self._busy_hours):
                raise ValueError("busy periods must not overlap")
            self._busy_hours = tuple(sorted((*self._busy_hours, (first, end_hour, Fraction(rows_per_day)))))

    def clear_busy_periods(self) -> None:
        """Back to a uniform ``rows_per_day``."""
        with self._lock:
            self._busy_hours = ()

    def expire_download_urls(self) -> None:
        """Make every download URL issued so far fail as expired."""
        with self._lock:
            for stored in self._files.values():
                stored.expired = True

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests both servers received, oldest first."""
        with self._lock:
            return list(self._recorded)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._recorded.clear()

    def csv_bytes(
        self, data_type: str, date_from: datetime, date_to: datetime, group_by: str | None = None
    ) -> bytes:
        """The file an export of ``data_type`` (path or dataType) for this UTC range would produce.

        Naive datetimes are UTC. Row caps and 404s are not checked. Small sizes only: built in memory.
        """
        return self._plan(simulated_data_type(data_type), group_by, date_from, date_to).csv_bytes()

    # --- request handling ------------------------------------------------------------------------

    def _plan(
        self, spec: DataTypeSpec, group_by: str | None, start: datetime, end: datetime
    ) -> SimulatedExportPlan:
        window_start, window_end = self._window
        return SimulatedExportPlan(
            seed=self.seed,
            family=spec.family,
            byok=self.byok,
            group_by=group_by,
            start=to_micros(start),
            end=to_micros(end),
            row_count=self.row_count,
            rows_per_day=None if self.rows_per_day is None else Fraction(self.rows_per_day),
            window_start=None if window_start is None else to_micros(window_start),
            window_end=None if window_end is None else to_micros(window_end),
            busy_hours=self._busy_hours,
        )

    def _record(
        self, server: Literal["api", "download"], handler: BaseHTTPRequestHandler, body: bytes
    ) -> None:
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        headers = HeaderDict(handler.headers.items())
        with self._lock:
            self._recorded.append(RecordedRequest(server, handler.command, handler.path, headers, parsed))

    def _next_api_fault(self, path: str) -> _ApiFault | None:
        with self._lock:
            if self._storm is not None:
                until, status, retry_after = self._storm
                if self.clock.monotonic() < until:
                    return _ApiFault(status, 1, retry_after, None, 0.0, False, None)
                self._storm = None
            for fault in self._api_faults:
                if fault.path is None or fault.path in path:
                    fault.count -= 1
                    if fault.count == 0:
                        self._api_faults.remove(fault)
                    return fault
        return None

    def _next_download_fault(self) -> _DownloadFault | None:
        with self._lock:
            if not self._download_faults:
                return None
            fault = self._download_faults[0]
            fault.count -= 1
            if fault.count == 0:
                self._download_faults.popleft()
            return fault

    def _local_path(self, path: str) -> str | None:
        """The request path below the path prefix, or None outside it."""
        if not self.path_prefix:
            return path
        if path == self.path_prefix or path.startswith(self.path_prefix + "/"):
            return path[len(self.path_prefix) :]
        return None

    def _is_authorized(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return any(hmac.compare_digest(token.encode(), key.encode()) for key in self.api_keys)

    def _is_disabled(self, spec: DataTypeSpec) -> bool:
        return bool({spec.path, spec.data_type, spec.family} & self.disabled_data_types)

    def _handle_export(self, route: Route, authorization: str | None, body: bytes) -> dict[str, Any]:
        """Answer one export request (the response body), or raise :class:`ApiError`."""
        if not self._is_authorized(authorization):
            raise _UNAUTHORIZED
        spec = route.spec
        request = validate_export(
            body, spec, byok=self.byok, now=datetime.now(UTC), history_days=self.history_days
        )
        if not self.reuse_exports:
            return self._export(route, request)
        key = (spec.data_type, route.output, request, self.seed, self.row_count, self.rows_per_day)
        with self._lock:
            answer = self._reused_answers.get(key)
        if answer is None:
            answer = self._export(route, request)
            with self._lock:
                answer = self._reused_answers.setdefault(key, answer)
        return answer

    def _export(self, route: Route, request: SimulatedExportRequest) -> dict[str, Any]:
        """Produce the export file (or the inline records) of a validated request."""
        spec = route.spec
        plan = self._plan(spec, request.group_by, request.start, request.end)
        record_count = plan.count()
        if self._is_disabled(spec) or record_count == 0:
            raise no_data()
        if record_count > self.row_cap:
            raise bad_request(
                "Export too large",
                f"Export too large: {record_count} rows exceeds limit of {self.row_cap}. "
                "Please narrow the date range.",
            )
        summary: dict[str, Any] = {
            "dataType": spec.data_type,
            "recordCount": record_count,
            "dateRange": {"from": iso_millis(request.start), "to": iso_millis(request.end)},
        }
        if route.output == "json":
            return {"success": True, "data": {**summary, "records": list(plan.records())}}
        file_id = uuid.uuid4().hex
        storage = self._storage
        if storage is None:
            raise ApiError(503, "Service Unavailable", "Simulator is stopped")
        file = storage / f"{file_id}.csv"
        with file.open("wb") as out:
            size = plan.write_csv(out)
        download_url = self._register_file(file_id, file, size)
        name = f"{spec.data_type}-usage"
        file_name = f"{name}-{plan.period_start}-{plan.period_end}-{file_id[:8]}.csv"
        file_path = f"{name}/{workspace(self.seed).org_id}/{file_name}"
        return {"success": True, "data": {"filePath": file_path, "downloadUrl": download_url, **summary}}

    def _signature(self, file_id: str, expires: str) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _register_file(self, file_id: str, file: Path, size: int) -> str:
        now = time.time()
        expires = str(math.ceil(now + self.url_ttl))
        with self._lock:
            self._files[file_id] = _StoredFile(file, size, now + self.url_ttl)
        query = urlencode({"expires": expires, "signature": self._signature(file_id, expires)})
        return f"{self.download_base_url}/files/{file_id}?{query}"

    def _stored_file(self, file_id: str) -> _StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Out-of-process control: ``/_simulator/...`` (no auth, not recorded, never faulted)."""
        action = path[len(_ADMIN_PREFIX) :]
        arguments: Any = json.loads(body) if body.strip() else {}
        if not isinstance(arguments, dict):
            raise TypeError("expected a JSON object")
        if method == "GET" and action == "health":
            return 200, {"status": "ok", "base_url": self.base_url, "download_url": self.download_base_url}
        if method == "GET" and action == "requests":
            return 200, {"requests": [asdict(recorded) for recorded in self.requests]}
        if method != "POST":
            return 405, {"error": "Method Not Allowed", "message": f"{method} {path} is not supported"}
        if action == "faults":
            self.inject(**arguments)
        elif action == "download-faults":
            self.inject_download(**arguments)
        elif action == "fault-storm":
            self.inject_for(**arguments)
        elif action == "clear-faults":
            self.clear_faults()
        elif action == "data-window":
            self.set_data_window(*(_parse_iso(arguments.get(key)) for key in ("start", "end")))
        elif action == "busy-period":
            start, end = (_parse_iso(arguments.get(key)) for key in ("start", "end"))
            if start is None or end is None:
                raise ValueError("busy-period needs start and end")
            self.add_busy_period(start, end, float(arguments["rows_per_day"]))
        elif action == "clear-busy-periods":
            self.clear_busy_periods()
        elif action == "expire-download-urls":
            self.expire_download_urls()
        elif action == "clear-requests":
            self.clear_requests()
        else:
            return 404, {"error": "Not Found", "message": f"Unknown simulator control {path}"}
        return 200, {"ok": True}


def _whole_hour(moment: datetime, name: str) -> int:
    """Hours since the epoch of a whole UTC hour (naive = UTC)."""
    hour, rest = divmod(to_micros(moment), MICROS_PER_HOUR)
    if rest:
        raise ValueError(f"{name} must be a whole UTC hour; got {moment.isoformat()}")
    return hour


def _parse_iso(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected an ISO-8601 string or null")
    return datetime.fromisoformat(value)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its simulator and can drop its open connections."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], simulator: LangdockSimulator
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup HTTPServer does (it can take seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal here: log at DEBUG instead of printing tracebacks."""
        logger.debug("Error while handling a request from %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut every open client connection down (wakes handlers idling on keep-alive)."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Shared plumbing: HTTP/1.1 keep-alive, body reading, Content-Length on every answer, RSTs."""

    protocol_version = "HTTP/1.1"
    server_version = "LangdockSimulator/1.0"
    server: _Server

    def version_string(self) -> str:
        """The ``Server`` header."""
        return self.server_version

    @property
    def simulator(self) -> LangdockSimulator:
        """The simulator this server belongs to."""
        return self.server.simulator

    def setup(self) -> None:
        """Track the connection so that :meth:`LangdockSimulator.stop` can close it."""
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        """Untrack the connection."""
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at DEBUG, never on stderr, with URL signatures left out."""
        logger.debug("%s %s", self.address_string(), _SIGNATURE_IN_LOG.sub(r"\1***", format % args))

    def read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked), so that keep-alive stays in sync.

        None (after answering 400 and closing) when the body's framing is malformed.
        """
        try:
            return self._read_framed_body()
        except ValueError:
            self.send_error(400, "Malformed request body")
            self.close_connection = True
            return None

    def _read_framed_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send a complete answer (no body for HEAD requests)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        """Send a JSON answer."""
        self.send_body(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def reset_connection(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), without answering."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        os.close(self.connection.detach())


class _ApiHandler(_Handler):
    """The Usage Export API."""

    def do_POST(self) -> None:
        """Exports and simulator controls."""
        self.dispatch()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def dispatch(self) -> None:
        """Route a request: simulator controls, then faults, then the API itself."""
        body = self.read_body()
        if body is None:
            return
        path = self.path.partition("?")[0]
        local = self.simulator._local_path(path)
        for candidate in (path, local):
            if candidate is not None and candidate.startswith(_ADMIN_PREFIX):
                self.answer_admin(candidate, body)
                return
        self.simulator._record("api", self, body)
        fault = self.simulator._next_api_fault(self.path)
        if fault is not None and self.apply_fault(fault):
            return
        route = match_route(local) if local is not None else None
        if route is None:
            self.send_json(404, {"error": "Not Found", "message": f"Cannot {self.command} {path}"})
            return
        if self.command != "POST":
            message = f"Method {self.command} not allowed on {path}; use POST"
            self.send_json(405, {"error": "Method Not Allowed", "message": message}, {"Allow": "POST"})
            return
        try:
            payload = self.simulator._handle_export(route, self.headers.get("Authorization"), body)
        except ApiError as error:
            self.send_json(error.status, error.body)
            return
        except OSError as error:
            logger.warning("Simulated export failed: %s", error, exc_info=True)
            self.send_json(500, {"error": "Internal Server Error", "message": f"Export failed: {error}"})
            return
        self.send_json(200, payload)

    def apply_fault(self, fault: _ApiFault) -> bool:
        """Play an injected fault; False when the request should then be answered normally."""
        if fault.delay > 0:
            time.sleep(fault.delay)
        if fault.reset:
            self.reset_connection()
            return True
        if fault.status is None:
            return False
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if isinstance(fault.body, str):
            html = fault.body.lstrip().startswith("<")
            content_type = "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
            self.send_body(fault.status, fault.body.encode(), content_type, headers)
            return True
        body = fault.body
        if body is None:
            phrase = _phrase(fault.status)
            error = _FAULT_ERRORS.get(fault.status, phrase)
            body = {"error": error, "message": _FAULT_MESSAGES.get(fault.status, f"Simulated {phrase}")}
        self.send_json(fault.status, body, headers)
        return True

    def answer_admin(self, path: str, body: bytes) -> None:
        """Answer a ``/_simulator/...`` control request."""
        try:
            status, payload = self.simulator._admin(self.command, path, body)
        except (TypeError, ValueError) as error:
            status, payload = 400, {"error": "Bad Request", "message": str(error)}
        self.send_json(status, payload)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _s3_error(code: str, message: str, **details: str) -> bytes:
    extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in details.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
    ).encode()


class _DownloadHandler(_Handler):
    """The object store behind the signed download URLs (S3-style answers)."""

    def do_GET(self) -> None:
        """Download (or, for HEAD, describe) an export file."""
        self.dispatch()

    do_HEAD = do_GET

    def do_POST(self) -> None:
        """Anything but GET/HEAD is refused."""
        if self.read_body() is None:
            return
        self.simulator._record("download", self, b"")
        message = "The specified method is not allowed against this resource."
        self.send_xml(
            405, _s3_error("MethodNotAllowed", message, Method=self.command), {"Allow": "GET, HEAD"}
        )

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def send_xml(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Send an S3-style XML answer."""
        self.send_body(status, body, "application/xml", headers)

    def dispatch(self) -> None:
        """Check the signed URL and stream the file, playing an injected fault if one is pending."""
        if self.read_body() is None:
            return
        self.simulator._record("download", self, b"")
        fault = self.simulator._next_download_fault()
        if fault is not None:
            if fault.delay > 0:
                time.sleep(fault.delay)
            if fault.status is not None:
                code = "SlowDown" if fault.status == 503 else _phrase(fault.status).replace(" ", "")
                self.send_xml(fault.status, _s3_error(code, f"Simulated {_phrase(fault.status)}"))
                return
        path, _, query = self.path.partition("?")
        if "Authorization" in self.headers:
            message = (
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified"
            )
            self.send_xml(400, _s3_error("InvalidArgument", message, ArgumentName="Authorization"))
            return
        match = _FILE_PATH.fullmatch(path)
        stored = self.simulator._stored_file(match.group(1)) if match else None
        if match is None or stored is None:
            self.send_xml(404, _s3_error("NoSuchKey", "The specified key does not exist.", Key=path))
            return
        parameters = {name: values[0] for name, values in parse_qs(query).items()}
        expires, signature = parameters.get("expires"), parameters.get("signature")
        if not expires or not signature:
            message = "Query-string authentication requires the signature and expires parameters"
            self.send_xml(403, _s3_error("AccessDenied", message))
            return
        if not hmac.compare_digest(signature, self.simulator._signature(match.group(1), expires)):
            message = "The request signature we calculated does not match the signature you provided."
            self.send_xml(403, _s3_error("SignatureDoesNotMatch", message))
            return
        if stored.expired or time.time() > stored.expires_at:
            now = formatdate(usegmt=True)
            self.send_xml(
                403, _s3_error("AccessDenied", "Request has expired", Expires=expires, ServerTime=now)
            )
            return
        self.send_file(match.group(1), stored, fault)

    def byte_range(self, size: int) -> tuple[int, int] | None:
        """The single byte range requested (first, last inclusive); None for the whole file."""
        match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if match is None or match.group(1) == match.group(2) == "":
            return None
        first, last = match.groups()
        if first == "":
            return max(size - int(last), 0), size - 1
        return int(first), min(int(last), size - 1) if last else size - 1

    def send_file(self, file_id: str, stored: _StoredFile, fault: _DownloadFault | None) -> None:
        """Stream the file (or the requested range of it) with correct length headers."""
        size = stored.size
        ranges = self.simulator.accept_ranges
        requested = self.byte_range(size) if ranges else None
        headers = {
            "ETag": f'"{file_id}"',
            "Last-Modified": formatdate(stored.path.stat().st_mtime, usegmt=True),
        }
        if ranges:
            headers["Accept-Ranges"] = "bytes"
        status, first, length = 200, 0, size
        if requested is not None:
            first, last = requested
            if first >= size or last < first:
                message = "The requested range is not satisfiable"
                body = _s3_error("InvalidRange", message, RangeRequested=self.headers.get("Range", ""))
                self.send_xml(416, body, {"Content-Range": f"bytes */{size}"})
                return
            status, length = 206, last - first + 1
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        self.send_response(status)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            if fault is not None and (fault.truncate_after is not None or fault.reset_after is not None):
                self.close_connection = True
            return
        limit = length
        if fault is not None:
            cuts = [cut for cut in (fault.truncate_after, fault.reset_after) if cut is not None]
            limit = min([length, *cuts])
        with stored.path.open("rb") as source:
            if limit > 0:
                self.connection.sendfile(source, offset=first, count=limit)
        if fault is not None and fault.reset_after is not None:
            self.reset_connection()
        elif fault is not None and fault.truncate_after is not None:
            self.close_connection = True
