"""The simulator examples of the guides: its knobs, used directly and through the pytest fixture."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_provider_langdock.exceptions import LangdockAuthError, LangdockRateLimitError
from airflow_provider_langdock.hooks.langdock import LangdockHook

START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
END = START + timedelta(days=1)


def test_the_simulator_on_its_own():
    start, end = START, END
    # --8<-- [start:simulator]
    from airflow_provider_langdock.testing import LangdockSimulator

    with LangdockSimulator(api_key="test-key", row_count=1000) as simulator:
        # point a connection at it: AIRFLOW_CONN_LANGDOCK_DEFAULT with host=simulator.base_url
        simulator.inject(429, count=2, retry_after="1")  # the next two API requests are rate limited
        simulator.inject_download(truncate_after=1000)  # the next download breaks off
        simulator.set_data_window(None, None)  # which period has data (here: all of it)
        expected = simulator.csv_bytes("users", start, end)  # the exact file an export would produce
        # ... run the code under test, then look at what the simulator received:
        received = simulator.requests  # method, path, headers, JSON body of every request
        # --8<-- [end:simulator]
        body = {
            "from": {"date": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "timezone": "UTC"},
            "to": {"date": end.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "timezone": "UTC"},
        }
        auth = {"Authorization": "Bearer test-key"}
        url = f"{simulator.base_url}/export/users"
        assert [requests.post(url, json=body, headers=auth, timeout=5).status_code for _ in range(3)] == [
            429,
            429,
            200,
        ]
        download = requests.post(url, json=body, headers=auth, timeout=5).json()["data"]["downloadUrl"]
        with pytest.raises(requests.RequestException):
            requests.get(download, timeout=5)  # announces the full size, breaks off after 1000 bytes
        assert requests.get(download, timeout=5).content == expected
        assert sum(1 for _ in csv.reader(io.StringIO(expected.decode()))) == 1001
        assert received == []
        assert len(simulator.requests) == 6


@pytest.mark.langdock_simulator(extra={"max_attempts": 3, "max_retry_wait": 0})
def test_fault_knobs_through_the_fixture(langdock_simulator):
    start, end = START, END
    # --8<-- [start:fixture_knobs]
    langdock_simulator.inject_for(60, status=429)  # a rate-limit storm of a minute
    with pytest.raises(LangdockRateLimitError):
        LangdockHook().export_usage("users", start, end)  # gives up after max_attempts
    langdock_simulator.clear_faults()
    langdock_simulator.api_keys = frozenset({"rotated-key"})  # the connection's key is now wrong
    with pytest.raises(LangdockAuthError):
        LangdockHook().export_usage("users", start, end)
    # --8<-- [end:fixture_knobs]
    assert len(langdock_simulator.requests) == 4
