"""How the ``langdock`` connection form looks, declared once.

``get_provider_info()`` publishes this for Airflow 3's UI, and ``LangdockHook`` turns the same
data into WTForms widgets for Airflow 2.11, so the two never drift apart.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "langdock"
DEFAULT_CONN_ID = "langdock_default"
HOOK_NAME = "Langdock"
DEFAULT_BASE_URL = "https://api.langdock.com"

#: Extra fields of the form: name -> label, JSON schema, description.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 120},
        "description": "Connect and read timeout of each request to the Langdock API.",
    },
    "verify": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
        "description": "Set to false only for a test deployment with a self-signed certificate.",
    },
    "max_attempts": {
        "label": "Max attempts",
        "schema": {"type": ["integer", "null"], "default": 5},
        "description": "Attempts per request, the first included, on 429, 5xx, timeouts and resets.",
    },
    "max_retry_wait": {
        "label": "Max wait between attempts (seconds)",
        "schema": {"type": ["number", "null"], "default": 60},
        "description": "Upper bound of one backoff or Retry-After wait.",
    },
    "download_timeout": {
        "label": "Download timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": None},
        "description": (
            "Longest time one transfer of an export file may take; a slower one is resumed. "
            "Empty: the timeout plus one second per 256 KiB of the file."
        ),
    },
    "download_connections": {
        "label": "Download connections",
        "schema": {"type": ["integer", "null"], "default": 1},
        "description": (
            "Connections that fetch byte ranges of one export file in parallel (1-8). More help where the "
            "storage caps each connection's throughput; each adds one range of memory."
        ),
    },
    "download_range_size": {
        "label": "Download range size (bytes)",
        "schema": {"type": ["integer", "null"], "default": 8388608},
        "description": "Bytes per range when downloading over several connections (64 KiB to 256 MiB).",
    },
    "pseudonymization_key": {
        "label": "Pseudonymization key",
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": (
            "Secret (16+ characters) that keys the pseudonyms of personal data when a task sets "
            "personal_data='pseudonymize'. Keep it stable: another key gives other pseudonyms."
        ),
    },
}

#: Which standard fields are hidden or relabelled, and their placeholders.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": "API key with the USAGE_EXPORT_API scope",
        "extra": '{"proxies": {"https": "http://proxy.internal:3128"}}',
        "timeout": "120",
        "max_attempts": "5",
        "max_retry_wait": "60",
        "download_timeout": "derived from the file size",
        "download_connections": "1",
        "download_range_size": "8388608",
        "pseudonymization_key": "a long random secret, e.g. secrets.token_hex(32)",
    },
}
