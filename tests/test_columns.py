"""The column catalogue: equal to the simulator's headers, typed, flagged, and rendered as warehouse DDL.

DDL is parsed with sqlglot for PostgreSQL and Snowflake; where PostgreSQL is installed it is also run
against a throwaway server (unix socket only) that loads the simulator's CSV files into the tables.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import typing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from airflow_provider_langdock import api
from airflow_provider_langdock.columns import (
    Column,
    ColumnType,
    TableSchema,
    bigquery_schema,
    catalogue,
    columns_of_header,
    known_columns,
    personal_columns,
    postgres_ddl,
    snowflake_ddl,
    table_schema,
)
from airflow_provider_langdock.exceptions import LangdockInputError
from airflow_provider_langdock.hooks.langdock import LangdockHook
from airflow_provider_langdock.testing import columns as simulator
from airflow_provider_langdock.testing.generator import SimulatedExportPlan, to_micros

COMBINATIONS = [
    pytest.param(name, byok, group_by, id=f"{name}-{'byok' if byok else 'plain'}-{group_by or 'ungrouped'}")
    for name, spec in sorted(api.DATA_TYPES.items())
    for byok in (False, True)
    for group_by in (None, *sorted(spec.group_by))
]
TYPES = set(typing.get_args(ColumnType))
#: Expected types per ColumnType: (BigQuery, PostgreSQL, Snowflake).
EXPECTED_TYPES = {
    "date": ("DATE", "DATE", "DATE"),
    "id": ("STRING", "TEXT", "VARCHAR"),
    "string": ("STRING", "TEXT", "VARCHAR"),
    "integer": ("INTEGER", "BIGINT", "NUMBER(38,0)"),
    "decimal": ("NUMERIC", "NUMERIC", "NUMBER(38,10)"),
    "json": ("JSON", "JSONB", "VARIANT"),
}
BIGQUERY = {name: types[0] for name, types in EXPECTED_TYPES.items()}
POSTGRES = {name: types[1] for name, types in EXPECTED_TYPES.items()}
SNOWFLAKE = {name: types[2] for name, types in EXPECTED_TYPES.items()}


def every_column() -> Iterator[Column]:
    for name, spec in api.DATA_TYPES.items():
        yield from catalogue(name, byok=True)
        for group_by in spec.group_by:
            yield catalogue(name, byok=True, group_by=group_by)[-1]


def simulated_csv(data_type: str, byok: bool, group_by: str | None, rows: int = 200) -> bytes:
    family = simulator.simulated_data_type(data_type).family
    start = to_micros(datetime(2025, 3, 1, tzinfo=UTC))
    end = to_micros(datetime(2025, 3, 8, tzinfo=UTC))
    return SimulatedExportPlan(7, family, byok, group_by, start, end, row_count=rows).csv_bytes()


# -- the catalogue ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("data_type", "byok", "group_by"), COMBINATIONS)
def test_the_catalogue_is_the_simulators_header(data_type: str, byok: bool, group_by: str | None) -> None:
    names = [column.name for column in catalogue(data_type, group_by=group_by, byok=byok)]
    assert names == list(simulator.columns_for(data_type, byok=byok, group_by=group_by))
    assert table_schema(data_type, group_by, byok).names == tuple(names)


def test_aliases_name_the_same_columns() -> None:
    assert catalogue("api-keys", byok=True) == catalogue("api_keys", byok=True)
    assert catalogue("Agents") == catalogue("assistants")
    assert table_schema("api-keys").data_type == "api_keys"


def test_byok_flags_and_json_columns_match_the_simulator() -> None:
    for name in api.DATA_TYPES:
        family = simulator.simulated_data_type(name).family
        byok_only = tuple(column.name for column in catalogue(name, byok=True) if column.byok_only)
        assert byok_only == simulator.BYOK_COLUMNS[family], name
    assert {c.name for c in every_column() if c.type == "json"} == simulator.JSON_OBJECT_COLUMNS


def test_every_column_is_typed_and_described() -> None:
    for column in every_column():
        assert column.type in TYPES, column
        assert column.description.strip() == column.description, column
        assert 0 < len(column.description) <= 256, column
        assert "\n" not in column.description, column


def test_types_of_columns_worth_a_second_look() -> None:
    users = {column.name: column.type for column in catalogue("users", byok=True)}
    assert users["period_start"] == users["period_end"] == users["joined_at"] == "date"
    assert users["org_id"] == users["user_id"] == "id"
    assert {users[name] for name in users if name.endswith("_rank")} == {"integer"}
    assert {users[name] for name in users if "_to_" in name} == {"json"}
    assert users["total_cost_usd"] == users["payg_cost_usd"] == "decimal"
    agents = {column.name: column.type for column in catalogue("agents", byok=True)}
    assert agents["avg_prompt_tokens"] == agents["avg_completion_tokens"] == "decimal"
    assert agents["min_prompt_tokens"] == agents["max_completion_tokens"] == "integer"
    assert agents["agent_owner_id"] == "id"
    models = {column.name: column.type for column in catalogue("models", byok=True)}
    assert (models["name"], models["bring_your_keys"], models["total_cost_usd"]) == (
        "string",
        "string",
        "decimal",
    )
    assert catalogue("api_keys")[-1].name == "total_cost_usd"


def test_personal_flags_are_per_data_type() -> None:
    assert personal_columns(catalogue("users", byok=True)) == ("user_id", "name", "email")
    assert personal_columns(catalogue("agents")) == ("agent_owner_id", "agent_owner_email")
    assert personal_columns(catalogue("projects")) == ("project_owner_id", "project_owner_email")
    assert personal_columns(catalogue("workflows")) == ("workflow_owner_id", "workflow_owner_email")
    for data_type in ("models", "api_keys"):
        assert personal_columns(catalogue(data_type, byok=True)) == (), data_type
    assert not any(column.json_personal for column in every_column())  # no documented JSON cell has any
    assert not any(column.personal for column in every_column() if column.name == "org_id")


@pytest.mark.parametrize(("data_type", "byok", "group_by"), COMBINATIONS)
def test_the_simulators_values_fit_the_types(data_type: str, byok: bool, group_by: str | None) -> None:
    checks: dict[str, Callable[[str], Any]] = {
        "date": date.fromisoformat,
        "id": uuid.UUID,
        "string": str,
        "integer": int,
        "decimal": Decimal,
        "json": lambda text: json.loads(text).items(),  # a JSON object
    }
    header, *rows = csv.reader(io.StringIO(simulated_csv(data_type, byok, group_by, rows=50).decode()))
    columns = catalogue(data_type, group_by=group_by, byok=byok)
    assert tuple(header) == tuple(column.name for column in columns)
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            if value:
                checks[column.type](value)


# -- headers ----------------------------------------------------------------------------------------


def test_a_header_with_new_columns_types_them_as_strings_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    header = [name for name in simulator.columns_for("users") if name not in ("name", "email")]
    header += ["favourite_colour", "shoe_size", "favourite_colour"]
    with caplog.at_level(logging.WARNING, logger="airflow_provider_langdock.columns"):
        columns = columns_of_header("users", header)
    assert [column.name for column in columns] == header
    assert [c.type for c in columns[-3:]] == ["string"] * 3
    assert columns[-1].description.startswith("Not in the catalogue")
    assert columns[header.index("role")] == known_columns("users")["role"]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "'favourite_colour', 'shoe_size'" in record.getMessage()


def test_byok_and_group_by_columns_of_a_header_are_known(caplog: pytest.LogCaptureFixture) -> None:
    header = simulator.columns_for("models", byok=True, group_by="deployment")
    with caplog.at_level(logging.WARNING):
        columns = columns_of_header("models", header)
    assert columns == catalogue("models", byok=True, group_by="deployment")
    assert caplog.records == []
    assert columns_of_header("users", ["model"])[0].type == "string"
    assert "model" not in known_columns("projects")


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: catalogue("chats"), "data_type"),
        (lambda: catalogue(""), "data_type"),
        (lambda: catalogue("users", group_by="source"), "group_by"),
        (lambda: catalogue("projects", group_by="model"), "group_by"),
        (lambda: table_schema("models", "user"), "group_by"),
        (lambda: columns_of_header("chats", ["a"]), "data_type"),
        (lambda: columns_of_header("users", "user_id,email"), "header"),
        (lambda: known_columns(None), "data_type"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_names_the_parameter(call: Callable[[], Any], parameter: str) -> None:
    with pytest.raises(LangdockInputError, match=parameter):
        call()


def test_the_hook_gives_the_table_schema_without_a_connection() -> None:
    assert LangdockHook("no-such-connection").table_schema("api-keys", byok=True) == table_schema(
        "api_keys", byok=True
    )


# -- renderers --------------------------------------------------------------------------------------


def parsed_create(ddl: str, dialect: str) -> tuple[exp.Create, list[Any]]:
    statements = sqlglot.parse(ddl, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    create, *rest = statements
    assert isinstance(create, exp.Create)
    assert create.kind == "TABLE"
    return create, [statement for statement in rest if statement is not None]


def column_defs(create: exp.Create) -> list[exp.ColumnDef]:
    return [d for d in create.this.expressions if isinstance(d, exp.ColumnDef)]


def same_type(kind: Any, expected: str, dialect: str) -> bool:
    return bool(kind.sql(dialect) == exp.DataType.build(expected, dialect=dialect).sql(dialect))


@pytest.mark.parametrize(("data_type", "byok", "group_by"), COMBINATIONS)
def test_postgres_ddl_parses(data_type: str, byok: bool, group_by: str | None) -> None:
    schema = table_schema(data_type, group_by, byok)
    create, comments = parsed_create(postgres_ddl(schema, "analytics.langdock_export"), "postgres")
    defs = column_defs(create)
    assert [d.name for d in defs] == list(schema.names)
    for column, d in zip(schema.columns, defs, strict=True):
        assert same_type(d.args["kind"], POSTGRES[column.type], "postgres"), column
    assert [(c.this.name, c.expression.this) for c in comments] == [
        (column.name, column.description) for column in schema.columns
    ]


@pytest.mark.parametrize(("data_type", "byok", "group_by"), COMBINATIONS)
def test_snowflake_ddl_parses(data_type: str, byok: bool, group_by: str | None) -> None:
    schema = table_schema(data_type, group_by, byok)
    create, rest = parsed_create(snowflake_ddl(schema, "RAW.LANGDOCK.EXPORT"), "snowflake")
    assert rest == []
    defs = column_defs(create)
    assert [d.name for d in defs] == list(schema.names)
    for column, d in zip(schema.columns, defs, strict=True):
        assert same_type(d.args["kind"], SNOWFLAKE[column.type], "snowflake"), column
        [comment] = [c.args["kind"] for c in d.constraints]
        assert isinstance(comment, exp.CommentColumnConstraint)
        assert comment.this.this == column.description


@pytest.mark.parametrize(("data_type", "byok", "group_by"), COMBINATIONS)
def test_bigquery_schema_is_accepted_by_the_client(data_type: str, byok: bool, group_by: str | None) -> None:
    bigquery = pytest.importorskip("google.cloud.bigquery")
    schema = table_schema(data_type, group_by, byok)
    fields = [bigquery.SchemaField.from_api_repr(field) for field in bigquery_schema(schema)]
    assert [field.name for field in fields] == list(schema.names)
    assert [field.field_type for field in fields] == [BIGQUERY[column.type] for column in schema.columns]
    assert {field.mode for field in fields} == {"NULLABLE"}
    assert [field.description for field in fields] == [column.description for column in schema.columns]


ODD = TableSchema(
    "users",
    (
        Column('we"ird name', "string", 'It\'s a \\ test, "quoted"\nand on two lines'),
        Column("order", "integer", "A reserved word"),
        Column("Mixed", "decimal", "Upper case"),
        Column("plain", "json", "Nothing special"),
    ),
)


def test_odd_column_names_are_quoted_and_descriptions_escaped() -> None:
    one_line = 'It\'s a \\ test, "quoted" and on two lines'
    pg = postgres_ddl(ODD, "t")
    assert '    "we""ird name" TEXT,\n    "order" BIGINT,\n    "Mixed" NUMERIC,\n    plain JSONB\n' in pg
    create, comments = parsed_create(pg, "postgres")
    assert [d.name for d in column_defs(create)] == list(ODD.names)
    assert comments[0].expression.this == one_line
    sf = snowflake_ddl(ODD, "t")
    assert "    \"order\" NUMBER(38,0) COMMENT 'A reserved word',\n    Mixed NUMBER(38,10) COMMENT" in sf
    create, _ = parsed_create(sf, "snowflake")
    assert [d.name for d in column_defs(create)] == list(ODD.names)
    assert column_defs(create)[0].constraints[0].args["kind"].this.this == one_line
    assert bigquery_schema(ODD)[0]["description"] == one_line


@pytest.mark.parametrize(
    ("table", "postgres", "snowflake"),
    [
        ("langdock_users", "langdock_users", "langdock_users"),
        ("analytics.langdock_users", "analytics.langdock_users", "analytics.langdock_users"),
        ("RAW.Langdock.Users", '"RAW"."Langdock"."Users"', "RAW.Langdock.Users"),
        ("user", '"user"', "user"),
        ("order", '"order"', '"order"'),
        ("my table", '"my table"', '"my table"'),
        ("usage-2025", '"usage-2025"', '"usage-2025"'),
    ],
)
def test_table_names_are_quoted_where_needed(table: str, postgres: str, snowflake: str) -> None:
    schema = table_schema("projects")
    assert postgres_ddl(schema, table).startswith(f"CREATE TABLE {postgres} (\n")
    assert f"COMMENT ON COLUMN {postgres}.org_id IS 'ID of the workspace';" in postgres_ddl(schema, table)
    assert snowflake_ddl(schema, table, if_not_exists=True).startswith(
        f"CREATE TABLE IF NOT EXISTS {snowflake} (\n"
    )


@pytest.mark.parametrize(
    "table",
    ["", "a..b", ".a", "a.b.c.d", 'x"y', '"quoted"', "x\ny", "nul\x00", "bidi\u202eexe", "tab\t", None, 3],
)
def test_unsafe_table_names_are_refused(table: Any) -> None:
    for render in (postgres_ddl, snowflake_ddl):
        with pytest.raises(LangdockInputError, match="table"):
            render(table_schema("users"), table)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ((), "no columns"),
        ((Column("a", "id", "x"), Column("a", "id", "y")), "more than once"),
        ((Column("a\nb", "id", "x"),), "control character"),
        ((Column("", "id", "x"),), "empty"),
    ],
)
def test_schemas_that_make_no_table_are_refused(columns: tuple[Column, ...], message: str) -> None:
    for render in (lambda s: postgres_ddl(s, "t"), lambda s: snowflake_ddl(s, "t"), bigquery_schema):
        with pytest.raises(LangdockInputError, match=message):
            render(TableSchema("users", columns))


# -- a real PostgreSQL ------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    candidates = [Path(found)] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    for initdb in candidates:
        bin_dir = initdb.resolve().parent
        if (bin_dir / "postgres").exists() and (bin_dir / "psql").exists():
            return bin_dir
    return None


@dataclass
class Postgres:
    """A throwaway server reached through ``psql`` on a private unix socket."""

    psql: list[str]

    def run(self, sql: str) -> str:
        done = subprocess.run(self.psql, input=sql, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        missing = "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)"
        if os.environ.get("LANGDOCK_POSTGRES_REQUIRED"):  # make test installs it: a skip would hide a gap
            pytest.fail(f"{missing}; run `make postgresql`")
        pytest.skip(missing)
    user, private = None, None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the 'postgres' user
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            no_user = "running as root, and there is no 'postgres' user to run PostgreSQL as"
            if os.environ.get("LANGDOCK_POSTGRES_REQUIRED"):
                pytest.fail(f"{no_user}; Debian's postgresql package creates it (`make postgresql`)")
            pytest.skip(no_user)
        base = private = Path(tempfile.mkdtemp(prefix="langdock-pg-"))  # pytest's tmp dirs are root's only
        shutil.chown(base, user)
    else:
        base = tmp_path_factory.mktemp("postgres")
    data, log = base / "data", base / "server.log"
    subprocess.run(
        [bin_dir / "initdb", "-D", data, "-U", "langdock", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"],
        user=user,
        check=True,
        capture_output=True,
        timeout=180,
    )
    with open(log, "wb") as log_file:
        server = subprocess.Popen(
            [bin_dir / "postgres", "-D", data, "-k", base, "-h", "", "-c", "fsync=off"],
            user=user,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    psql = [str(bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    psql += ["-h", str(base), "-U", "langdock", "-d", "postgres"]
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([*psql, "-c", "SELECT 1"], capture_output=True, timeout=30).returncode:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Postgres(psql)
    finally:
        server.terminate()
        server.wait(timeout=60)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


DESCRIBE_EXPORT = (
    "SELECT count(*) FROM analytics.langdock_export;",
    "SELECT string_agg(column_name || ' ' || udt_name || ' ' || col_description("
    "'analytics.langdock_export'::regclass, ordinal_position::int), '|' ORDER BY ordinal_position) "
    "FROM information_schema.columns WHERE table_name = 'langdock_export';",
)
DESCRIBE_KEYWORDS_AND_ODD = (
    "SELECT count(*) FROM pg_attribute WHERE attrelid = '\"order\"'::regclass AND attnum > 0;",
    "SELECT string_agg(attname || '=' || col_description(attrelid, attnum), '|' ORDER BY attnum) "
    "FROM pg_attribute WHERE attrelid = '\"Odd Table\"'::regclass AND attnum > 0;",
)


@pytest.mark.parametrize(("data_type", "byok", "group_by"), COMBINATIONS)
def test_postgres_creates_the_table_and_loads_the_simulators_file(
    postgres: Postgres, tmp_path: Path, data_type: str, byok: bool, group_by: str | None
) -> None:
    schema = table_schema(data_type, group_by, byok)
    export = tmp_path / "export.csv"
    export.write_bytes(simulated_csv(data_type, byok, group_by))
    copy = f"\\copy analytics.langdock_export FROM '{export}' WITH (FORMAT csv, HEADER true)"
    ddl = postgres_ddl(schema, "analytics.langdock_export", if_not_exists=True)
    out = postgres.run(
        "\n".join(["BEGIN;", "CREATE SCHEMA analytics;", ddl, copy, *DESCRIBE_EXPORT, "ROLLBACK;"])
    )
    count, described = out.splitlines()
    assert int(count) == 200
    udt = {
        "date": "date",
        "id": "text",
        "string": "text",
        "integer": "int8",
        "decimal": "numeric",
        "json": "jsonb",
    }
    assert described.split("|") == [f"{c.name} {udt[c.type]} {c.description}" for c in schema.columns]


def test_postgres_takes_every_keyword_and_odd_name(postgres: Postgres) -> None:
    keywords = postgres.run("SELECT word FROM pg_get_keywords() ORDER BY word;").split()
    assert "user" in keywords
    assert len(keywords) > 400
    schema = TableSchema("users", tuple(Column(word, "string", f"The {word}") for word in keywords))
    ddls = [postgres_ddl(schema, "order"), postgres_ddl(ODD, "Odd Table")]
    out = postgres.run("\n".join(["BEGIN;", *ddls, *DESCRIBE_KEYWORDS_AND_ODD, "ROLLBACK;"]))
    count, odd = out.splitlines()
    assert int(count) == len(keywords)
    assert odd.split("|") == [f"{c.name}={' '.join(c.description.split())}" for c in ODD.columns]
