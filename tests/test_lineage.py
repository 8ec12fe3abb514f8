"""Lineage: OpenLineage facets of the operator, hook-level lineage of ``land_plan``, and a real run.

The unit tests call ``get_openlineage_facets_on_start/complete`` on operators for every destination
kind, in both modes. ``on_complete`` reads only the rendered fields and the task's XCom return value,
so a deferrable operator that never ran ``execute`` in this process (as after a deferral) gives the
same result. The real run is ``tests/dags/langdock_lineage_dags.py`` under ``dag.test()`` in a
subprocess, with OpenLineage's file transport configured through the environment (the OpenLineage
provider reads its configuration once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import airflow
import pendulum
import pytest

from airflow_provider_langdock import lineage
from airflow_provider_langdock.api import ExportRequest, ExportResult
from airflow_provider_langdock.destinations import LocalDestination, destination_for
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.planning import ExportPart, ExportPlan
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.transfer import Landing, land_plan

from .conftest import REPO_DIR, TESTS_DIR, set_langdock_default

API_KEY = "test-key"
SIGNATURE = "c2lnbmF0dXJlLW5vdC10by1iZS1sZWFrZWQ"
SIGNED_URL = f"https://files.example.com/exports/usage.csv?expires=1767225600&signature={SIGNATURE}"
COLUMNS = ["date", "user_id", "email", "messages"]
BASE_URL = "https://api.langdock.com"
NAMESPACE = "langdock://api.langdock.com"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START, END = TODAY - timedelta(days=2), TODAY - timedelta(days=1)

DESTINATIONS: dict[str, tuple[str | None, tuple[str, str] | None]] = {
    "s3": (
        "s3://usage-bucket/langdock/dt=2026-11-24/users.csv",
        ("s3://usage-bucket", "langdock/dt=2026-11-24/users.csv"),
    ),
    "gs": ("gs://usage-bucket/langdock/users.csv", ("gs://usage-bucket", "langdock/users.csv")),
    "file": ("file:///data/langdock/users%20today.csv", ("file", "/data/langdock/users today.csv")),
    "none": (None, None),
}
MODES = {"sync": False, "deferrable": True}


@pytest.fixture
def langdock_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """``langdock_default`` pointing at Langdock's public API (nothing is called)."""
    set_langdock_default(monkeypatch, BASE_URL, API_KEY)


class FakeTaskInstance:
    """The part of a task instance the OpenLineage methods use: its own XCom return value."""

    def __init__(self, task_id: str, return_value: Any, map_index: int = -1) -> None:
        self.task_id = task_id
        self.map_index = map_index
        self.return_value = return_value
        self.pulls: list[tuple[Any, ...]] = []

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        self.pulls.append((task_ids, key, map_indexes))
        return self.return_value


def operator(destination: str | None, *, deferrable: bool, **kwargs: Any) -> LangdockUsageExportOperator:
    kwargs.setdefault("data_type", "users")
    return LangdockUsageExportOperator(
        task_id="export", destination=destination, deferrable=deferrable, **kwargs
    )


def return_value(destination: str | None, *, records: int = 42, size: int = 4321) -> dict[str, Any]:
    """The XCom return value such an export pushes (built by the provider's own classes)."""
    request = ExportRequest.build("users", START, END, "Europe/Berlin")
    result = ExportResult(
        download_url=SIGNED_URL,
        file_path="exports/usage.csv",
        data_type="users",
        record_count=records,
        date_range={"from": START.isoformat(), "to": END.isoformat()},
    )
    plan = ExportPlan(request, (ExportPart(request, result),))
    if destination is None:
        return plan.to_dict()
    uri = destination_for(destination).uri
    return Landing(plan, uri, size, tuple(COLUMNS)).to_dict()


def as_json(value: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(value))


def event_dict(result: Any) -> dict[str, Any]:
    """The inputs, outputs and run facets of an ``OperatorLineage`` as they would be emitted."""
    return {
        "inputs": [as_json(dataset) for dataset in result.inputs],
        "outputs": [as_json(dataset) for dataset in result.outputs],
        "run": {key: as_json(facet) for key, facet in result.run_facets.items()},
    }


def parameters(event: Mapping[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in event["run"]["executionParameters"]["parameters"]}


def assert_no_secrets(text: str) -> None:
    assert API_KEY not in text
    assert SIGNATURE not in text
    assert "signature" not in text.lower()
    assert "files.example.com" not in text


# -- naming ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://api.langdock.com", "langdock://api.langdock.com"),
        ("https://API.Langdock.com:443", "langdock://api.langdock.com"),
        ("https://langdock.example.org/api/public", "langdock://langdock.example.org"),
        ("http://127.0.0.1:8765", "langdock://127.0.0.1:8765"),
        ("http://[::1]:8765/api", "langdock://[::1]:8765"),
        ("https://eu.langdock.com:8443", "langdock://eu.langdock.com:8443"),
    ],
)
def test_the_export_namespace_is_the_workspace_host(base_url: str, namespace: str) -> None:
    assert lineage.export_namespace(base_url) == namespace


@pytest.mark.parametrize(
    ("data_type", "group_by", "name"),
    [
        ("users", None, "usage/users"),
        ("users", "model", "usage/users/by_model"),
        ("api-keys", None, "usage/api_keys"),
        ("Assistant", "model", "usage/assistants/by_model"),
        ("models", "deployment", "usage/models/by_deployment"),
        ("projects", "", "usage/projects"),
    ],
)
def test_the_export_name_is_the_canonical_data_type_and_grouping(
    data_type: str, group_by: str | None, name: str
) -> None:
    assert lineage.export_name(data_type, group_by) == name
    assert lineage.export_asset_uri(BASE_URL, data_type, group_by) == f"{NAMESPACE}/{name}"


@pytest.mark.parametrize(
    ("uri", "naming"),
    [
        ("s3://bucket/a/b.csv", ("s3://bucket", "a/b.csv")),
        ("gs://bucket/a/b.csv", ("gs://bucket", "a/b.csv")),
        ("file:///tmp/a%20b.csv", ("file", "/tmp/a b.csv")),
        (
            "abfss://usage@account.dfs.core.windows.net/langdock/users.csv",
            ("abfss://usage@account.dfs.core.windows.net", "langdock/users.csv"),
        ),
        (
            "wasbs://usage@account.dfs.core.windows.net/users.csv",
            ("wasbs://usage@account.dfs.core.windows.net", "users.csv"),
        ),
        (  # the spec names Blob Storage by its dfs host too
            "wasbs://usage@account.blob.core.windows.net/a/users.csv",
            ("wasbs://usage@account.dfs.core.windows.net", "a/users.csv"),
        ),
        (
            "abfs://usage@account.dfs.core.windows.net/u.csv",
            ("abfss://usage@account.dfs.core.windows.net", "u.csv"),
        ),
    ],
)
def test_storage_uris_follow_the_naming_spec(uri: str, naming: tuple[str, str]) -> None:
    """Each destination names itself as the OpenLineage naming spec says."""
    assert lineage.destination_naming(destination_for(uri)) == naming


def test_object_keys_are_taken_as_they_are() -> None:
    """A key is named from the destination's fields, so '#' or '?' in it is not read as URI syntax."""
    assert lineage.destination_naming(destination_for("s3://b/a#1?x.csv")) == ("s3://b", "a#1?x.csv")
    assert lineage.destination_naming(destination_for("gs://b/a#1.csv")) == ("gs://b", "a#1.csv")
    assert lineage.destination_naming(destination_for("/data/a#1.csv")) == ("file", "/data/a#1.csv")


# -- the operator's OpenLineage methods --------------------------------------------------------------


@pytest.mark.usefixtures("langdock_connection")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", DESTINATIONS)
def test_on_start_names_the_export_and_the_destination(kind: str, mode: str) -> None:
    destination, naming = DESTINATIONS[kind]
    event = event_dict(operator(destination, deferrable=MODES[mode]).get_openlineage_facets_on_start())

    [source] = event["inputs"]
    assert (source["namespace"], source["name"]) == (NAMESPACE, "usage/users")
    assert source["facets"] == {}
    assert source["inputFacets"] == {}
    if naming is None:
        assert event["outputs"] == []
    else:
        [target] = event["outputs"]
        assert (target["namespace"], target["name"]) == naming
        assert target["outputFacets"] == {}  # nothing written yet
    # The default period is the run's data interval, which the event carries as nominalTime.
    assert parameters(event) == {"data_type": "users", "timezone": "UTC"}
    assert_no_secrets(json.dumps(event))


@pytest.mark.usefixtures("langdock_connection")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", DESTINATIONS)
def test_on_complete_adds_counts_columns_and_period_from_the_return_value(kind: str, mode: str) -> None:
    """A fresh operator (as after a deferral: execute never ran here) and the pushed return value."""
    destination, naming = DESTINATIONS[kind]
    task = operator(destination, deferrable=MODES[mode], timezone="Europe/Berlin")
    ti = FakeTaskInstance("export", return_value(destination))

    event = event_dict(task.get_openlineage_facets_on_complete(ti))

    assert ti.pulls == [("export", "return_value", -1)]
    [source] = event["inputs"]
    assert (source["namespace"], source["name"]) == (NAMESPACE, "usage/users")
    assert source["inputFacets"]["inputStatistics"]["rowCount"] == 42
    assert parameters(event) == {
        "data_type": "users",
        "date_from": START.isoformat(),
        "date_to": END.isoformat(),
        "timezone": "Europe/Berlin",
    }
    if naming is None:
        assert event["outputs"] == []
        assert "schema" not in source["facets"]  # nothing was downloaded, so no header was seen
    else:
        [target] = event["outputs"]
        assert (target["namespace"], target["name"]) == naming
        statistics = target["outputFacets"]["outputStatistics"]
        assert (statistics["rowCount"], statistics["size"]) == (42, 4321)
        for dataset in (source, target):
            fields = dataset["facets"]["schema"]["fields"]
            assert [field["name"] for field in fields] == COLUMNS
            assert [field.get("type") for field in fields] == [None, "id", "string", None]  # catalogue's
    assert_no_secrets(json.dumps(event))


def test_the_schema_facet_types_and_describes_what_the_catalogue_knows() -> None:
    [user_id, cost, unknown] = lineage._schema_facets("users", ["user_id", "total_cost_usd", "shoe_size"])[
        "schema"
    ].fields
    assert (user_id.name, user_id.type, user_id.description) == ("user_id", "id", "ID of the user")
    assert (cost.type, unknown.name, unknown.type, unknown.description) == (
        "decimal",
        "shoe_size",
        None,
        None,
    )
    [model] = lineage._schema_facets("api-keys", ["model"])["schema"].fields
    assert model.type == "string"
    for data_type in (None, "{{ params.data_type }}"):  # unknown: names only
        [field] = lineage._schema_facets(data_type, ["user_id"])["schema"].fields
        assert (field.name, field.type, field.description) == ("user_id", None, None)
    assert lineage._schema_facets("users", []) == {}


@pytest.mark.usefixtures("langdock_connection")
def test_a_split_export_reports_its_whole_period_in_utc() -> None:
    request = ExportRequest.build("users", START, END, "Europe/Berlin")
    start, end = request.utc_range()
    middle = start + (end - start) / 2
    halves = [request.for_utc_range(start, middle), request.for_utc_range(middle, end)]
    parts = tuple(
        ExportPart(half, ExportResult(SIGNED_URL, f"f{n}.csv", "users", 10 + n, {"from": "", "to": ""}))
        for n, half in enumerate(halves)
    )
    metadata = Landing(ExportPlan(request, parts), "s3://b/k.csv", 99, tuple(COLUMNS)).to_dict()
    task = operator("s3://b/k.csv", deferrable=True, timezone="Europe/Berlin")

    event = event_dict(task.get_openlineage_facets_on_complete(FakeTaskInstance("export", metadata)))

    assert parameters(event)["date_from"] == start.isoformat()
    assert parameters(event)["date_to"] == end.isoformat()
    assert event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 21
    assert_no_secrets(json.dumps(event))


@pytest.mark.usefixtures("langdock_connection")
def test_explicit_dates_and_grouping_are_known_at_start() -> None:
    task = operator(
        None, deferrable=False, data_type="api-keys", group_by="model", date_from=START, date_to=END
    )
    event = event_dict(task.get_openlineage_facets_on_start())
    assert event["inputs"][0]["name"] == "usage/api_keys/by_model"
    assert parameters(event) == {
        "data_type": "api_keys",
        "group_by": "model",
        "date_from": START.isoformat(),
        "date_to": END.isoformat(),
        "timezone": "UTC",
    }


@pytest.mark.usefixtures("langdock_connection")
def test_a_mapped_task_reads_its_own_return_value() -> None:
    ti = FakeTaskInstance("export", return_value(None), map_index=3)
    operator(None, deferrable=False).get_openlineage_facets_on_complete(ti)
    assert ti.pulls == [("export", "return_value", 3)]


@pytest.mark.usefixtures("langdock_connection")
@pytest.mark.parametrize("pushed", [None, "not a mapping"])
def test_without_a_return_value_on_complete_is_on_start(pushed: Any) -> None:
    """A failed task, or one with do_xcom_push=False: what the fields say, no statistics."""
    task = operator("gs://b/k.csv", deferrable=True)
    complete = event_dict(task.get_openlineage_facets_on_complete(FakeTaskInstance("export", pushed)))
    assert complete == event_dict(task.get_openlineage_facets_on_start())


@pytest.mark.usefixtures("langdock_connection")
def test_an_unreadable_return_value_is_left_out() -> None:
    class Broken(FakeTaskInstance):
        def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
            raise RuntimeError("no XCom here")

    event = event_dict(
        operator("/data/x.csv", deferrable=False).get_openlineage_facets_on_complete(Broken("export", None))
    )
    assert event["outputs"][0]["name"] == "/data/x.csv"


def test_without_a_usable_connection_the_input_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LANGDOCK_DEFAULT", json.dumps({"conn_type": "langdock", "host": BASE_URL})
    )
    event = event_dict(operator("s3://b/k.csv", deferrable=False).get_openlineage_facets_on_start())
    assert event["inputs"] == []
    assert event["outputs"][0]["namespace"] == "s3://b"


@pytest.mark.usefixtures("langdock_connection")
def test_unrendered_templates_leave_out_what_they_name() -> None:
    task = operator("{{ var.value.where }}", deferrable=False, data_type="{{ params.data_type }}")
    event = event_dict(task.get_openlineage_facets_on_start())
    assert event["inputs"] == []
    assert event["outputs"] == []


def test_importing_the_operator_loads_no_openlineage() -> None:
    """DAG files parse without the OpenLineage client, its provider's code or Airflow's lineage modules.

    Airflow 3 itself reads every installed provider's info module, so only what appears beyond a
    plain Airflow import counts.
    """
    code = (
        "import sys\n"
        "from airflow.providers.common.compat.sdk import BaseOperator, DAG\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_langdock.operators.usage_export\n"
        "import airflow_provider_langdock.sensors.usage_export\n"
        "import airflow_provider_langdock.lineage, airflow_provider_langdock.transfer\n"
        "lineage = ('openlineage', 'airflow.providers.openlineage', 'airflow.lineage',\n"
        "           'airflow.providers.common.compat.openlineage',\n"
        "           'airflow.providers.common.compat.lineage', 'airflow.sdk.lineage')\n"
        "loaded = sorted(m for m in set(sys.modules) - before if m.startswith(lineage))\n"
        "assert not loaded, loaded\n"
        "assert not any(m.startswith('openlineage') for m in sys.modules), 'openlineage client loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- hook-level lineage ------------------------------------------------------------------------------


class RecordingCollector:
    """Records the calls of the hook lineage collector's public methods."""

    def __init__(self) -> None:
        self.inputs: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []

    def add_input_asset(self, context: Any, **asset: Any) -> None:
        self.inputs.append({"context": context, **asset})

    def add_output_asset(self, context: Any, **asset: Any) -> None:
        self.outputs.append({"context": context, **asset})


@pytest.fixture
def hook(langdock_conn: LangdockSimulator) -> Iterator[LangdockHook]:
    langdock_hook = LangdockHook()
    yield langdock_hook
    langdock_hook.close()


def test_land_plan_reports_the_export_and_the_file_to_the_hook_lineage_collector(
    hook: LangdockHook, langdock_conn: LangdockSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat.lineage import hook as compat_hook

    collector = RecordingCollector()
    monkeypatch.setattr(compat_hook, "get_hook_lineage_collector", lambda: collector)
    plan = hook.plan_export(ExportRequest.build("users", START, END, group_by="model"))

    landing = land_plan(hook, plan, LocalDestination(tmp_path / "usage.csv"))

    host = urlsplit(langdock_conn.base_url).netloc
    assert collector.inputs == [{"context": hook, "uri": f"langdock://{host}/usage/users/by_model"}]
    # Made by common-io's asset factory, as Airflow's own file hooks do: file://<path>.
    assert collector.outputs == [
        {"context": hook, "scheme": "file", "asset_kwargs": {"path": str(tmp_path / "usage.csv")}}
    ]
    header = (tmp_path / "usage.csv").read_text().splitlines()[0]
    assert landing.columns == tuple(header.split(","))
    assert landing.to_dict()["columns"] == header.split(",")


@pytest.mark.parametrize(
    ("destination", "asset"),
    [
        ("s3://bucket/a/b.csv", {"scheme": "s3", "asset_kwargs": {"bucket": "bucket", "key": "a/b.csv"}}),
        ("gs://bucket/a/b.csv", {"scheme": "gs", "asset_kwargs": {"bucket": "bucket", "key": "a/b.csv"}}),
    ],
)
def test_object_store_outputs_use_their_providers_asset_factories(
    destination: str, asset: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.common.compat.lineage import hook as compat_hook

    class Settings:
        base_url = BASE_URL

    class Hook:
        settings = Settings()

    collector = RecordingCollector()
    monkeypatch.setattr(compat_hook, "get_hook_lineage_collector", lambda: collector)
    hook = Hook()
    lineage.report_hook_lineage(hook, ExportRequest.build("models", START, END), destination_for(destination))
    assert collector.inputs == [{"context": hook, "uri": f"{NAMESPACE}/usage/models"}]
    assert collector.outputs == [{"context": hook, **asset}]


@pytest.mark.parametrize("failure", ["import", "collector"])
def test_hook_lineage_never_fails_the_transfer(
    hook: LangdockHook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    from airflow.providers.common.compat.lineage import hook as compat_hook

    if failure == "import":  # an Airflow or common-compat without hook lineage
        monkeypatch.setitem(sys.modules, "airflow.providers.common.compat.lineage.hook", None)
    else:

        def broken() -> Any:
            raise RuntimeError("collector unavailable")

        monkeypatch.setattr(compat_hook, "get_hook_lineage_collector", broken)
    plan = hook.plan_export(ExportRequest.build("users", START, END))
    landing = land_plan(hook, plan, LocalDestination(tmp_path / "usage.csv"))
    assert landing.bytes == (tmp_path / "usage.csv").stat().st_size


def test_the_asset_uri_handler_accepts_export_uris_only() -> None:
    uri = urlsplit(lineage.export_asset_uri(BASE_URL, "users"))
    assert lineage.sanitize_uri(uri) == uri
    for bad in ("langdock:///usage/users", "langdock://api.langdock.com", "langdock://api.langdock.com/"):
        with pytest.raises(ValueError, match="langdock://"):
            lineage.sanitize_uri(urlsplit(bad))


def test_the_asset_converter_names_the_export_like_the_operator() -> None:
    class Asset:
        uri = lineage.export_asset_uri(BASE_URL, "users", "model")

    dataset = as_json(lineage.convert_asset_to_openlineage(Asset(), None))
    assert (dataset["namespace"], dataset["name"]) == (NAMESPACE, "usage/users/by_model")


# -- a real run, events written by OpenLineage's file transport ---------------------------------------------

AIRFLOW_3 = int(airflow.__version__.split(".")[0]) >= 3
LINEAGE_KEY = "ld-lineage-key-7f3c9a1e5b2d4086a1c3e5f7b9d1f3a5"
RUN_SCRIPT = """
import inspect, json, sys
import pendulum
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
dag = bag.get_dag(sys.argv[2])
name = "logical_date" if "logical_date" in inspect.signature(dag.test).parameters else "execution_date"
run = dag.test(**{name: pendulum.parse(sys.argv[3])})
print("STATES=" + json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
"""


@pytest.fixture
def lineage_simulator() -> Iterator[LangdockSimulator]:
    with LangdockSimulator(api_key=LINEAGE_KEY) as running:
        yield running


def test_a_real_run_emits_lineage_without_secrets(
    airflow_db: str,
    lineage_simulator: LangdockSimulator,
    s3_bucket: str,
    s3_client: Any,
    gcs_bucket: str,
    gcs_client: Any,
    tmp_path: Path,
) -> None:
    from tests.dags.langdock_lineage_dags import CONN_ID, DAG_ID, EXPORTS, HOOK_TASK

    events_file, records, landed = tmp_path / "openlineage.json", tmp_path / "records", tmp_path / "landed"
    records.mkdir()
    simulator_conn = {
        "conn_type": "langdock",
        "host": lineage_simulator.base_url,
        "password": LINEAGE_KEY,
        "extra": {"max_retry_wait": 0},
    }
    env = {
        **os.environ,
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(simulator_conn),
        "AIRFLOW_VAR_LANGDOCK_LINEAGE_DIR": str(landed),
        "AIRFLOW_VAR_LANGDOCK_LINEAGE_S3_BUCKET": s3_bucket,
        "AIRFLOW_VAR_LANGDOCK_LINEAGE_GCS_BUCKET": gcs_bucket,
        "LANGDOCK_TEST_RECORD_DIR": str(records),
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "langdock-tests",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_DIR), os.environ.get("PYTHONPATH")])),
    }
    if AIRFLOW_3:
        # dag.test() serves the task runner's requests (XCom...) from a thread of its own process,
        # which a forked child lacks: emit from a thread, as the provider offers since 2.20.0. A
        # real worker's supervisor is another process, reachable from the default fork as well.
        env["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] = "True"
    logical_date = pendulum.now("UTC").start_of("day").subtract(days=1)
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_SCRIPT,
            str(TESTS_DIR / "dags" / "langdock_lineage_dags.py"),
            DAG_ID,
            logical_date.isoformat(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    states = json.loads(output.split("STATES=", 1)[1].splitlines()[0])
    assert set(states.values()) == {"success"}, states
    print(f"real OpenLineage run: {elapsed:.1f}s")

    text = events_file.read_text()
    pushed = json.loads((records / f"{DAG_ID}.json").read_text())
    interval = [datetime.fromisoformat(moment) for moment in pushed.pop("data_interval")]
    signatures = {
        value
        for metadata in pushed.values()
        for url in [metadata["download_url"], *(part["download_url"] for part in metadata["parts"])]
        if url
        for value in parse_qs(urlsplit(url).query).get("signature", [])
    }
    assert signatures, "the simulator's download URLs carry signatures"
    assert LINEAGE_KEY not in text
    for signature in signatures:
        assert signature not in text
    assert "signature=" not in text
    assert "X-Amz-Signature" not in text

    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    by_task: dict[str, dict[str, dict[str, Any]]] = {}
    for event in events:
        job = event["job"]["name"]
        if job.startswith(f"{DAG_ID}."):  # the last event of each type per task (a deferral starts twice)
            by_task.setdefault(job.removeprefix(f"{DAG_ID}."), {})[event["eventType"]] = event

    namespace = f"langdock://{urlsplit(lineage_simulator.base_url).netloc}"
    for task_id, (_, group_by, _) in EXPORTS.items():
        metadata = pushed[task_id]
        start, complete = by_task[task_id]["START"], by_task[task_id]["COMPLETE"]
        name = "usage/users" + (f"/by_{group_by}" if group_by else "")
        for event in (start, complete):
            assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(namespace, name)], task_id
        [source] = complete["inputs"]
        assert source["inputFacets"]["inputStatistics"]["rowCount"] == metadata["record_count"]
        period = {
            p["key"]: p["value"] for p in complete["run"]["facets"]["executionParameters"]["parameters"]
        }
        assert [datetime.fromisoformat(period[key]) for key in ("date_from", "date_to")] == interval
        if metadata.get("destination") is None:
            assert complete["outputs"] == []
            continue
        expected = lineage.destination_naming(destination_for(metadata["destination"]))
        [target] = complete["outputs"]
        assert (target["namespace"], target["name"]) == expected, task_id
        assert [(d["namespace"], d["name"]) for d in start["outputs"]] == [expected], task_id
        statistics = target["outputFacets"]["outputStatistics"]
        assert (statistics["rowCount"], statistics["size"]) == (metadata["record_count"], metadata["bytes"])
        assert [f["name"] for f in target["facets"]["schema"]["fields"]] == metadata["columns"]
        assert metadata["columns"]
        assert metadata["record_count"] > 0

    local = landed / "file_sync" / f"dt={interval[0]:%Y-%m-%d}" / "usage.csv"
    assert by_task["file_sync"]["COMPLETE"]["outputs"][0]["name"] == str(local)
    assert pushed["file_sync"]["columns"] == local.read_text().splitlines()[0].split(",")

    # The plain task's lineage comes from the hook lineage collector (land_plan reported it).
    hook_outputs = [(d["namespace"], d["name"]) for d in by_task[HOOK_TASK]["COMPLETE"]["outputs"]]
    assert hook_outputs == [("file", str(landed / HOOK_TASK / "usage.csv"))]
