"""Column sets and per-data-type rules of the Langdock Usage Export API, as the simulator serves them.

Every data type's columns are ``period_start, period_end, org_id``, then the columns describing the
entity (user, agent, ...), then its metrics, then the BYOK-only metrics (BYOK workspaces only), then the
``group_by`` column when one was requested.
"""

from __future__ import annotations

from dataclasses import dataclass

PERIOD_COLUMNS: tuple[str, ...] = ("period_start", "period_end", "org_id")


@dataclass(frozen=True)
class DataTypeSpec:
    """What one export path serves: its ``dataType``, its column family and its ``group_by`` rules."""

    path: str
    data_type: str
    family: str
    group_by: tuple[str, ...]
    byok_only_group_by: tuple[str, ...] = ()


DATA_TYPES: dict[str, DataTypeSpec] = {
    spec.path: spec
    for spec in (
        DataTypeSpec("users", "users", "users", ("model",)),
        DataTypeSpec("agents", "agents", "assistants", ("model",)),
        DataTypeSpec("assistants", "assistants", "assistants", ("model",)),
        DataTypeSpec("api-keys", "api_keys", "api_keys", ("model",)),
        DataTypeSpec("projects", "projects", "projects", ()),
        DataTypeSpec("models", "models", "models", ("source", "deployment"), ("deployment",)),
        DataTypeSpec("workflows", "workflows", "workflows", ()),
    )
}
"""Export paths (``/export/<path>``) to what they serve."""

ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "user_id",
        "name",
        "email",
        "role",
        "joined_at",
        "department",
        "company_name",
        "license_type",
    ),
    "assistants": (
        "agent_id",
        "agent_name",
        "agent_description",
        "agent_url",
        "agent_owner_id",
        "agent_owner_email",
    ),
    "projects": ("project_id", "project_name", "project_owner_id", "project_owner_email"),
    "models": ("name", "provider", "bring_your_keys"),
    "api_keys": ("api_key_id", "api_key_name"),
    "workflows": ("workflow_id", "workflow_name", "workflow_owner_id", "workflow_owner_email"),
}
"""Columns describing the row's entity, per column family."""

METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "messages_total",
        "messages_total_rank",
        "messages_chat",
        "messages_chat_rank",
        "messages_agents",
        "messages_agents_rank",
        "agents_messaged",
        "agents_to_messages",
        "messages_projects",
        "messages_projects_rank",
        "projects_messaged",
        "projects_to_messages",
        "model_to_messages_total",
        "action_messages",
        "action_messaged",
        "action_to_messages",
        "payg_messages",
        "payg_cost_usd",
    ),
    "assistants": ("messages", "unique_users"),
    "projects": ("messages",),
    "models": ("requests",),
    "api_keys": ("requests", "total_cost_usd"),
    "workflows": ("runs", "successful_runs", "failed_runs"),
}
"""Usage metrics every workspace gets, per column family."""

_TOKEN_TOTAL_COLUMNS: tuple[str, ...] = (
    "sum_prompt_tokens",
    "sum_completion_tokens",
    "sum_cached_prompt_tokens",
    "sum_cache_creation_tokens",
    "no_cache_tokens",
)

BYOK_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "total_input_tokens",
        "total_output_tokens",
        "total_cost_usd",
        "model_to_input_tokens",
        "model_to_output_tokens",
        "model_to_cost_usd",
    ),
    "assistants": (
        "sum_prompt_tokens",
        "avg_prompt_tokens",
        "min_prompt_tokens",
        "max_prompt_tokens",
        "sum_completion_tokens",
        "avg_completion_tokens",
        "min_completion_tokens",
        "max_completion_tokens",
    ),
    "projects": (),
    "models": (*_TOKEN_TOTAL_COLUMNS, "total_cost_usd"),
    "api_keys": _TOKEN_TOTAL_COLUMNS,
    "workflows": (),
}
"""Metrics only BYOK (bring your own key) workspaces get, per column family."""

JSON_OBJECT_COLUMNS: frozenset[str] = frozenset(
    {
        "agents_to_messages",
        "projects_to_messages",
        "model_to_messages_total",
        "action_to_messages",
        "model_to_input_tokens",
        "model_to_output_tokens",
        "model_to_cost_usd",
    }
)
"""Columns holding a JSON object (serialized into one CSV cell)."""


def simulated_data_type(data_type: str) -> DataTypeSpec:
    """Look a data type up by export path (``api-keys``) or by ``dataType`` (``api_keys``)."""
    if data_type in DATA_TYPES:
        return DATA_TYPES[data_type]
    for spec in DATA_TYPES.values():
        if spec.data_type == data_type:
            return spec
    raise ValueError(f"unknown data type {data_type!r}; expected one of {sorted(DATA_TYPES)}")


def metric_columns(family: str, *, byok: bool) -> tuple[str, ...]:
    """The metric columns of a column family, BYOK columns included when ``byok``."""
    return METRIC_COLUMNS[family] + (BYOK_COLUMNS[family] if byok else ())


def family_columns(family: str, *, byok: bool, group_by: str | None) -> tuple[str, ...]:
    """The header of an export of a column family."""
    group_column = (group_by,) if group_by else ()
    return PERIOD_COLUMNS + ENTITY_COLUMNS[family] + metric_columns(family, byok=byok) + group_column


def columns_for(data_type: str, *, byok: bool = False, group_by: str | None = None) -> tuple[str, ...]:
    """The header of an export of ``data_type`` (export path or ``dataType``)."""
    return family_columns(simulated_data_type(data_type).family, byok=byok, group_by=group_by)
