"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_langdock import __version__
from airflow_provider_langdock.connection_ui import CONN_FIELDS, CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR

_LANGDOCK_URIS = {
    "schemes": ["langdock"],
    "handler": "airflow_provider_langdock.lineage.sanitize_uri",
    "to_openlineage_converter": "airflow_provider_langdock.lineage.convert_asset_to_openlineage",
}


def get_provider_info() -> dict[str, Any]:
    """Describe the package to Airflow: its integration, operators, sensors, hooks, triggers, extra
    links, lineage URIs and the ``langdock`` connection type (``airflow providers get --full`` shows it).

    The keys and their forms are those of Airflow's ``provider_info.schema.json``.
    """
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
        "operators": [
            {
                "integration-name": "Langdock",
                "python-modules": ["airflow_provider_langdock.operators.usage_export"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Langdock",
                "python-modules": ["airflow_provider_langdock.sensors.usage_export"],
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
        # Airflow 3 reads "asset-uris", Airflow 2.11 "dataset-uris": the Langdock export as a lineage input.
        "asset-uris": [_LANGDOCK_URIS],
        "dataset-uris": [_LANGDOCK_URIS],
        "extra-links": [
            "airflow_provider_langdock.links.LangdockDestinationLink",
            "airflow_provider_langdock.links.LangdockAnalyticsLink",
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
