"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_langdock import __version__
from airflow_provider_langdock.connection_ui import CONN_FIELDS, CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR


def get_provider_info() -> dict[str, Any]:
    """Describe the package, its hooks and its ``langdock`` connection type to Airflow."""
    return {
        "package-name": "airflow-provider-langdock",
        "name": "Langdock",
        "description": "Export Langdock workspace usage (users, agents, projects, models, API keys).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Langdock",
                "external-doc-url": "https://docs.langdock.com/api-endpoints/usage-export/intro-to-usage-export-api",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Langdock",
                "python-modules": [
                    "airflow_provider_langdock.hooks.langdock",
                    "airflow_provider_langdock.hooks.langdock_async",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Langdock",
                "python-modules": ["airflow_provider_langdock.triggers.usage_export"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_langdock.hooks.langdock.LangdockHook",
                "hook-name": HOOK_NAME,
                "connection-type": CONN_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
