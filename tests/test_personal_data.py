"""Personal data pseudonymized or dropped on the way in: the filter's properties and real exports."""

from __future__ import annotations

import csv
import hmac
import io
import logging
import re
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_langdock.columns import columns_of_header
from airflow_provider_langdock.csvstream import CsvRecordCounter
from airflow_provider_langdock.exceptions import LangdockInputError, LangdockVerificationError
from airflow_provider_langdock.operators.usage_export import LangdockUsageExportOperator
from airflow_provider_langdock.personal_data import (
    PSEUDONYM_LENGTH,
    PersonalDataFilter,
    check_personal_data,
    check_pseudonymization_key,
)
from airflow_provider_langdock.testing import LangdockSimulator
from airflow_provider_langdock.testing.columns import columns_for
from airflow_provider_langdock.testing.generator import workspace

from .conftest import set_langdock_default

KEY = "pseudonymization-key-for-tests-0123456789"
OTHER_KEY = "another-pseudonymization-key-9876543210"
USERS = columns_for("users")
PERSONAL = {column.name for column in columns_of_header("users", USERS) if column.personal}
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
HEX = re.compile(rf"[0-9a-f]{{{PSEUDONYM_LENGTH}}}")


def expected_pseudonym(value: str, key: str = KEY) -> str:
    """The documented pseudonym, computed here independently of the module."""
    return hmac.new(key.encode(), value.encode(), sha256).hexdigest()[:PSEUDONYM_LENGTH]


def render(rows: list[list[str]], line_ending: str = "\r\n") -> bytes:
    """CSV as Langdock writes it (CR LF); with LF, every cell quoted, so a lone CR in a cell stays in it."""
    out = io.StringIO()
    quoting = csv.QUOTE_MINIMAL if line_ending == "\r\n" else csv.QUOTE_ALL
    csv.writer(out, lineterminator=line_ending, quoting=quoting).writerows(rows)
    return out.getvalue().encode()


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut at the given sizes (cycled), as a download delivers it; the header line first."""
    header_end = data.index(b"\n") + 1
    chunks, position, index = [data[:header_end]], header_end, 0
    while position < len(data):
        size = sizes[index % len(sizes)] if sizes else len(data)
        chunks.append(data[position : position + size])
        position, index = position + size, index + 1
    return chunks


def rewrite(data: bytes, mode: Any, key: str | None = KEY, sizes: list[int] | None = None) -> bytes:
    rewriter = PersonalDataFilter("users", mode, key)
    out = b"".join(rewriter.rewrite(pieces(data, sizes or [])))
    counter = CsvRecordCounter()
    counter.feed(data)
    rewriter.check_rows(counter.data_rows)
    return out


# -- the filter, property-tested ------------------------------------------------------------------------

ordinary_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
personal_text = st.one_of(
    st.just(""),
    st.from_regex(r'Pii[A-Z][a-z]{3,6}, "[A-Z][a-z]{3,6}"\n[A-Z][a-z]{2,5}', fullmatch=True),
    st.from_regex(r"pii[a-z]{5,9}\.[a-z]{3,8}[0-9]{1,3}@[a-z]{4,8}\.example", fullmatch=True),
    st.from_regex(r"Pii[A-Z][a-z]{4,8} [A-Z][a-z]{4,9}", fullmatch=True),
)


@st.composite
def users_rows(draw: st.DrawFn) -> list[list[str]]:
    count = draw(st.integers(0, 12))
    return [
        [draw(personal_text if name in PERSONAL else ordinary_text) for name in USERS] for _ in range(count)
    ]


@settings(max_examples=60, deadline=None)
@given(rows=users_rows(), sizes=st.lists(st.integers(1, 64), max_size=5))
def test_pseudonymization_keeps_everything_but_the_personal_cells(
    rows: list[list[str]], sizes: list[int]
) -> None:
    data = render([list(USERS), *rows])
    landed = rewrite(data, "pseudonymize", sizes=sizes)
    landed_rows = parse(landed)
    assert len(landed_rows) == len(rows) + 1
    assert landed_rows[0] == list(USERS)
    for original, row in zip(rows, landed_rows[1:], strict=True):
        assert len(row) == len(original)
        for name, before, after in zip(USERS, original, row, strict=True):
            if name not in PERSONAL:
                assert after == before  # every other cell as it was
            elif before:
                assert after == expected_pseudonym(before)
            else:
                assert after == ""
    text = landed.decode()
    for original in rows:
        for name, value in zip(USERS, original, strict=True):
            if name in PERSONAL and value:
                assert value not in text  # no original value anywhere in the output
    # every byte outside the personal cells is as it was: without them, both files are the same
    assert rewrite(landed, "drop") == rewrite(data, "drop")
    # the same key gives the same output, another key other pseudonyms
    assert rewrite(data, "pseudonymize", sizes=[7]) == landed
    other = parse(rewrite(data, "pseudonymize", key=OTHER_KEY))
    for row, other_row in zip(landed_rows[1:], other[1:], strict=True):
        for name, mine, theirs in zip(USERS, row, other_row, strict=True):
            if name in PERSONAL and mine:
                assert mine != theirs


@settings(max_examples=40, deadline=None)
@given(rows=users_rows(), sizes=st.lists(st.integers(1, 64), max_size=5))
def test_drop_removes_exactly_the_personal_columns(rows: list[list[str]], sizes: list[int]) -> None:
    data = render([list(USERS), *rows], line_ending="\n")
    rewriter = PersonalDataFilter("users", "drop")
    landed = b"".join(rewriter.rewrite(pieces(data, sizes)))
    kept = [index for index, name in enumerate(USERS) if name not in PERSONAL]
    assert parse(landed) == [[row[i] for i in kept] for row in [list(USERS), *rows]]
    assert rewriter.columns == tuple(USERS[i] for i in kept)
    assert landed.endswith(b"\n")
    assert not landed.endswith(b"\r\n")  # the file's own line endings


def test_the_users_catalogue_flags_names_e_mails_and_user_ids() -> None:
    assert {"user_id", "name", "email"} <= PERSONAL
    assert {"org_id", "department", "messages_total"}.isdisjoint(PERSONAL)


def test_a_byte_order_mark_and_quoted_line_breaks_survive() -> None:
    rows = [list(USERS), ["x"] * len(USERS)]
    rows[1][USERS.index("department")] = 'Sales\nEMEA, "North"'
    rows[1][USERS.index("email")] = "jane.doe@example.com"
    data = b"\xef\xbb\xbf" + render(rows)
    landed = rewrite(data, "pseudonymize")
    assert landed.startswith(b"\xef\xbb\xbf")
    [header, row] = parse(landed)
    assert header == list(USERS)
    assert row[USERS.index("department")] == 'Sales\nEMEA, "North"'
    assert row[USERS.index("email")] == expected_pseudonym("jane.doe@example.com")


def test_short_and_odd_rows_take_the_csv_path() -> None:
    short = ["2026-01-01", "2026-01-02", "org", "user-1"]  # ends inside the personal columns
    quoted = ["x"] * len(USERS)
    quoted[USERS.index("name")] = 'Jane "JD" Doe, PhD'
    data = render([list(USERS), short, quoted]).replace(b"\r\nx,", b'\r\n"x",', 1)
    landed = parse(rewrite(data, "pseudonymize"))
    assert landed[1] == [*short[:3], expected_pseudonym("user-1")]
    assert landed[2][USERS.index("name")] == expected_pseudonym('Jane "JD" Doe, PhD')
    assert landed[2][0] == "x"
    broken = render([list(USERS)]) + b'a,b,c,"d"e,f\r\n'
    with pytest.raises(LangdockVerificationError, match="is not one CSV row"):
        list(PersonalDataFilter("users", "drop").rewrite([broken]))


def test_e_mail_addresses_inside_a_marked_json_cell_get_their_pseudonyms() -> None:
    from airflow_provider_langdock.personal_data import _RowEditor, pseudonymizer

    pseudonym = pseudonymizer(KEY)
    editor = _RowEditor("users", pseudonym=pseudonym, inside=[1])
    record = b'id-1,"{""jane@example.com"": 3, ""gpt-4o"": 2}",7\r'
    [row] = parse(editor.edit(record) + b"\n")
    assert row == ["id-1", f'{{"{expected_pseudonym("jane@example.com")}": 3, "gpt-4o": 2}}', "7"]


def test_rows_the_csv_reader_sees_must_be_the_rows_counted() -> None:
    rewriter = PersonalDataFilter("users", "drop")
    list(rewriter.rewrite([render([list(USERS), ["a"] * len(USERS)])]))
    with pytest.raises(LangdockVerificationError, match="read 1 data rows, but the file holds 2"):
        rewriter.check_rows(2)


def test_text_that_is_not_utf8_fails_without_landing() -> None:
    data = render([list(USERS)]) + b"\xff\xfe,broken\r\n"
    with pytest.raises(LangdockVerificationError, match="not UTF-8"):
        list(PersonalDataFilter("users", "drop").rewrite([data]))


def test_unknown_columns_pass_through_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    header = [*USERS, "favourite_colour", "shoe_size"]
    data = render([header, ["v"] * len(header)])
    with caplog.at_level(logging.WARNING):
        landed = parse(rewrite(data, "drop"))
    assert landed[0][-2:] == ["favourite_colour", "shoe_size"]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "favourite_colour" in warnings[0].getMessage()


@pytest.mark.parametrize("mode", ["", "Keep", "hash", None, 1])
def test_personal_data_mode_is_checked(mode: Any) -> None:
    with pytest.raises(
        LangdockInputError, match="personal_data must be one of 'keep', 'pseudonymize', 'drop'"
    ):
        check_personal_data(mode)


@pytest.mark.parametrize("key", [None, "", "   ", "short-key", 12345678901234567])
def test_a_missing_or_short_key_is_refused_without_showing_it(key: Any) -> None:
    with pytest.raises(LangdockInputError, match="at least 16 characters") as raised:
        check_pseudonymization_key(key)
    if key and str(key).strip():
        assert str(key).strip() not in str(raised.value)


# -- through the operator, against the simulator -----------------------------------------------------------


class RecordingTaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        self.pushed[key] = value


def export(
    destination: str | None, day: datetime = DAY, data_type: str = "users", **kwargs: Any
) -> tuple[dict[str, Any], RecordingTaskInstance]:
    operator = LangdockUsageExportOperator(
        task_id="export",
        data_type=data_type,
        date_from=day,
        date_to=day + timedelta(days=1),
        destination=destination,
        **kwargs,
    )
    ti = RecordingTaskInstance()
    return operator.execute({"ti": ti}), ti  # type: ignore[arg-type]


@pytest.fixture
def keyed_langdock(simulator: LangdockSimulator, monkeypatch: pytest.MonkeyPatch) -> LangdockSimulator:
    """The simulator as ``langdock_default``, with a pseudonymization key."""
    set_langdock_default(
        monkeypatch, simulator.base_url, "test-key", max_retry_wait=0, pseudonymization_key=KEY
    )
    simulator.rows_per_day = 400
    return simulator


def people_values(seed: int) -> set[str]:
    """Every name and e-mail address of the simulated workspace."""
    return {value for person in workspace(seed).people for value in (person.name, person.email)}


def test_a_pseudonymized_users_export_holds_no_name_or_address_and_keeps_its_rows(
    keyed_langdock: LangdockSimulator, tmp_path: Path
) -> None:
    export(str(tmp_path / "kept.csv"))
    metadata, ti = export(str(tmp_path / "users.csv"), personal_data="pseudonymize")
    original, landed = (
        parse((tmp_path / "kept.csv").read_bytes()),
        parse((tmp_path / "users.csv").read_bytes()),
    )
    assert len(landed) == len(original) == metadata["record_count"] + 1 > 100
    for before, after in zip(original[1:], landed[1:], strict=True):
        assert after == [
            expected_pseudonym(cell) if name in PERSONAL and cell else cell
            for name, cell in zip(USERS, before, strict=True)
        ]
    text = (tmp_path / "users.csv").read_text()
    assert not any(value in text for value in people_values(keyed_langdock.seed))
    email = USERS.index("email")
    assert all(HEX.fullmatch(row[email]) for row in landed[1:])
    assert metadata["personal_data"] == "pseudonymize"
    assert metadata["columns"] == list(USERS)
    assert metadata["download_url"] is None
    assert ti.pushed["download_url"] is None
    assert all(part["download_url"] is None for part in metadata["parts"])
    assert KEY not in repr(metadata)
    assert KEY not in repr(ti.pushed)


def test_the_same_user_gets_the_same_pseudonym_on_another_day(
    keyed_langdock: LangdockSimulator, tmp_path: Path
) -> None:
    def by_user(day: datetime, name: str) -> dict[str, tuple[str, str]]:
        export(str(tmp_path / name), day=day, personal_data="pseudonymize")
        rows = parse((tmp_path / name).read_bytes())[1:]
        user_id, email, full_name = (USERS.index(column) for column in ("user_id", "email", "name"))
        return {row[user_id]: (row[email], row[full_name]) for row in rows}

    first, second = by_user(DAY, "first.csv"), by_user(DAY + timedelta(days=3), "second.csv")
    shared = first.keys() & second.keys()
    assert len(shared) > 10
    assert all(first[user] == second[user] for user in shared)
    person = workspace(keyed_langdock.seed).people[0]
    if expected_pseudonym(person.user_id) in first:
        assert first[expected_pseudonym(person.user_id)] == (
            expected_pseudonym(person.email),
            expected_pseudonym(person.name),
        )


def test_agent_owners_are_pseudonymized_too(keyed_langdock: LangdockSimulator, tmp_path: Path) -> None:
    export(str(tmp_path / "agents.csv"), data_type="agents", personal_data="pseudonymize")
    text = (tmp_path / "agents.csv").read_text()
    assert not any(person.email in text for person in workspace(keyed_langdock.seed).people)


def test_drop_lands_the_file_without_the_personal_columns(
    keyed_langdock: LangdockSimulator, tmp_path: Path
) -> None:
    metadata, _ = export(str(tmp_path / "users.csv"), personal_data="drop")
    landed = parse((tmp_path / "users.csv").read_bytes())
    assert landed[0] == [name for name in USERS if name not in PERSONAL] == metadata["columns"]
    assert len(landed) == metadata["record_count"] + 1
    assert metadata["personal_data"] == "drop"


def test_a_split_export_keeps_one_header(keyed_langdock: LangdockSimulator, tmp_path: Path) -> None:
    keyed_langdock.rows_per_day, keyed_langdock.row_cap = 600, 1000
    metadata, _ = export_range(tmp_path / "users.csv", DAY, DAY + timedelta(days=4))
    landed = parse((tmp_path / "users.csv").read_bytes())
    assert len(metadata["parts"]) > 1
    assert sum(row == list(USERS) for row in landed) == 1
    assert len(landed) == metadata["record_count"] + 1 == 2400 + 1


def export_range(path: Path, start: datetime, end: datetime) -> tuple[dict[str, Any], RecordingTaskInstance]:
    operator = LangdockUsageExportOperator(
        task_id="export",
        data_type="users",
        date_from=start,
        date_to=end,
        destination=str(path),
        personal_data="pseudonymize",
    )
    ti = RecordingTaskInstance()
    return operator.execute({"ti": ti}), ti  # type: ignore[arg-type]


def test_a_missing_key_fails_before_any_request(langdock_conn: LangdockSimulator, tmp_path: Path) -> None:
    with pytest.raises(LangdockInputError, match="pseudonymization_key"):
        export(str(tmp_path / "users.csv"), personal_data="pseudonymize")
    assert not [request for request in langdock_conn.requests if request.server == "api"]
    assert not (tmp_path / "users.csv").exists()


def test_a_missing_key_fails_before_deferring(langdock_conn: LangdockSimulator, tmp_path: Path) -> None:
    with pytest.raises(LangdockInputError, match="pseudonymization_key"):
        export(str(tmp_path / "users.csv"), personal_data="pseudonymize", deferrable=True)


def test_personal_data_needs_a_destination() -> None:
    with pytest.raises(LangdockInputError, match="personal_data='drop' needs a destination"):
        LangdockUsageExportOperator(task_id="t", data_type="users", personal_data="drop")
    with pytest.raises(LangdockInputError, match="personal_data must be one of"):
        LangdockUsageExportOperator(
            task_id="t", data_type="users", destination="/tmp/x.csv", personal_data="mask"
        )


def test_the_key_is_never_logged(
    keyed_langdock: LangdockSimulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow_provider_langdock.hooks.langdock import LangdockHook

    with caplog.at_level(logging.DEBUG):
        metadata, ti = export(str(tmp_path / "users.csv"), personal_data="pseudonymize")
        settings = LangdockHook().settings
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err, repr(settings), repr(metadata), repr(ti.pushed)):
        assert KEY not in text
    assert settings.pseudonymization_key == KEY


@pytest.mark.parametrize("scheme", ["s3", "gs", "wasb"])
def test_every_object_store_lands_the_pseudonymized_file(
    request: pytest.FixtureRequest, keyed_langdock: LangdockSimulator, scheme: str
) -> None:
    container, conn_fixture, read = {
        "s3": ("s3_bucket", "aws_conn", _read_s3),
        "gs": ("gcs_bucket", "gcp_conn", _read_gcs),
        "wasb": ("azure_container", "wasb_conn", _read_azure),
    }[scheme]
    bucket = request.getfixturevalue(container)
    request.getfixturevalue(conn_fixture)
    metadata, _ = export(f"{scheme}://{bucket}/langdock/users.csv", personal_data="pseudonymize")
    landed = parse(read(request, bucket, "langdock/users.csv"))
    assert len(landed) == metadata["record_count"] + 1
    assert metadata["bytes"] == len(read(request, bucket, "langdock/users.csv"))
    email = USERS.index("email")
    assert all(HEX.fullmatch(row[email]) for row in landed[1:])


def _read_s3(request: pytest.FixtureRequest, bucket: str, key: str) -> bytes:
    body: bytes = request.getfixturevalue("s3_client").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _read_gcs(request: pytest.FixtureRequest, bucket: str, key: str) -> bytes:
    data: bytes = request.getfixturevalue("gcs_client").bucket(bucket).blob(key).download_as_bytes()
    return data


def _read_azure(request: pytest.FixtureRequest, bucket: str, key: str) -> bytes:
    blob = request.getfixturevalue("blob_service").get_blob_client(bucket, key)
    data: bytes = blob.download_blob().readall()
    return data


def test_the_table_schema_follows_the_personal_data_setting() -> None:
    from airflow_provider_langdock.columns import table_schema
    from airflow_provider_langdock.hooks.langdock import LangdockHook

    kept = table_schema("users")
    dropped = table_schema("users", personal_data="drop")
    pseudonymized = LangdockHook().table_schema("users", personal_data="pseudonymize")
    assert dropped.names == tuple(name for name in kept.names if name not in PERSONAL)
    assert pseudonymized.names == kept.names
    types = {column.name: column.type for column in pseudonymized.columns}
    assert {types[name] for name in PERSONAL} == {"string"}
    assert types["org_id"] == "id"
    with pytest.raises(LangdockInputError, match="personal_data must be one of"):
        table_schema("users", personal_data="hide")
