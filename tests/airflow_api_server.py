"""A real ``airflow api-server`` for browser tests: own AIRFLOW_HOME, SQLite, simple auth manager.

Listens on 127.0.0.1 only, in its own process group, so stopping it ends its workers too. The Airflow
CLIs it runs (``db migrate``, ``connections test``) see the same home and settings.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests

REPO_DIR = Path(__file__).resolve().parent.parent

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AirflowApiServer:
    """``airflow api-server`` on 127.0.0.1 with a fresh metadata DB; a context manager."""

    AIRFLOW = (sys.executable, "-m", "airflow")

    def __init__(self, home: Path, *, startup_timeout: float = 240.0) -> None:
        self.home = home
        self.startup_timeout = startup_timeout
        self.port = free_loopback_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "api-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._token: str | None = None
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy from the environment: everything stays on loopback
        dags = home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        # Nothing of the test process' own Airflow set-up (conftest's home, DB, DAG folder, connections).
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        }
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # this checkout's provider, also where the venv has another one installed in editable mode
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_DIR), os.environ.get("PYTHONPATH")])),
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "COLUMNS": "1000",  # the CLI's messages unwrapped
            }
        )
        self.env = env

    # -- Airflow CLIs -----------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """``airflow <args>`` with this server's home and settings; never raises on a failed exit."""
        return subprocess.run(
            [*self.AIRFLOW, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # -- the server process -----------------------------------------------------------------------

    def start(self) -> AirflowApiServer:
        migrated = self.cli("db", "migrate", timeout=600)
        if migrated.returncode:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrated.stdout[-3000:]}{migrated.stderr[-3000:]}"
            )
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*self.AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the workers with it
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"airflow api-server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if self.http.get(self.url("/api/v2/monitor/health"), timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                waited = f"{self.startup_timeout:.0f}s"
                raise TimeoutError(f"airflow api-server did not answer within {waited}:\n{self.log_tail()}")
            time.sleep(1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if process is not None:
            # workers that outlived their parent are still in its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.http.close()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> AirflowApiServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- REST API ---------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def token(self) -> str:
        """A JWT from the simple auth manager (all users are admins, no credentials needed)."""
        if self._token is None:
            answer = self.http.get(self.url("/auth/token"), timeout=30)
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated call of Airflow's REST API."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return self.http.request(method, self.url(path), headers=headers, timeout=120, **kwargs)
