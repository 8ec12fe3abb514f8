"""A pytest plugin for testing your own DAGs and tasks against the Langdock simulator.

It is not loaded automatically. Turn it on in the tests that want it, in the root ``conftest.py``::

    pytest_plugins = ["airflow_provider_langdock.testing.pytest_plugin"]

or on the command line with ``pytest -p airflow_provider_langdock.testing.pytest_plugin``.

The ``langdock_simulator`` fixture starts a :class:`~airflow_provider_langdock.testing.LangdockSimulator`
on 127.0.0.1, makes the ``langdock_default`` connection point at it (through the
``AIRFLOW_CONN_LANGDOCK_DEFAULT`` environment variable, restored after the test) and yields the simulator,
so the test can inject faults (``inject``, ``inject_download``, ``inject_for``), change the data
(``row_count``, ``rows_per_day``, ``set_data_window``) and read ``requests``. The simulator stops when
the test ends.

The ``langdock_simulator`` marker configures it for one test::

    @pytest.mark.langdock_simulator(row_count=500, conn_id="langdock_marketing", extra={"max_attempts": 2})
    def test_marketing(langdock_simulator): ...

``conn_id`` (default ``langdock_default``) names the connection, ``api_key`` (default ``"sim-key"``) is
the key the simulator accepts and the connection sends, and ``extra`` holds the connection's extras
(default ``{"max_retry_wait": 0}``, so retries don't wait). Every other keyword goes to
:class:`~airflow_provider_langdock.testing.LangdockSimulator`.

This module imports pytest; only pytest imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_langdock.testing.simulator import LangdockSimulator

__all__ = ["DEFAULT_API_KEY", "DEFAULT_EXTRA", "connection_uri_env", "langdock_simulator"]

#: The API key the fixture's simulator accepts and its connection sends, unless the marker names another.
DEFAULT_API_KEY = "sim-key"
#: The connection extras the fixture sets unless the marker gives ``extra``: retries don't wait.
DEFAULT_EXTRA: dict[str, Any] = {"max_retry_wait": 0}

_MARKER = "langdock_simulator"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``langdock_simulator`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(conn_id=..., api_key=..., extra=..., **simulator_options): configure the "
        "langdock_simulator fixture (airflow_provider_langdock.testing.pytest_plugin)",
    )


def connection_uri_env(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from: ``AIRFLOW_CONN_<CONN_ID>``."""
    if not conn_id or not conn_id.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"conn_id {conn_id!r} must be letters, digits, '_' or '-'")
    return "AIRFLOW_CONN_" + conn_id.upper().replace("-", "_")


@pytest.fixture
def langdock_simulator(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LangdockSimulator]:
    """A running Langdock simulator behind the ``langdock_default`` connection, for one test.

    Yields the :class:`~airflow_provider_langdock.testing.LangdockSimulator`; configure it with the
    ``langdock_simulator`` marker (see the module's documentation).
    """
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if marker.args:
            raise TypeError(f"@pytest.mark.{_MARKER} takes keyword arguments only")
        options = dict(marker.kwargs)
    conn_id = options.pop("conn_id", "langdock_default")
    api_key = options.pop("api_key", DEFAULT_API_KEY)
    extra = options.pop("extra", DEFAULT_EXTRA)
    if not isinstance(api_key, str):
        raise TypeError("api_key must be one string: the key the connection sends")
    variable = connection_uri_env(conn_id)
    with LangdockSimulator(api_key=api_key, **options) as simulator:
        connection: dict[str, Any] = {
            "conn_type": "langdock",
            "host": simulator.base_url,
            "password": api_key,
            "extra": dict(extra),
        }
        monkeypatch.setenv(variable, json.dumps(connection))
        yield simulator
