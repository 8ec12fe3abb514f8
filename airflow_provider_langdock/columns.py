"""Typed column catalogue of Langdock's usage exports, and table schemas rendered for warehouses.

For each data type the catalogue lists the documented columns in export order: ``period_start,
period_end, org_id``, the entity's columns, its metrics, then the BYOK-only metrics; a ``group_by``
column comes last. Sources: Langdock's "Usage Exports" column definitions; the columns newer docs
add (users' ``department``, ``company_name``, ``license_type``, ``payg_*``; models' ``provider``,
``bring_your_keys`` and cache token sums; api_keys) and the workflows export (older docs name it but
list no columns) are named and placed as the bundled simulator serves them.

Exports change over time: :func:`columns_of_header` types an actual CSV header, known or not.
Nothing here does I/O.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from airflow_provider_langdock.api import resolve_data_type, validate_group_by
from airflow_provider_langdock.exceptions import LangdockInputError

log = logging.getLogger(__name__)

ColumnType = Literal["date", "id", "string", "integer", "decimal", "json"]


@dataclass(frozen=True)
class Column:
    """One export column: name, type, a one-line description and what it holds."""

    name: str
    type: ColumnType
    description: str
    #: Personal data: a person's name, e-mail address or user id (the user's, or an owner's).
    personal: bool = False
    #: Only in exports of BYOK (bring your own key) workspaces.
    byok_only: bool = False
    #: A JSON cell whose keys or values may hold e-mail addresses or people's names. No documented
    #: column does (the ``*_to_*`` objects are keyed by agent ids, project ids, model and action
    #: names), so it is set nowhere; it is here for columns Langdock may add.
    json_personal: bool = False


def _byok(*columns: Column) -> tuple[Column, ...]:
    return tuple(replace(column, byok_only=True) for column in columns)


# Types: ``period_*`` and ``joined_at`` are dates (YYYY-MM-DD, UTC, per the docs); ranks, counts and
# token sums/mins/maxes are integers; costs and averages are decimals; ``*_to_*`` cells are JSON
# objects; ``bring_your_keys`` ("true"/"false") and ``agent_url`` are strings (no boolean or URL type).
# Role, department, company and licence describe a person without identifying one: not flagged
# personal (Langdock's own privacy mode drops names and e-mail addresses, not these).
_PERIOD = (
    Column("period_start", "date", "Start date of the report (YYYY-MM-DD, UTC)"),
    Column("period_end", "date", "End date of the report (YYYY-MM-DD, UTC)"),
    Column("org_id", "id", "ID of the workspace"),
)


def _rank(kind: str) -> str:
    return (
        "Relative position of the user in a list of all workspace users sorted by "
        f"{kind} messages in the period (1 = most messages)"
    )


def _sent(where: str) -> str:
    return f"Number of messages the user has sent {where} in the period"


_USERS = (
    Column("user_id", "id", "ID of the user", personal=True),
    Column("name", "string", "Name of the user", personal=True),
    Column("email", "string", "Email of the user", personal=True),
    Column("role", "string", "Role of the user (member, editor, or admin) at the time of the export"),
    Column("joined_at", "date", "Date the user joined the workspace (YYYY-MM-DD, UTC)"),
    Column("department", "string", "Department of the user"),
    Column("company_name", "string", "Company name of the user"),
    Column("license_type", "string", "License type of the user"),
    Column("messages_total", "integer", "Total number of messages the user has sent in the period"),
    Column("messages_total_rank", "integer", _rank("total")),
    Column("messages_chat", "integer", _sent("in regular chats")),
    Column("messages_chat_rank", "integer", _rank("chat")),
    Column("messages_agents", "integer", _sent("to agent chats")),
    Column("messages_agents_rank", "integer", _rank("agent")),
    Column("agents_messaged", "integer", "Number of distinct agents the user messaged in the period"),
    Column(
        "agents_to_messages",
        "json",
        "JSON object mapping agent_id to messages_count for each agent the user messaged in the period",
    ),
    Column("messages_projects", "integer", _sent("to project chats")),
    Column("messages_projects_rank", "integer", _rank("project")),
    Column("projects_messaged", "integer", "Number of distinct projects the user messaged in the period"),
    Column(
        "projects_to_messages",
        "json",
        "JSON object mapping project_id to messages_count for each project the user messaged in the period",
    ),
    Column(
        "model_to_messages_total",
        "json",
        "JSON object mapping model_name to messages_count for each model the user messaged in the period",
    ),
    Column(
        "action_messages", "integer", "Number of messages from the user generated by actions in the period"
    ),
    Column("action_messaged", "integer", "Number of distinct actions the user triggered in the period"),
    Column(
        "action_to_messages",
        "json",
        "JSON object mapping action_name to messages_count for each action the user triggered in the "
        "period (capabilities such as Canvas or Web Search, and integration actions)",
    ),
    Column("payg_messages", "integer", "Number of pay-as-you-go messages of the user in the period"),
    Column("payg_cost_usd", "decimal", "Cost in USD of the user's pay-as-you-go usage in the period"),
    *_byok(
        Column("total_input_tokens", "integer", "Total input tokens consumed by the user in the period"),
        Column("total_output_tokens", "integer", "Total output tokens generated for the user in the period"),
        Column("total_cost_usd", "decimal", "Total estimated cost in USD for the user in the period"),
        Column(
            "model_to_input_tokens", "json", "JSON object mapping model name to input token count per model"
        ),
        Column(
            "model_to_output_tokens", "json", "JSON object mapping model name to output token count per model"
        ),
        Column("model_to_cost_usd", "json", "JSON object mapping model name to cost in USD per model"),
    ),
)


def _per_request(stat: str, kind: str) -> str:
    return f"{stat} number of {kind} tokens used per request by this agent in the period"


_AGENTS = (
    Column("agent_id", "id", "ID of the agent"),
    Column("agent_name", "string", "Name of the agent at the time of the export"),
    Column("agent_description", "string", "Description of the agent at the time of the export"),
    Column("agent_url", "string", "URL of the agent"),
    Column(
        "agent_owner_id",
        "id",
        "ID of the user who is the owner of the agent at the time of the export",
        personal=True,
    ),
    Column(
        "agent_owner_email",
        "string",
        "Email of the user who is the owner of the agent at the time of the export",
        personal=True,
    ),
    Column("messages", "integer", "Number of messages sent to this agent in the period"),
    Column(
        "unique_users",
        "integer",
        "Number of distinct users who sent at least 1 message to this agent in the period",
    ),
    *_byok(
        Column("sum_prompt_tokens", "integer", "Sum of all prompt tokens used by this agent in the period"),
        Column(
            "avg_prompt_tokens",
            "decimal",
            "Average number of prompt tokens per request for this agent in the period",
        ),
        Column("min_prompt_tokens", "integer", _per_request("Smallest", "prompt")),
        Column("max_prompt_tokens", "integer", _per_request("Largest", "prompt")),
        Column(
            "sum_completion_tokens", "integer", "Total completion tokens used by this agent in the period"
        ),
        Column("avg_completion_tokens", "decimal", _per_request("Average", "completion")),
        Column("min_completion_tokens", "integer", _per_request("Smallest", "completion")),
        Column("max_completion_tokens", "integer", _per_request("Largest", "completion")),
    ),
)
_PROJECTS = (
    Column("project_id", "id", "ID of the project"),
    Column("project_name", "string", "Name of the project at the time of the export"),
    Column("project_owner_id", "id", "ID of the user who is the owner of the project", personal=True),
    Column(
        "project_owner_email", "string", "Email of the user who is the owner of the project", personal=True
    ),
    Column("messages", "integer", "Number of messages within chats of the project in the period"),
)


def _token_sums(subject: str, prompt: str, completion: str) -> tuple[Column, ...]:
    """BYOK token sums; ``prompt`` and ``completion`` are the first two's descriptions."""
    return _byok(
        Column("sum_prompt_tokens", "integer", prompt),
        Column("sum_completion_tokens", "integer", completion),
        Column("sum_cached_prompt_tokens", "integer", f"Sum of prompt tokens {subject} read from the cache"),
        Column("sum_cache_creation_tokens", "integer", f"Sum of tokens {subject} written to the cache"),
        Column("no_cache_tokens", "integer", f"Prompt tokens {subject} that involved no cache"),
    )


_MODELS = (
    Column("name", "string", "Name of the model at the time of the export"),  # a model: not personal
    Column("provider", "string", "Provider of the model"),
    Column("bring_your_keys", "string", "Whether the model runs on the workspace's own key: true or false"),
    Column("requests", "integer", "Number of requests sent to this model across all products in the period"),
    *_token_sums(
        "of this model in the period",
        "Sum of all prompt tokens sent to this model in the period",
        "Sum of all completion tokens generated by this model in the period",
    ),
    *_byok(Column("total_cost_usd", "decimal", "Total estimated cost in USD of this model in the period")),
)
_API_KEYS = (
    Column("api_key_id", "id", "ID of the API key"),
    Column("api_key_name", "string", "Name of the API key"),
    Column("requests", "integer", "Number of requests made with this API key in the period"),
    Column("total_cost_usd", "decimal", "Total estimated cost in USD of this API key's requests"),
    *_token_sums(
        "of this API key's requests in the period",
        "Sum of all prompt tokens of this API key's requests in the period",
        "Sum of all completion tokens of this API key's requests in the period",
    ),
)
_WORKFLOWS = (
    Column("workflow_id", "id", "ID of the workflow"),
    Column("workflow_name", "string", "Name of the workflow"),
    Column("workflow_owner_id", "id", "ID of the user who owns the workflow", personal=True),
    Column("workflow_owner_email", "string", "Email of the user who owns the workflow", personal=True),
    Column("runs", "integer", "Number of runs of the workflow in the period"),
    Column("successful_runs", "integer", "Number of successful runs of the workflow in the period"),
    Column("failed_runs", "integer", "Number of failed runs of the workflow in the period"),
)
_CATALOGUE: dict[str, tuple[Column, ...]] = {
    name: _PERIOD + columns
    for name, columns in {
        "users": _USERS,
        "agents": _AGENTS,
        "assistants": _AGENTS,
        "api_keys": _API_KEYS,
        "projects": _PROJECTS,
        "models": _MODELS,
        "workflows": _WORKFLOWS,
    }.items()
}
_GROUP_COLUMNS = {
    "model": Column("model", "string", "Model the row's usage is grouped by (group_by=model)"),
    "source": Column("source", "string", "Where the requests came from: WEB or MOBILE (group_by=source)"),
    "deployment": Column(
        "deployment", "string", "Deployment that served the requests (group_by=deployment, BYOK only)"
    ),
}


def catalogue(data_type: str, *, group_by: str | None = None, byok: bool = False) -> tuple[Column, ...]:
    """The documented columns of an export, in order: BYOK-only ones with ``byok``, then ``group_by``'s."""
    spec = resolve_data_type(data_type)
    grouping = validate_group_by(spec, group_by)
    columns = tuple(column for column in _CATALOGUE[spec.name] if byok or not column.byok_only)
    return columns + ((_GROUP_COLUMNS[grouping],) if grouping else ())


def known_columns(data_type: str) -> dict[str, Column]:
    """Every column an export of ``data_type`` may have, by name (BYOK-only and ``group_by`` ones too)."""
    spec = resolve_data_type(data_type)
    known = {column.name: column for column in _CATALOGUE[spec.name]}
    known.update((name, _GROUP_COLUMNS[name]) for name in sorted(spec.group_by))
    return known


def columns_of_header(data_type: str, header: Sequence[str]) -> tuple[Column, ...]:
    """Columns of an actual CSV header; names the catalogue lacks are strings, with one warning.

    Documented columns missing from the header are fine: workspaces with user-level data disabled
    leave out identifying ones.
    """
    if isinstance(header, str) or not isinstance(header, Sequence):
        raise LangdockInputError(f"header must be a sequence of column names; got {type(header).__name__}.")
    known = known_columns(data_type)
    unknown = [name for name in dict.fromkeys(header) if name not in known]
    if unknown:
        log.warning(
            "The %s export has %d column(s) the catalogue does not know, typed as string: %s",
            resolve_data_type(data_type).name,
            len(unknown),
            ", ".join(repr(name) for name in unknown),
        )
    return tuple(known.get(name) or _unknown_column(name) for name in header)


def _unknown_column(name: str) -> Column:
    return Column(name, "string", "Not in the catalogue (a column Langdock added later); typed as string")


def personal_columns(columns: Iterable[Column]) -> tuple[str, ...]:
    """Names of the columns that hold personal data (``personal`` or ``json_personal``)."""
    return tuple(column.name for column in columns if column.personal or column.json_personal)


@dataclass(frozen=True)
class TableSchema:
    """The columns of one export (canonical ``data_type``), in order: a warehouse table's schema."""

    data_type: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(column.name for column in self.columns)


def table_schema(
    data_type: str, group_by: str | None = None, byok: bool = False, personal_data: str = "keep"
) -> TableSchema:
    """The :class:`TableSchema` of an export as it lands: :func:`catalogue`'s columns.

    With ``personal_data="drop"`` the personal columns are left out; with ``"pseudonymize"`` they are
    strings (pseudonyms), as the operator with that setting lands them.
    """
    from airflow_provider_langdock.personal_data import check_personal_data  # it imports this module

    mode = check_personal_data(personal_data)
    name = resolve_data_type(data_type).name
    columns = catalogue(name, group_by=group_by, byok=byok)
    if mode == "drop":
        columns = tuple(column for column in columns if not (column.personal or column.json_personal))
    elif mode == "pseudonymize":
        columns = tuple(_pseudonymized(column) if column.personal else column for column in columns)
    return TableSchema(name, columns)


def _pseudonymized(column: Column) -> Column:
    return replace(column, type="string", description=f"{column.description} (pseudonymized)")


# -- renderers ------------------------------------------------------------------------------------

# "INTEGER" is what BigQuery reports back for INT64 (so schemas compare equal); NUMERIC keeps 9
# decimal places and rounds longer fractions on load.
_BIGQUERY_TYPES: dict[str, str] = {
    "date": "DATE",
    "id": "STRING",
    "string": "STRING",
    "integer": "INTEGER",
    "decimal": "NUMERIC",
    "json": "JSON",
}
_POSTGRES_TYPES: dict[str, str] = {
    "date": "DATE",
    "id": "TEXT",
    "string": "TEXT",
    "integer": "BIGINT",
    "decimal": "NUMERIC",
    "json": "JSONB",
}
_SNOWFLAKE_TYPES: dict[str, str] = {
    "date": "DATE",
    "id": "VARCHAR",
    "string": "VARCHAR",
    "integer": "NUMBER(38,0)",
    "decimal": "NUMBER(38,10)",
    "json": "VARIANT",
}
# Words that cannot name a column or table unquoted. PostgreSQL: pg_get_keywords() of categories R
# and T (version 15, plus system_user of 16). Snowflake: its reserved keywords.
_POSTGRES_RESERVED = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
    "binary", "both", "case", "cast", "check", "collate", "collation", "column", "concurrently",
    "constraint", "create", "cross", "current_catalog", "current_date", "current_role", "current_schema",
    "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do",
    "else", "end", "except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group",
    "having", "ilike", "in", "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral",
    "leading", "left", "like", "limit", "localtime", "localtimestamp", "natural", "not", "notnull", "null",
    "offset", "on", "only", "or", "order", "outer", "overlaps", "placing", "primary", "references",
    "returning", "right", "select", "session_user", "similar", "some", "symmetric", "system_user", "table",
    "tablesample", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic",
    "verbose", "when", "where", "window", "with"
})  # fmt: skip
_SNOWFLAKE_RESERVED = frozenset({
    "account", "all", "alter", "and", "any", "as", "between", "by", "case", "cast", "check", "column",
    "connect", "connection", "constraint", "create", "cross", "current", "current_date", "current_time",
    "current_timestamp", "current_user", "database", "delete", "distinct", "drop", "else", "exists",
    "false", "following", "for", "from", "full", "grant", "group", "gscluster", "having", "ilike", "in",
    "increment", "inner", "insert", "intersect", "into", "is", "issue", "join", "lateral", "left", "like",
    "localtime", "localtimestamp", "minus", "natural", "not", "null", "of", "on", "or", "order",
    "organization", "qualify", "regexp", "revoke", "right", "rlike", "row", "rows", "sample", "schema",
    "select", "set", "some", "start", "table", "tablesample", "then", "to", "trigger", "true", "try_cast",
    "union", "unique", "update", "using", "values", "view", "when", "whenever", "where", "with"
})  # fmt: skip
_POSTGRES_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")  # unquoted names fold to lower case
_SNOWFLAKE_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")  # unquoted names fold to upper case


def bigquery_schema(schema: TableSchema) -> list[dict[str, str]]:
    """BigQuery API field dicts (``name``, ``type``, ``mode``, ``description``) of ``schema``."""
    return [
        {
            "name": column.name,
            "type": _BIGQUERY_TYPES[column.type],
            "mode": "NULLABLE",
            "description": _one_line(column.description)[:1024],
        }
        for column in _checked_columns(schema)
    ]


def postgres_ddl(schema: TableSchema, table: str, *, if_not_exists: bool = False) -> str:
    """``CREATE TABLE`` and ``COMMENT ON COLUMN`` statements for PostgreSQL.

    ``table`` may be ``schema.table``; names are quoted only where needed (upper case, reserved
    words, other characters), so quoted ones keep their case. Comments are standard SQL strings
    (``standard_conforming_strings``, on by default).
    """
    name = _table_name(table, _POSTGRES_PLAIN, _POSTGRES_RESERVED)
    columns = _checked_columns(schema)
    idents = [_identifier(column.name, _POSTGRES_PLAIN, _POSTGRES_RESERVED) for column in columns]
    body = ",\n".join(
        f"    {ident} {_POSTGRES_TYPES[column.type]}" for ident, column in zip(idents, columns, strict=True)
    )
    statements = [f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{name} (\n{body}\n);"]
    statements += [
        f"COMMENT ON COLUMN {name}.{ident} IS {_sql_string(column.description)};"
        for ident, column in zip(idents, columns, strict=True)
    ]
    return "\n".join(statements) + "\n"


def snowflake_ddl(schema: TableSchema, table: str, *, if_not_exists: bool = False) -> str:
    """A ``CREATE TABLE`` statement for Snowflake, with a ``COMMENT`` per column.

    ``table`` may be ``database.schema.table``. Plain names stay unquoted (Snowflake stores them
    upper case); others are quoted and keep their case. JSON cells load into VARIANT with PARSE_JSON.
    """
    name = _table_name(table, _SNOWFLAKE_PLAIN, _SNOWFLAKE_RESERVED)
    body = ",\n".join(
        f"    {_identifier(column.name, _SNOWFLAKE_PLAIN, _SNOWFLAKE_RESERVED)} "
        f"{_SNOWFLAKE_TYPES[column.type]} COMMENT {_sql_string(column.description, backslash=True)}"
        for column in _checked_columns(schema)
    )
    return f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{name} (\n{body}\n);\n"


def _checked_columns(schema: TableSchema) -> tuple[Column, ...]:
    names = [column.name for column in schema.columns]
    if not names:
        raise LangdockInputError("schema has no columns; a table needs at least one.")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise LangdockInputError(f"schema names columns more than once: {duplicates!r}.")
    for name in names:
        if not name or _has_control(name):
            raise LangdockInputError(f"column name {name!r} is empty or holds a control character.")
    return schema.columns


def _table_name(table: str, plain: re.Pattern[str], reserved: frozenset[str]) -> str:
    parts = table.split(".") if isinstance(table, str) else []
    if not 1 <= len(parts) <= 3 or any(not part or '"' in part or _has_control(part) for part in parts):
        raise LangdockInputError(
            f"table {table!r} must be a name such as 'langdock_users' or 'analytics.langdock_users': "
            "one to three non-empty dot-separated parts without quotes or control characters "
            "(quoting is added where needed)."
        )
    return ".".join(_identifier(part, plain, reserved) for part in parts)


def _identifier(name: str, plain: re.Pattern[str], reserved: frozenset[str]) -> str:
    if plain.match(name) and name.lower() not in reserved:
        return name
    return '"' + name.replace('"', '""') + '"'


def _has_control(text: str) -> bool:
    """Control, format (invisible, e.g. bidi overrides), surrogate, private or line-separator chars."""
    return any(unicodedata.category(char)[0] == "C" or char in "\u2028\u2029" for char in text)


def _one_line(text: str) -> str:
    return " ".join("".join(" " if _has_control(char) else char for char in text).split())


def _sql_string(text: str, *, backslash: bool = False) -> str:
    """A single-quoted SQL string of ``text`` on one line (``backslash``: Snowflake escapes it)."""
    text = _one_line(text)
    if backslash:
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


__all__ = [
    "Column",
    "ColumnType",
    "TableSchema",
    "bigquery_schema",
    "catalogue",
    "columns_of_header",
    "known_columns",
    "personal_columns",
    "postgres_ddl",
    "snowflake_ddl",
    "table_schema",
]
