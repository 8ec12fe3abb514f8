"""A local, offline simulator of the Langdock Usage Export API, for tests, demos and DAG tests.

Usage::

    from airflow_provider_langdock.testing import LangdockSimulator

    with LangdockSimulator(api_key="test-key", rows_per_day=500) as simulator:
        answer = requests.post(
            f"{simulator.base_url}/export/users",
            json={"from": {"date": "...", "timezone": "UTC"}, "to": {"date": "...", "timezone": "UTC"}},
            headers={"Authorization": "Bearer test-key"},
        )
        csv_bytes = requests.get(answer.json()["data"]["downloadUrl"]).content
        simulator.inject(429, count=2, retry_after="1")  # the next two API requests are rate limited

Or out of process: ``langdock-simulator --port 8080 --download-port 8081`` (``python -m
airflow_provider_langdock.testing``), controlled through ``POST /_simulator/...`` on the API port.

The simulator implements the API contract on its own (it shares no code with the provider's client) and
uses the standard library only.
"""

from __future__ import annotations

from airflow_provider_langdock.testing.columns import columns_for
from airflow_provider_langdock.testing.simulator import LangdockSimulator, RecordedRequest

__all__ = ["LangdockSimulator", "RecordedRequest", "columns_for"]
