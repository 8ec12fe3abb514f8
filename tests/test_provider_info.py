"""The provider is registered with Airflow and its connection form is declared consistently."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest
from airflow.providers_manager import ProvidersManager

from airflow_provider_langdock import __version__
from airflow_provider_langdock.connection_ui import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_langdock.get_provider_info import get_provider_info
from airflow_provider_langdock.hooks.base import LangdockBaseHook
from airflow_provider_langdock.hooks.langdock import LangdockHook


def test_provider_is_discovered_by_the_providers_manager() -> None:
    manager = ProvidersManager()
    provider = manager.providers["airflow-provider-langdock"]
    assert provider.version == __version__
    hook_info = manager.hooks["langdock"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_langdock.hooks.langdock.LangdockHook"
    assert hook_info.connection_id_attribute_name == "langdock_conn_id"
    assert hook_info.hook_name == "Langdock"


def test_ui_metadata_reaches_airflow() -> None:
    manager = ProvidersManager()
    behaviour = manager.field_behaviours["langdock"]
    assert behaviour["hidden_fields"] == ["schema", "login", "port"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}
    widgets = manager.connection_form_widgets
    for name, spec in CONN_FIELDS.items():
        widget = widgets[f"extra__langdock__{name}"]
        field = widget.field
        # Airflow 3 builds a JSON schema from the provider info; Airflow 2 keeps the hook's WTForms field.
        label = field["schema"]["title"] if isinstance(field, dict) else str(field.args[0])
        assert label == spec["label"]
        assert widget.field_name == name
        # a secret extra is masked in the form and in the connection list on both Airflow lines
        assert widget.is_sensitive == (spec["schema"].get("format") == "password")


def test_airflow2_hook_form_agrees_with_airflow3_provider_info() -> None:
    """Airflow 2.11 reads the hook's methods, Airflow 3 the provider info: they must say the same."""
    info = get_provider_info()["connection-types"][0]
    behaviour = LangdockHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": info["ui-field-behaviour"]["hidden-fields"],
        "relabeling": info["ui-field-behaviour"]["relabeling"],
        "placeholders": info["ui-field-behaviour"]["placeholders"],
    }
    widgets = LangdockHook.get_connection_form_widgets()
    assert widgets.keys() == info["conn-fields"].keys()
    for name, field in widgets.items():
        spec = info["conn-fields"][name]
        assert str(field.args[0]) == spec["label"]
        assert field.kwargs["description"] == spec["description"]
        kind = next(t for t in spec["schema"]["type"] if t != "null")
        expected = {"boolean": "BooleanField", "integer": "IntegerField"}.get(kind, "StringField")
        if spec["schema"].get("format") == "password":  # a secret, shown masked in both UIs
            expected = "PasswordField"
        assert field.field_class.__name__ == expected
    assert widgets["pseudonymization_key"].field_class.__name__ == "PasswordField"
    # every placeholder names a standard field or one of the extra fields
    standard = {"host", "password", "extra", "login", "schema", "port", "description"}
    assert set(UI_FIELD_BEHAVIOUR["placeholders"]) <= standard | CONN_FIELDS.keys()


def test_provider_info_is_plain_json() -> None:
    info = get_provider_info()
    assert json.loads(json.dumps(info)) == info
    assert info["versions"] == [__version__]
    assert info["connection-types"][0]["connection-type"] == "langdock"


def _airflow_schema() -> dict[str, Any]:
    """The ``provider_info.schema.json`` the running Airflow validates provider info against."""
    return json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = _airflow_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{list(error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(get_provider_info())
    ]
    assert not errors


def test_provider_info_uses_only_keys_airflow_3_declares() -> None:
    """Every key is one of the schema's, so none is misspelt; ``versions`` is the one provider.yaml key."""
    declared = _airflow_schema()["properties"]
    if "operators" not in declared:
        pytest.skip("Airflow 2.11's runtime schema declares only the keys its ProvidersManager reads")
    assert set(get_provider_info()) - declared.keys() == {"versions"}


def _classes_in(module_name: str, base: type) -> list[type]:
    module = importlib.import_module(module_name)
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, base) and value.__module__ == module_name
    ]


def test_provider_info_lists_the_operators_sensors_triggers_and_links() -> None:
    """Each listed module holds what its key says, and ``extra-links`` are the operator's own links."""
    from airflow.providers.common.compat.sdk import BaseOperator, BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator

    info = get_provider_info()
    integrations = {integration["integration-name"] for integration in info["integrations"]}
    expected = {
        "operators": (BaseOperator, {"LangdockUsageExportOperator"}),
        "sensors": (BaseSensorOperator, {"LangdockUsageExportSensor"}),
        "triggers": (BaseTrigger, {"LangdockUsageDataTrigger", "LangdockUsageExportTrigger"}),
        "hooks": (LangdockBaseHook, {"LangdockHook", "LangdockAsyncHook"}),
    }
    for key, (base, names) in expected.items():
        found: set[str] = set()
        for entry in info[key]:
            assert entry["integration-name"] in integrations, key
            for module_name in entry["python-modules"]:
                found |= {
                    cls.__name__ for cls in _classes_in(module_name, base) if not inspect.isabstract(cls)
                }
        assert names <= found, key
    operator_links = {
        f"{type(link).__module__}.{type(link).__qualname__}"
        for link in LangdockUsageExportOperator.operator_extra_links
    }
    assert set(info["extra-links"]) == operator_links
    assert len(info["extra-links"]) == len(operator_links)


@pytest.mark.slow
def test_cli_shows_the_provider_info(tmp_path: Path) -> None:
    """``airflow providers get airflow-provider-langdock --full -o json`` in a throwaway AIRFLOW_HOME.

    Without ``--full`` the command shows only the name and version, on Airflow 2.11 and 3 alike.
    """
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
    }
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "providers",
            "get",
            "airflow-provider-langdock",
            "--full",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert shown.returncode == 0, shown.stderr
    (provider,) = json.loads(shown.stdout)
    info = get_provider_info()
    for key in ("integrations", "operators", "sensors", "hooks", "triggers", "extra-links"):
        assert provider[key] == info[key], key
    # the CLI prints nested numbers and booleans (the form fields' defaults) as strings
    (connection_type,) = provider["connection-types"]
    assert connection_type["connection-type"] == "langdock"
    assert connection_type["hook-class-name"] == info["connection-types"][0]["hook-class-name"]
    assert provider["package-name"] == "airflow-provider-langdock"
    assert provider["versions"] == [__version__]
    assert [entry["python-modules"] for entry in provider["operators"]] == [
        ["airflow_provider_langdock.operators.usage_export"]
    ]
    assert [entry["python-modules"] for entry in provider["sensors"]] == [
        ["airflow_provider_langdock.sensors.usage_export"]
    ]
    assert provider["extra-links"] == [
        "airflow_provider_langdock.links.LangdockDestinationLink",
        "airflow_provider_langdock.links.LangdockAnalyticsLink",
    ]


@pytest.mark.slow
def test_cli_accepts_the_connection_type(tmp_path: object) -> None:
    """``airflow connections add --conn-type langdock`` works on the configured metadata DB."""
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], check=True, capture_output=True, timeout=300)
    added = subprocess.run(
        [
            *airflow,
            "connections",
            "add",
            "langdock_cli_test",
            "--conn-type",
            "langdock",
            "--conn-host",
            "https://my-deployment.example.com/api/public",
            "--conn-password",
            "cli-secret-key",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    assert "cli-secret-key" not in added.stdout + added.stderr
    shown = subprocess.run(
        [*airflow, "connections", "get", "langdock_cli_test", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    conn = json.loads(shown.stdout)[0]
    assert conn["conn_type"] == "langdock"
    assert conn["host"] == "https://my-deployment.example.com/api/public"


def test_langdock_lineage_uris_are_registered() -> None:
    """OpenLineage translates hook-level ``langdock://`` inputs through the registered converter."""
    from urllib.parse import urlsplit

    from airflow_provider_langdock.lineage import convert_asset_to_openlineage

    manager = ProvidersManager()
    if hasattr(manager, "initialize_providers_asset_uri_resources"):  # Airflow 3
        manager.initialize_providers_asset_uri_resources()
        handlers, converters = manager.asset_uri_handlers, manager.asset_to_openlineage_converters
    else:  # Airflow 2.11
        manager.initialize_providers_dataset_uri_resources()
        handlers, converters = manager.dataset_uri_handlers, manager.dataset_to_openlineage_converters
    uri = urlsplit("langdock://api.langdock.com/usage/users")
    assert handlers["langdock"](uri) == uri
    assert converters["langdock"] is convert_asset_to_openlineage
    asset = type("AssetLike", (), {"uri": uri.geturl()})()
    dataset = converters["langdock"](asset, None)
    assert (dataset.namespace, dataset.name) == ("langdock://api.langdock.com", "usage/users")
