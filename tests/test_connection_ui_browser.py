"""The ``langdock`` connection form of Airflow 3's UI, driven in headless Chromium with Playwright.

A real ``airflow api-server`` (own AIRFLOW_HOME, SQLite, simple auth manager, connection testing on)
and the Langdock simulator, both on 127.0.0.1. The form must show what ``connection_ui.py`` declares,
save the extras as typed JSON, and the connection test must pass against the simulator and fail
clearly for a wrong API key and an unreachable host.

Airflow 3.3's Test button sends ``port: 0`` for a connection without a port, which the API answers
with "400 Bad Request: The host or port to test differs from the stored connection". The test
records what the button answered and, on that known answer, checks the routes that work: the REST
API's ``POST /api/v2/connections/test`` for the stored connection and ``airflow connections test``.
A route summary is written to ``connection-test-routes.json`` beside the screenshots.

Needs Debian's ``chromium`` (``make chromium``) and Playwright (``dev`` extra); skipped otherwise.
Run it alone with ``make test-ui``. Screenshots go to ``tests/artifacts/ui/`` or ``$LANGDOCK_UI_ARTIFACTS``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from airflow_provider_langdock.connection_ui import CONN_FIELDS, CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR
from airflow_provider_langdock.testing import LangdockSimulator
from tests.airflow_api_server import AirflowApiServer, free_loopback_port

pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]


def _unavailable(reason: str) -> None:
    """Skip the module, or fail it where the browser test is required (``make test-ui``)."""
    if os.environ.get("LANGDOCK_UI_REQUIRED"):
        pytest.fail(f"LANGDOCK_UI_REQUIRED is set, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if Version(version("apache-airflow")) < Version("3.0"):
    _unavailable("the React connection form and `airflow api-server` need Airflow 3")

CHROMIUM = os.environ.get("LANGDOCK_UI_CHROMIUM", "/usr/bin/chromium")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    _unavailable(f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's package")
try:
    from playwright import sync_api
except ImportError:
    _unavailable("Playwright is missing: `pip install playwright` (it is in the dev extra)")

# Chromium on a closed network: no first-run, sync, component or background traffic to Google.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000  # one UI step on a busy 2-core machine
API_KEY = "ui-test-key"
FORM_CONN_ID = "langdock_ui"
ARTIFACTS = Path(os.environ.get("LANGDOCK_UI_ARTIFACTS") or Path(__file__).parent / "artifacts" / "ui")

#: What the test types into the extra fields, and the JSON values Airflow must store for it.
TYPED_EXTRAS: dict[str, tuple[str, Any]] = {
    "timeout": ("30.5", 30.5),
    "max_attempts": ("2", 2),
    "max_retry_wait": ("1", 1),
}
KNOWN_PORT_BUG = "The host or port to test differs from the stored connection"


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots and the connection-test route summary go to {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="module")
def ui_simulator() -> Iterator[LangdockSimulator]:
    with LangdockSimulator(api_key=API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    home = tmp_path_factory.mktemp("airflow-ui-home")
    server = AirflowApiServer(home)
    try:
        with server:
            yield server
    finally:
        # the server log beside the screenshots: the first place to look when the UI misbehaves
        if server.log_path.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, ARTIFACTS / "api-server.log")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 2200},  # the whole dialog in one screenshot
            timeout=120_000,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def routes_report(artifacts: Path) -> Iterator[dict[str, Any]]:
    """What each connection-test route answered, written as JSON at the end of the module."""
    report: dict[str, Any] = {}
    yield report
    path = artifacts / "connection-test-routes.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nconnection-test routes: {path}")


def _new_page(browser: Any) -> Any:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(2 * TIMEOUT_MS)
    return page


def _save_failure(page: Any, name: str) -> None:
    try:
        page.screenshot(path=str(ARTIFACTS / f"failure-{name}.png"), full_page=True)
        (ARTIFACTS / f"failure-{name}.html").write_text(page.content())
        print(f"\nfailure screenshot: {ARTIFACTS / f'failure-{name}.png'}")
    except Exception as error:  # the browser may be gone
        print(f"\nno failure screenshot: {error}")


@pytest.fixture
def page(
    browser: Any, airflow_server: AirflowApiServer, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh tab; a screenshot and the HTML are kept when the test fails."""
    tab = _new_page(browser)
    failed_before = request.session.testsfailed
    try:
        yield tab
    finally:
        if request.session.testsfailed > failed_before:
            _save_failure(tab, request.node.name)
        tab.close()


# -- the form ---------------------------------------------------------------------------------------


def open_add_form(page: Any, server: AirflowApiServer) -> Any:
    """Admin -> Connections -> Add Connection, type Langdock; returns the dialog."""
    page.goto(server.url("/"))
    page.get_by_role("button", name="Admin", exact=True).click()
    page.get_by_role("menuitem", name="Connections", exact=True).click()
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    sync_api.expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()
    dialog.get_by_role("combobox", name="Connection Type").fill(HOOK_NAME)
    page.get_by_role("option", name=HOOK_NAME, exact=True).click()
    sync_api.expect(dialog.get_by_role("button", name="Standard Fields", exact=True)).to_be_visible()
    return dialog


def open_section(dialog: Any, title: str) -> Any:
    """Expand one accordion section of the form (the others close) and return its region."""
    trigger = dialog.get_by_role("button", name=title, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    sync_api.expect(trigger).to_have_attribute("aria-expanded", "true")
    # the region is the element the trigger controls (its id may contain spaces)
    region = dialog.locator(f'[id="{trigger.get_attribute("aria-controls")}"]')
    sync_api.expect(region).to_be_visible()
    return region


def field(container: Any, name: str) -> tuple[Any, Any]:
    """The input named ``name`` and its form-field root (label, helper text)."""
    selector = f'[name="{name}"]'
    roots = container.locator('[data-scope="field"][data-part="root"]')
    # ``has`` is matched inside each root; the innermost root holding the input is the last one
    return container.locator(selector), roots.filter(has=container.page.locator(selector)).last


def label_of(root: Any) -> str:
    return str(root.locator('label[data-scope="field"][data-part="label"]').first.inner_text()).strip()


def labels_in(region: Any) -> list[str]:
    texts = region.locator('label[data-scope="field"][data-part="label"]').all_inner_texts()
    return [text.strip() for text in texts]


def test_the_form_shows_the_declared_langdock_fields(
    page: Any, airflow_server: AirflowApiServer, artifacts: Path
) -> None:
    dialog = open_add_form(page, airflow_server)
    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]

    # standard fields: host and password relabelled, with placeholders; schema, login, port hidden
    standard = open_section(dialog, "Standard Fields")
    assert labels_in(standard) == ["Description", "Base URL", "API key"]
    for name, label in UI_FIELD_BEHAVIOUR["relabeling"].items():
        control = dialog.get_by_label(label, exact=True)  # the label is tied to its input
        assert control.get_attribute("name") == name
        assert control.get_attribute("placeholder") == placeholders[name]
        assert control.input_value() == ""
    assert dialog.get_by_label("API key", exact=True).get_attribute("type") == "password"
    for hidden in UI_FIELD_BEHAVIOUR["hidden-fields"]:
        assert dialog.locator(f'[name="{hidden}"]').count() == 0, f"{hidden} is shown"
    for hidden_label in ("Login", "Port", "Schema", "Host", "Password"):
        assert dialog.get_by_text(hidden_label, exact=True).count() == 0, f"{hidden_label} is shown"
    dialog.screenshot(path=str(artifacts / "01a-empty-form-standard-fields.png"))

    # extra fields: label, description, and what an empty field shows (default value or placeholder)
    extras = open_section(dialog, "Extra Fields")
    assert labels_in(extras) == [spec["label"] for spec in CONN_FIELDS.values()]
    for name, spec in CONN_FIELDS.items():
        control, root = field(extras, f"element_{name}")
        sync_api.expect(control).to_have_count(1)
        assert label_of(root) == spec["label"]
        assert root.locator('[data-part="helper-text"]').inner_text().strip() == spec["description"]
        default = spec["schema"].get("default")
        kind = next(t for t in spec["schema"]["type"] if t != "null")
        if kind == "boolean":
            assert control.get_attribute("type") == "checkbox"
            assert control.is_checked() is bool(default)
            continue
        if spec["schema"].get("format") == "password":
            assert control.get_attribute("type") == "password"
        # Airflow 3 pre-fills the schema default; Airflow 3.3 drops the placeholders of extra fields
        # (its hook metadata carries none), so a placeholder, where one is shown, must be ours.
        assert control.input_value() == ("" if default is None else str(default))
        shown_placeholder = control.get_attribute("placeholder")
        if shown_placeholder:
            assert shown_placeholder == placeholders[name]
        if name in placeholders and default is not None:
            assert placeholders[name] == str(default), f"{name}: placeholder and default disagree"
    dialog.screenshot(path=str(artifacts / "01b-empty-form-extra-fields.png"))
    dialog.get_by_role("button", name="Close").click()
    sync_api.expect(dialog).to_be_hidden()


@pytest.fixture(scope="module")
def form_connection(
    browser: Any, airflow_server: AirflowApiServer, ui_simulator: LangdockSimulator, artifacts: Path
) -> str:
    """``langdock_ui``, added through the form: the simulator's URL, its key, a few typed extras."""
    page = _new_page(browser)
    try:
        dialog = open_add_form(page, airflow_server)
        dialog.get_by_label("Connection ID").fill(FORM_CONN_ID)
        open_section(dialog, "Standard Fields")
        dialog.get_by_label("Base URL", exact=True).fill(ui_simulator.base_url)
        dialog.get_by_label("API key", exact=True).fill(API_KEY)
        dialog.screenshot(path=str(artifacts / "02a-filled-form-standard-fields.png"))
        extras = open_section(dialog, "Extra Fields")
        for name, (typed, _) in TYPED_EXTRAS.items():
            field(extras, f"element_{name}")[0].fill(typed)
        verify, verify_root = field(extras, "element_verify")
        verify_root.locator('[data-scope="switch"][data-part="root"]').click()  # TLS check off
        sync_api.expect(verify).not_to_be_checked()
        dialog.screenshot(path=str(artifacts / "02b-filled-form-extra-fields.png"))
        open_section(dialog, "Extra Fields JSON")
        dialog.screenshot(path=str(artifacts / "02c-filled-form-extra-json.png"))
        with page.expect_response(
            lambda r: r.url.endswith("/api/v2/connections") and r.request.method == "POST"
        ) as created:
            dialog.get_by_role("button", name="Save").click()
        assert created.value.status == 201, created.value.text()
        sync_api.expect(dialog).to_be_hidden()
        sync_api.expect(connection_row(page, FORM_CONN_ID)).to_be_visible()
        page.screenshot(path=str(artifacts / "03-saved-connection-list.png"))
    except BaseException:
        _save_failure(page, "form_connection")
        raise
    finally:
        page.close()
    return FORM_CONN_ID


def test_the_form_saves_the_extras_as_typed_json(
    form_connection: str, airflow_server: AirflowApiServer, ui_simulator: LangdockSimulator
) -> None:
    answer = airflow_server.api("GET", f"/api/v2/connections/{form_connection}")
    assert answer.status_code == 200, answer.text
    conn = answer.json()
    assert conn["conn_type"] == CONN_TYPE
    assert conn["host"] == ui_simulator.base_url
    assert conn["password"] == "***"  # stored, and masked by the API
    assert (conn["login"], conn["port"], conn["schema"]) == (None, None, None)  # hidden, so never set
    extra = json.loads(conn["extra"])
    for name, (_, expected) in TYPED_EXTRAS.items():
        assert extra[name] == expected
        assert type(extra[name]) is type(expected), f"{name} saved as {type(extra[name]).__name__}"
    assert extra["verify"] is False
    for name, spec in CONN_FIELDS.items():  # untouched fields: their default, or left out
        if name not in TYPED_EXTRAS and name != "verify" and name in extra:
            assert extra[name] == spec["schema"].get("default"), name
    # the metadata DB, exported by the CLI (``connections get`` prints every extra as a string), holds
    # the same JSON and the API key as typed
    export = airflow_server.home / "connections.json"
    exported = airflow_server.cli("connections", "export", str(export), "--file-format", "json")
    assert exported.returncode == 0, exported.stderr
    stored = json.loads(export.read_text())[form_connection]
    assert json.loads(stored["extra"]) == extra
    assert stored["password"] == API_KEY


# -- the connection test ----------------------------------------------------------------------------


def connection_row(page: Any, conn_id: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


@dataclass
class ConnectionTestRoutes:
    """What each way of testing one stored connection answered."""

    button_status: int
    button_body: Any
    button_toast: str
    rest_status: int
    rest_body: Any
    cli_returncode: int
    cli_output: str

    @property
    def button_hit_the_port_bug(self) -> bool:
        detail = self.button_body.get("detail", "") if isinstance(self.button_body, dict) else ""
        return self.button_status == 400 and KNOWN_PORT_BUG in str(detail)

    @property
    def route(self) -> str:
        if self.button_status == 200:
            return "Test button (POST /api/v2/connections/test)"
        return "REST POST /api/v2/connections/test {connection_id, conn_type} and `airflow connections test`"


def check_connection(
    page: Any, server: AirflowApiServer, conn_id: str, report: dict[str, Any]
) -> ConnectionTestRoutes:
    """Click the row's Test button, then test the stored connection through the REST API and the CLI."""
    page.goto(server.url("/connections"))
    row = connection_row(page, conn_id)
    sync_api.expect(row).to_be_visible()
    with page.expect_response(
        lambda r: r.url.endswith("/api/v2/connections/test") and r.request.method == "POST"
    ) as clicked:
        row.get_by_role("button", name="Test Connection").click()
    response = clicked.value
    try:
        button_body: Any = response.json()
    except Exception:
        button_body = response.text()
    toast = page.get_by_role("status").filter(has_text=re.compile(r"Test Connection (Successful|Failed)"))
    sync_api.expect(toast.last).to_be_visible()
    toast_text = " / ".join(str(toast.last.inner_text()).split("\n"))  # read before it fades
    page.screenshot(path=str(ARTIFACTS / f"04-test-button-{conn_id}.png"))
    # the stored connection as it is: no host or port in the body, so the stored credentials apply
    rest = server.api(
        "POST", "/api/v2/connections/test", json={"connection_id": conn_id, "conn_type": CONN_TYPE}
    )
    cli = server.cli("connections", "test", conn_id)
    routes = ConnectionTestRoutes(
        button_status=response.status,
        button_body=button_body,
        button_toast=toast_text,
        rest_status=rest.status_code,
        rest_body=rest.json()
        if rest.headers.get("content-type", "").startswith("application/json")
        else rest.text,
        cli_returncode=cli.returncode,
        cli_output=" ".join(cli.stdout.split()),  # stderr holds log lines only
    )
    report[conn_id] = {**asdict(routes), "working_route": routes.route}
    # the button either works or fails with exactly the known Airflow 3.3 port bug, nothing else
    assert response.status == 200 or routes.button_hit_the_port_bug, (response.status, button_body)
    assert rest.status_code == 200, rest.text
    return routes


def assert_outcome(routes: ConnectionTestRoutes, ok: bool, *fragments: str) -> None:
    """The REST API, the CLI and (if it works) the Test button agree on success and message."""
    assert routes.rest_body["status"] is ok, routes.rest_body
    for fragment in fragments:
        assert fragment in routes.rest_body["message"], routes.rest_body["message"]
    assert routes.cli_returncode == (0 if ok else 1), routes.cli_output
    assert ("Connection success!" if ok else "Connection failed!") in routes.cli_output
    if not ok:  # the CLI prints the failure message (wrapped to the terminal width)
        for fragment in fragments:
            assert fragment in routes.cli_output, routes.cli_output
    if routes.button_status == 200:
        assert routes.button_body["status"] is ok, routes.button_body
        assert routes.button_toast.startswith(
            "Test Connection Successful" if ok else "Test Connection Failed"
        ), routes.button_toast
    else:  # the known bug: the toast names no reason at all
        assert routes.button_toast.startswith("Test Connection Failed"), routes.button_toast


def test_the_connection_test_passes_against_the_simulator(
    page: Any,
    airflow_server: AirflowApiServer,
    form_connection: str,
    ui_simulator: LangdockSimulator,
    routes_report: dict[str, Any],
) -> None:
    routes = check_connection(page, airflow_server, form_connection, routes_report)
    assert_outcome(routes, True, f"Connected to {ui_simulator.base_url}", "the API key is valid")
    assert API_KEY not in json.dumps(routes_report[form_connection])


def add_connection(server: AirflowApiServer, conn_id: str, host: str, password: str) -> None:
    """A second connection through the REST API (the form itself is covered above)."""
    body = {
        "connection_id": conn_id,
        "conn_type": CONN_TYPE,
        "host": host,
        "password": password,
        "extra": json.dumps({"max_attempts": 1, "max_retry_wait": 0}),
    }
    answer = server.api("POST", "/api/v2/connections", json=body)
    assert answer.status_code == 201, answer.text


def test_the_connection_test_names_a_wrong_api_key(
    page: Any,
    airflow_server: AirflowApiServer,
    ui_simulator: LangdockSimulator,
    routes_report: dict[str, Any],
) -> None:
    conn_id, wrong_key = "langdock_ui_wrong_key", "not-the-key-0123456789"
    add_connection(airflow_server, conn_id, ui_simulator.base_url, wrong_key)
    routes = check_connection(page, airflow_server, conn_id, routes_report)
    assert_outcome(routes, False, "Langdock refused the API key", "401")
    assert wrong_key not in json.dumps(routes_report[conn_id])


def test_the_connection_test_names_an_unreachable_host(
    page: Any, airflow_server: AirflowApiServer, routes_report: dict[str, Any]
) -> None:
    conn_id, closed = "langdock_ui_unreachable", f"http://127.0.0.1:{free_loopback_port()}"
    add_connection(airflow_server, conn_id, closed, API_KEY)
    routes = check_connection(page, airflow_server, conn_id, routes_report)
    assert_outcome(routes, False, f"Cannot reach {closed}", "Connection refused")
