"""Azurite's Blob service on 127.0.0.1, for tests, demos and benchmarks of the Azure destination.

Usage::

    from airflow_provider_langdock.testing.azurite import Azurite

    with Azurite() as azurite:  # in-memory, on a free port
        os.environ["AIRFLOW_CONN_WASB_DEFAULT"] = json.dumps(azurite.connection())

Azurite is the npm package ``azurite``; this repository installs it with ``npm ci`` (``make
node_modules``). The ``azurite-blob`` program is looked up in ``$AZURITE_BLOB``, then
``./node_modules/.bin``, then on ``PATH``. It runs in memory with telemetry off and accepts any API
version (``--skipApiVersionCheck``: current Azure SDKs ask for versions newer than Azurite knows).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account and key (public, the same in every Azurite)."""
STARTUP_TIMEOUT_SECONDS = 60.0


class AzuriteNotInstalledError(RuntimeError):
    """``azurite-blob`` was not found; the message says how to install it."""


def find_azurite_blob() -> str:
    """Path of the ``azurite-blob`` program, or :class:`AzuriteNotInstalledError`."""
    candidates = [os.environ.get("AZURITE_BLOB"), str(Path.cwd() / "node_modules" / ".bin" / "azurite-blob")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise AzuriteNotInstalledError(
        "azurite-blob was not found (AZURITE_BLOB, ./node_modules/.bin, PATH). Install it with "
        "`make node_modules` (npm ci, from this repository's package.json) or `npm install azurite`."
    )


class Azurite:
    """An Azurite Blob service in its own process, stopped on exit."""

    def __init__(self, *, program: str | None = None, host: str = "127.0.0.1") -> None:
        self.program = program or find_azurite_blob()
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace: tempfile.TemporaryDirectory[str] | None = None

    @property
    def blob_endpoint(self) -> str:
        """``http://127.0.0.1:<port>/devstoreaccount1``."""
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """The development account's connection string, pointing at this Azurite."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def connection(self) -> dict[str, Any]:
        """A ``wasb`` Airflow connection (JSON form) for ``AIRFLOW_CONN_<ID>``."""
        return {"conn_type": "wasb", "extra": {"connection_string": self.connection_string}}

    def start(self) -> Azurite:
        """Start Azurite on a free port and wait until it accepts connections."""
        self.port = _free_port(self.host)
        self._workspace = tempfile.TemporaryDirectory(prefix="langdock-azurite-")
        command = [
            self.program,
            "--blobHost",
            self.host,
            "--blobPort",
            str(self.port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ]
        self._process = subprocess.Popen(
            command,
            cwd=self._workspace.name,  # whatever Azurite writes beside its memory store stays there
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._wait_until_listening()
        return self

    def stop(self) -> None:
        """Stop Azurite (its data is gone with it)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process is not None and process.stderr is not None:
            process.stderr.close()
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                errors = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                self.stop()
                raise RuntimeError(f"Azurite exited at start: {errors.strip()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"Azurite did not listen on {self.host}:{self.port} within {STARTUP_TIMEOUT_SECONDS} s"
        )

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


__all__ = ["ACCOUNT_NAME", "Azurite", "AzuriteNotInstalledError", "find_azurite_blob"]
