"""Deterministic, fast generation of the simulator's usage rows.

Each row is ``period_start, period_end, org_id`` + one entity (from a pool of pre-rendered entities) + one
set of metrics (from a pool of pre-rendered metrics) + the ``group_by`` value, picked by one 32-bit random
number per row. The pools are rendered to CSV once per (seed, column family, BYOK), so writing a row is a
few string concatenations: fast enough for gigabyte-sized files, and streamed in small batches.

Row counts are computable without generating rows (see :meth:`SimulatedExportPlan.count`). With
``rows_per_day`` every UTC hour ``h`` (hours since the epoch) holds ``floor((h+1)*R/24) - floor(h*R/24)``
rows drawn from a random stream seeded by ``(seed, family, group_by, h)`` alone; a partial hour covering
``[s, e)`` of it (microseconds into the hour, of ``H``) holds its rows ``floor(s*n/H)`` to
``floor(e*n/H) - 1``. Adjacent ranges therefore add up to exactly the rows of their union, in the same
order. Busy periods (whole UTC hours with their own ``rows_per_day``) make the density non-uniform and
keep that property: an hour's rate, and so its rows, still depend only on the hour.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import unicodedata
import uuid
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import cache
from typing import IO, Any

from airflow_provider_langdock.testing.columns import ENTITY_COLUMNS, family_columns, metric_columns

POOL_BITS = 10
POOL_SIZE = 1 << POOL_BITS
_POOL_MASK = POOL_SIZE - 1
_GROUP_SHIFT = 2 * POOL_BITS
CHUNK_ROWS = 512
"""Rows per random-number chunk and per write: bounds the memory a file of any size needs."""

MICROS_PER_HOUR = 3_600_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_U32 = next(code for code in "IL" if array(code).itemsize == 4)

MODELS: tuple[tuple[str, str], ...] = (
    ("GPT-4o", "OpenAI"),
    ("GPT-4.1", "OpenAI"),
    ("o3-mini", "OpenAI"),
    ("Claude Sonnet 4", "Anthropic"),
    ("Claude 3.5 Haiku", "Anthropic"),
    ("Gemini 2.5 Pro", "Google"),
    ("Gemini 2.5 Flash", "Google"),
    ("Mistral Large", "Mistral"),
    ("Llama 3.3 70B", "Meta"),
    ("DeepSeek R1", "DeepSeek"),
)
_BYOK_PROVIDERS = frozenset({"OpenAI", "Anthropic", "Mistral"})
GROUP_VALUES: dict[str, tuple[str, ...]] = {
    "model": tuple(name for name, _ in MODELS),
    "source": ("WEB", "WEB", "WEB", "MOBILE"),
    "deployment": (
        "azure-openai-swedencentral",
        "openai-direct",
        "bedrock-eu-central-1",
        "vertex-europe-west4",
    ),
}
"""Values of the column a ``group_by`` adds (repeats weight the draw)."""

_FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elif", "François", "Greta", "Hannah", "Ivan", "Jürgen", "Katarzyna",
    "Lena", "Mehmet", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Søren", "Tom", "Uma", "Viktor", "Zoë",
)  # fmt: skip
_LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "O'Neil", "Nguyen", "García", "Kowalski",
    "Yilmaz", "Rossi", "Dubois", "Johansson", "Novak", "Smith", "Okafor", "Tanaka", "Becker",
)  # fmt: skip
_NICKNAMES = ("Annie", "Benji", "Dave", "Kasia", "Tommy")
_DEPARTMENTS = (
    "Engineering", "Sales", "Marketing", "Research & Development", "Finance, Controlling", "Legal",
    "Customer Success", "People & Culture", "Operations", "Product",
)  # fmt: skip
_COMPANIES = ("Acme Corp", "Globex, Inc.", 'Initech "Labs" GmbH', "Umbrella AG", "Müller & Söhne KG")
_DOMAINS = ("acme.example", "globex.example", "initech.example")
_LICENSES = ("full", "full", "full", "light", "payg")
_ROLES = ("member",) * 15 + ("editor",) * 3 + ("admin",) * 2
_TOPICS = (
    "Contract", "Sales Pitch", "Onboarding", "Code Review", "Translation", "Marketing Copy", "HR Policy",
    "Invoice", "Research", "Support Ticket", "Meeting Notes", "Data Analysis",
)  # fmt: skip
_ROLES_OF_AGENTS = ("Assistant", "Reviewer", "Helper", "Writer", "Summarizer", "Expert", "Coach")
_DESCRIPTION_PARTS = (
    "Answers questions about {topic}, using the team's templates.",
    'Drafts a first version; say "shorter" to condense it.',
    "Checks {topic} documents for missing clauses, dates and signatures.",
    "Summarizes long threads into three bullet points.",
    "Uses Web Search and File Analysis where needed.",
)
_ACTIONS = (
    "Canvas", "Web Search", "File Analysis", "Code Execution", "Image Generation", "Hubspot_create_contact",
    "Slack_send_message", "Jira_create_issue", "Google Drive_search_files",
)  # fmt: skip
_PROJECT_SUFFIXES = ("Q3 planning", "launch", "rollout, phase 2", "audit", 'the "Nova" account', "migration")
_KEY_NAMES = ("CI bot", "Data team, nightly sync", 'Zapier "prod"', "BI dashboard", "Slack integration")


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=micros)


def render_csv_cells(cells: Sequence[Any]) -> str:
    """One CSV line (without line terminator) of already-converted cells, quoted like the csv module does."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()[:-2]


def csv_cell(value: Any) -> Any:
    """How a value is written into a CSV cell: booleans lowercase, JSON objects compact."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def _new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(char for char in plain.lower() if char.isalnum())


def _count(rng: random.Random, median: float) -> int:
    """A heavy-tailed non-negative count around ``median``."""
    return int(rng.lognormvariate(0.0, 1.0) * median)


def _split(rng: random.Random, total: int, keys: Sequence[str], max_keys: int) -> dict[str, int]:
    """Spread ``total`` over up to ``max_keys`` distinct keys (an empty object when total is 0)."""
    if total <= 0:
        return {}
    chosen = rng.sample(keys, k=min(len(keys), rng.randint(1, max_keys), total))
    cuts = sorted(rng.sample(range(1, total), k=len(chosen) - 1)) if len(chosen) > 1 else []
    bounds = [0, *cuts, total]
    return {key: bounds[i + 1] - bounds[i] for i, key in enumerate(chosen)}


@dataclass(frozen=True)
class Person:
    """A workspace member, as identifying columns show them."""

    user_id: str
    name: str
    email: str
    role: str
    joined_at: str
    department: str
    company_name: str
    license_type: str


@dataclass(frozen=True)
class Workspace:
    """The simulated workspace of one seed: its id, members and the ids usage maps refer to."""

    org_id: str
    people: tuple[Person, ...]
    agent_ids: tuple[str, ...]
    project_ids: tuple[str, ...]


def _person(rng: random.Random, domain_of_org: str) -> Person:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    style = rng.random()
    if style < 0.06:
        name = f"{last}, {first}"
    elif style < 0.09:
        name = f'{first} "{rng.choice(_NICKNAMES)}" {last}'
    else:
        name = f"{first} {last}"
    department = rng.choice(_DEPARTMENTS)
    if rng.random() < 0.03:
        department = f"{department}\nEMEA"
    return Person(
        user_id=_new_uuid(rng),
        name=name,
        email=f"{_ascii_slug(first)}.{_ascii_slug(last)}{rng.randint(1, 99)}@{domain_of_org}",
        role=rng.choice(_ROLES),
        joined_at=(date(2023, 1, 2) + timedelta(days=rng.randrange(900))).isoformat(),
        department=department,
        company_name=rng.choice(_COMPANIES),
        license_type=rng.choice(_LICENSES),
    )


@cache
def workspace(seed: int) -> Workspace:
    """The deterministic workspace of ``seed``."""
    rng = random.Random(f"workspace|{seed}")
    org_id = _new_uuid(rng)
    domain = rng.choice(_DOMAINS)
    return Workspace(
        org_id=org_id,
        people=tuple(_person(rng, domain) for _ in range(POOL_SIZE)),
        agent_ids=tuple(_new_uuid(rng) for _ in range(48)),
        project_ids=tuple(_new_uuid(rng) for _ in range(32)),
    )


def _entity(family: str, rng: random.Random, index: int, space: Workspace, byok: bool) -> dict[str, Any]:
    """The identifying columns of entity ``index`` of a column family."""
    owner = space.people[rng.randrange(POOL_SIZE)]
    if family == "users":
        person = space.people[index]
        return {column: getattr(person, column) for column in ENTITY_COLUMNS["users"]}
    if family == "assistants":
        topic = rng.choice(_TOPICS)
        name = f"{topic} {rng.choice(_ROLES_OF_AGENTS)}"
        if rng.random() < 0.08:
            name = f'The "{topic}" {rng.choice(_ROLES_OF_AGENTS)}, v{rng.randint(2, 5)}'
        parts = rng.sample(_DESCRIPTION_PARTS, k=rng.randint(1, 3))
        separator = "\n" if rng.random() < 0.05 else " "
        agent_id = _new_uuid(rng)
        return {
            "agent_id": agent_id,
            "agent_name": name,
            "agent_description": separator.join(parts).format(topic=topic.lower()),
            "agent_url": f"https://app.langdock.com/assistants/{agent_id}",
            "agent_owner_id": owner.user_id,
            "agent_owner_email": owner.email,
        }
    if family == "projects":
        return {
            "project_id": _new_uuid(rng),
            "project_name": f"{rng.choice(_TOPICS)}: {rng.choice(_PROJECT_SUFFIXES)}",
            "project_owner_id": owner.user_id,
            "project_owner_email": owner.email,
        }
    if family == "models":
        name, provider = MODELS[index % len(MODELS)]
        return {"name": name, "provider": provider, "bring_your_keys": byok and provider in _BYOK_PROVIDERS}
    if family == "api_keys":
        return {"api_key_id": _new_uuid(rng), "api_key_name": f"{rng.choice(_KEY_NAMES)} #{index}"}
    return {
        "workflow_id": _new_uuid(rng),
        "workflow_name": f"{rng.choice(_TOPICS)} pipeline, step {rng.randint(1, 9)}",
        "workflow_owner_id": owner.user_id,
        "workflow_owner_email": owner.email,
    }


def _cost(rng: random.Random, tokens: int) -> float:
    """A plausible USD cost of ``tokens`` tokens (0.0 or at least a tenth of a cent)."""
    return round(max(tokens * rng.uniform(0.5, 15.0) / 1_000_000, 0.001), 4) if tokens else 0.0


def _user_metrics(rng: random.Random, space: Workspace) -> dict[str, Any]:
    model_names = GROUP_VALUES["model"]
    chat, agents, projects = _count(rng, 40), _count(rng, 12), _count(rng, 6)
    total = chat + agents + projects
    by_agent = _split(rng, agents, space.agent_ids, 4)
    by_project = _split(rng, projects, space.project_ids, 3)
    by_action = _split(rng, _count(rng, 5), _ACTIONS, 3)
    by_model = _split(rng, total, model_names, 3)
    payg = _count(rng, 3) if rng.random() < 0.2 else 0
    return {
        "messages_total": total,
        "messages_total_rank": rng.randint(1, POOL_SIZE),
        "messages_chat": chat,
        "messages_chat_rank": rng.randint(1, POOL_SIZE),
        "messages_agents": agents,
        "messages_agents_rank": rng.randint(1, POOL_SIZE),
        "agents_messaged": len(by_agent),
        "agents_to_messages": by_agent,
        "messages_projects": projects,
        "messages_projects_rank": rng.randint(1, POOL_SIZE),
        "projects_messaged": len(by_project),
        "projects_to_messages": by_project,
        "model_to_messages_total": by_model,
        "action_messages": sum(by_action.values()),
        "action_messaged": len(by_action),
        "action_to_messages": by_action,
        "payg_messages": payg,
        "payg_cost_usd": round(payg * rng.uniform(0.01, 0.2), 2),
    }


def _user_byok_metrics(rng: random.Random, by_model: dict[str, int]) -> dict[str, Any]:
    inputs = {model: count * rng.randint(200, 3000) for model, count in by_model.items()}
    outputs = {model: count * rng.randint(50, 800) for model, count in by_model.items()}
    costs = {model: _cost(rng, inputs[model] + outputs[model]) for model in by_model}
    return {
        "total_input_tokens": sum(inputs.values()),
        "total_output_tokens": sum(outputs.values()),
        "total_cost_usd": round(sum(costs.values()), 4),
        "model_to_input_tokens": inputs,
        "model_to_output_tokens": outputs,
        "model_to_cost_usd": costs,
    }


def _token_stats(rng: random.Random, requests: int, kind: str, low: int, high: int) -> dict[str, Any]:
    """sum/avg/min/max columns of ``requests`` requests of ``kind`` tokens."""
    if not requests:
        return {f"{stat}_{kind}_tokens": 0 for stat in ("sum", "avg", "min", "max")}
    smallest = rng.randint(low, (low + high) // 2)
    largest = rng.randint(smallest, high) if requests > 1 else smallest
    average = round(rng.uniform(smallest, largest), 1)
    return {
        f"sum_{kind}_tokens": round(average * requests),
        f"avg_{kind}_tokens": average,
        f"min_{kind}_tokens": smallest,
        f"max_{kind}_tokens": largest,
    }


def _token_totals(rng: random.Random, requests: int) -> dict[str, Any]:
    prompt = requests * rng.randint(300, 4000)
    cached = int(prompt * rng.uniform(0.0, 0.5))
    creation = int(prompt * rng.uniform(0.0, 0.1))
    return {
        "sum_prompt_tokens": prompt,
        "sum_completion_tokens": requests * rng.randint(50, 900),
        "sum_cached_prompt_tokens": cached,
        "sum_cache_creation_tokens": creation,
        "no_cache_tokens": prompt - cached - creation,
    }


def _metrics(family: str, rng: random.Random, space: Workspace, byok: bool) -> dict[str, Any]:
    """The metric columns (BYOK ones included when ``byok``) of one pool entry of a column family."""
    if family == "users":
        values = _user_metrics(rng, space)
        if byok:
            values |= _user_byok_metrics(rng, values["model_to_messages_total"])
        return values
    if family == "assistants":
        messages = _count(rng, 25)
        values = {"messages": messages, "unique_users": min(messages, 1 + _count(rng, 3))}
        if byok:
            values |= _token_stats(rng, messages, "prompt", 200, 6000)
            values |= _token_stats(rng, messages, "completion", 20, 1500)
        return values
    if family == "projects":
        return {"messages": _count(rng, 30)}
    if family in ("models", "api_keys"):
        requests = _count(rng, 120)
        values = {"requests": requests}
        totals = _token_totals(rng, requests)
        cost = _cost(rng, totals["sum_prompt_tokens"] + totals["sum_completion_tokens"])
        if family == "api_keys":
            values["total_cost_usd"] = cost
        if byok:
            values |= totals
            if family == "models":
                values["total_cost_usd"] = cost
        return values
    runs = _count(rng, 8)
    failed = min(runs, _count(rng, 0.5))
    return {"runs": runs, "successful_runs": runs - failed, "failed_runs": failed}


@dataclass(frozen=True)
class Pool:
    """Pre-built values of a column family: structured (for JSON) and rendered as CSV fragments."""

    entity_values: tuple[tuple[Any, ...], ...]
    metric_values: tuple[tuple[Any, ...], ...]
    entity_csv: tuple[str, ...] = field(repr=False)
    """Rendered entity columns, each followed by a comma."""
    metric_csv: tuple[str, ...] = field(repr=False)


@cache
def pool(seed: int, family: str, byok: bool) -> Pool:
    """The entity and metric pools of a column family (cached: built once per process)."""
    space = workspace(seed)
    entity_rng = random.Random(f"entities|{seed}|{family}")
    metric_rng = random.Random(f"metrics|{seed}|{family}|{byok}")
    entity_columns = ENTITY_COLUMNS[family]
    metric_names = metric_columns(family, byok=byok)
    entities = [_entity(family, entity_rng, index, space, byok) for index in range(POOL_SIZE)]
    metrics = [_metrics(family, metric_rng, space, byok) for _ in range(POOL_SIZE)]
    entity_values = tuple(tuple(entity[column] for column in entity_columns) for entity in entities)
    metric_values = tuple(tuple(metric[column] for column in metric_names) for metric in metrics)
    return Pool(
        entity_values=entity_values,
        metric_values=metric_values,
        entity_csv=tuple(render_csv_cells([csv_cell(v) for v in values]) + "," for values in entity_values),
        metric_csv=tuple(render_csv_cells([csv_cell(v) for v in values]) for values in metric_values),
    )


def _u32_values(data: bytes) -> array[int]:
    """Little-endian unsigned 32-bit numbers of ``data`` (same on every platform)."""
    values = array(_U32, data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _random_stream(key: str, rows: int) -> Iterator[array[int]]:
    """The first ``rows`` per-row random numbers of stream ``key``, in chunks of CHUNK_ROWS."""
    rng = random.Random(key)
    for first in range(0, rows, CHUNK_ROWS):
        yield _u32_values(rng.randbytes(4 * min(CHUNK_ROWS, rows - first)))


@dataclass(frozen=True)
class SimulatedExportPlan:
    """One export's rows, described compactly: counting them needs no generation.

    ``start``/``end`` are the requested UTC range and ``window_start``/``window_end`` the range with usage
    data (microseconds since the epoch, None = unbounded). ``rows_per_day=None`` means ``row_count`` rows.
    ``busy_hours`` are non-overlapping ``(first hour, end hour, rows per day)`` runs (hours since the epoch)
    whose rate replaces ``rows_per_day`` (``rows_per_day`` mode only).
    """

    seed: int
    family: str
    byok: bool
    group_by: str | None
    start: int
    end: int
    row_count: int = 100
    rows_per_day: Fraction | None = None
    window_start: int | None = None
    window_end: int | None = None
    busy_hours: tuple[tuple[int, int, Fraction], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The CSV header."""
        return family_columns(self.family, byok=self.byok, group_by=self.group_by)

    @property
    def period_start(self) -> str:
        """``period_start`` column: UTC date of the requested start."""
        return from_micros(self.start).date().isoformat()

    @property
    def period_end(self) -> str:
        """``period_end`` column: UTC date of the requested end."""
        return from_micros(self.end).date().isoformat()

    @property
    def data_range(self) -> tuple[int, int]:
        """The requested range clipped to the data window (empty when end <= start)."""
        start = self.start if self.window_start is None else max(self.start, self.window_start)
        end = self.end if self.window_end is None else min(self.end, self.window_end)
        return start, end

    @property
    def has_data(self) -> bool:
        """Whether the requested range overlaps the data window."""
        start, end = self.data_range
        return start < end

    def count(self) -> int:
        """Number of rows, without generating them."""
        if not self.has_data:
            return 0
        if self.rows_per_day is None:
            return self.row_count
        start, end = self.data_range
        return self._rows_before(end) - self._rows_before(start)

    def _rate(self, hour: int) -> Fraction:
        """Rows per day in effect during ``hour`` (rows_per_day mode)."""
        for first, end, rate in self.busy_hours:
            if first <= hour < end:
                return rate
        assert self.rows_per_day is not None
        return self.rows_per_day

    def _hour_rows(self, hour: int) -> int:
        rate = self._rate(hour)
        return (hour + 1) * rate // 24 - hour * rate // 24

    def _rows_before_hour(self, hour: int) -> int:
        """Rows in the hours before ``hour`` since the epoch: runs of one rate telescope."""
        base = self.rows_per_day
        assert base is not None
        total = hour * base // 24
        for first, end, rate in self.busy_hours:
            run_start, run_end = min(first, hour), min(end, hour)
            if run_start < run_end:
                busy = run_end * rate // 24 - run_start * rate // 24
                total += busy - (run_end * base // 24 - run_start * base // 24)
        return int(total)

    def _rows_before(self, moment: int) -> int:
        """Rows positioned before ``moment`` since the epoch (rows_per_day mode)."""
        hour, offset = divmod(moment, MICROS_PER_HOUR)
        return self._rows_before_hour(hour) + offset * self._hour_rows(hour) // MICROS_PER_HOUR

    def _stream_key(self, scope: str) -> str:
        return f"rows|{self.seed}|{self.family}|{self.group_by or ''}|{scope}"

    def random_chunks(self) -> Iterator[Sequence[int]]:
        """One random number per row, in order, in chunks of at most CHUNK_ROWS."""
        if not self.has_data:
            return
        if self.rows_per_day is None:
            yield from _random_stream(self._stream_key(f"{self.start}-{self.end}"), self.row_count)
            return
        start, end = self.data_range
        for hour in range(start // MICROS_PER_HOUR, (end - 1) // MICROS_PER_HOUR + 1):
            rows = self._hour_rows(hour)
            hour_start = hour * MICROS_PER_HOUR
            first = max(start - hour_start, 0) * rows // MICROS_PER_HOUR
            stop = min(end - hour_start, MICROS_PER_HOUR) * rows // MICROS_PER_HOUR
            position = 0
            for chunk in _random_stream(self._stream_key(f"h{hour}"), stop):
                lo, hi = max(first - position, 0), len(chunk)
                if lo < hi:
                    yield chunk[lo:hi]
                position += len(chunk)

    def _group_values(self) -> tuple[str, ...]:
        return GROUP_VALUES[self.group_by] if self.group_by else ("",)

    def write_csv(self, out: IO[bytes]) -> int:
        """Stream the CSV file (header, then rows, CRLF line endings) to ``out``; return bytes written."""
        rows = pool(self.seed, self.family, self.byok)
        prefix = f"{self.period_start},{self.period_end},{workspace(self.seed).org_id},"
        group_values = self._group_values()
        suffixes = tuple(
            ("," + render_csv_cells([value]) if self.group_by else "") + "\r\n" for value in group_values
        )
        groups = len(suffixes)
        entity_csv, metric_csv = rows.entity_csv, rows.metric_csv
        written = out.write((render_csv_cells(self.columns) + "\r\n").encode())
        for chunk in self.random_chunks():
            text = "".join(
                [
                    prefix
                    + entity_csv[number & _POOL_MASK]
                    + metric_csv[(number >> POOL_BITS) & _POOL_MASK]
                    + suffixes[(number >> _GROUP_SHIFT) % groups]
                    for number in chunk
                ]
            )
            written += out.write(text.encode())
        return written

    def csv_bytes(self) -> bytes:
        """The whole CSV file in memory (for tests: small sizes only)."""
        buffer = io.BytesIO()
        self.write_csv(buffer)
        return buffer.getvalue()

    def records(self) -> Iterator[dict[str, Any]]:
        """The rows as JSON-ready dicts (numbers as numbers, JSON-object columns as objects)."""
        rows = pool(self.seed, self.family, self.byok)
        head = (self.period_start, self.period_end, workspace(self.seed).org_id)
        group_values = self._group_values()
        columns = self.columns
        for chunk in self.random_chunks():
            for number in chunk:
                values = (
                    head
                    + rows.entity_values[number & _POOL_MASK]
                    + rows.metric_values[(number >> POOL_BITS) & _POOL_MASK]
                )
                if self.group_by:
                    values += (group_values[(number >> _GROUP_SHIFT) % len(group_values)],)
                yield dict(zip(columns, values, strict=True))
