"""The docs site: every code block is an include of a tested file, the includes resolve, the examples run.

The pages in ``docs/`` show code only through ``pymdownx.snippets`` includes (``--8<-- "path:section"``)
of the example DAGs (parsed and run by tests/test_example_dags.py) and of the files in ``docs/examples/``,
which the tests below run: the pytest files there (with the DAGs they run) in a pytest process of their
own, and the shell script against the simulator.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow import __version__ as airflow_version

from airflow_provider_langdock.connection_ui import CONN_FIELDS
from airflow_provider_langdock.testing import LangdockSimulator

from .conftest import REPO_DIR

DOCS = REPO_DIR / "docs"
EXAMPLES = DOCS / "examples"
README = REPO_DIR / "README.md"
AIRFLOW_2 = airflow_version.startswith("2.")

INCLUDE = re.compile(r'--8<-- "(?P<path>[^":]+)(?::(?P<section>[A-Za-z0-9_-]+))?"')
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")

# Where included code may come from, and the test that runs it.
TESTED_SOURCES = {
    "example_dags/": "tests/test_example_dags.py (parsed; make demo runs them)",
    "docs/examples/": "this module",
}
# The files under docs/examples/ and how this module runs each kind.
SHELL_SCRIPTS = {"connection.sh"}  # run by test_connection_script_against_the_simulator
EXAMPLE_TESTS = "tests/"  # pytest files, run by test_docs_examples_pass
EXAMPLE_DAGS = "dags/"  # DAG files, run by docs/examples/tests/test_doc_dags.py (so by the same test)
# pytest files that run whole DAGs with dag.test(logical_date=...): skipped on Airflow 2.11.
DAG_RUN_TESTS = {"test_langdock_usage.py", "test_doc_dags.py"}


@dataclass
class Block:
    page: str
    line: int
    info: str
    body: list[str]


def pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.md") if EXAMPLES not in path.parents)


def fenced_blocks(text: str, page: str) -> list[Block]:
    """The fenced code blocks of a Markdown text (``` or ~~~, any indentation)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, start = opening["fence"], index
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if (
                closing
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            body.append(lines[index])
            index += 1
        else:
            raise AssertionError(f"{page}:{start + 1}: code block never closed")
        blocks.append(Block(page, start + 1, opening["info"].strip(), body))
        index += 1
    return blocks


def all_blocks() -> list[Block]:
    return [
        block
        for page in pages()
        for block in fenced_blocks(page.read_text(), str(page.relative_to(REPO_DIR)))
    ]


def includes() -> list[tuple[str, str, str | None]]:
    """(page, path, section) of every include in the pages, inside code blocks or not."""
    found = []
    for page in pages():
        for match in INCLUDE.finditer(page.read_text()):
            found.append((str(page.relative_to(REPO_DIR)), match["path"], match["section"]))
    return found


def section_text(path: str, section: str) -> str:
    """What the include shows: the lines between the markers, without other markers, dedented."""
    lines = (REPO_DIR / path).read_text().splitlines()
    start, end = f"--8<-- [start:{section}]", f"--8<-- [end:{section}]"
    starts = [i for i, line in enumerate(lines) if line.strip().endswith(start)]
    ends = [i for i, line in enumerate(lines) if line.strip().endswith(end)]
    assert len(starts) == 1, f"{path}: section {section!r} needs one start and one end"
    assert len(ends) == 1, f"{path}: section {section!r} needs one start and one end"
    assert starts[0] < ends[0], f"{path}: section {section!r} ends before it starts"
    shown = [line for line in lines[starts[0] + 1 : ends[0]] if "--8<-- [" not in line]
    return textwrap.dedent("\n".join(shown)).strip("\n")


# -- (a) every code block is exactly one include ----------------------------------------------------


def test_the_docs_have_pages_and_code_blocks() -> None:
    assert len(pages()) >= 15
    assert len(all_blocks()) >= 15


def test_every_code_block_is_one_snippet_include() -> None:
    offenders = []
    for block in all_blocks():
        content = [line.strip() for line in block.body if line.strip()]
        if len(content) != 1 or not INCLUDE.fullmatch(content[0]):
            offenders.append(f"{block.page}:{block.line}: {content[:2]}")
    assert offenders == [], "code blocks must be a single --8<-- include of a tested file:\n" + "\n".join(
        offenders
    )


def test_includes_outside_code_blocks_are_whole_markdown_files() -> None:
    """Outside a code block an include pulls in Markdown (the changelog, the benchmarks), never code."""
    in_blocks = {
        (block.page, INCLUDE.fullmatch(line.strip())["path"])  # type: ignore[index]
        for block in all_blocks()
        for line in block.body
        if INCLUDE.fullmatch(line.strip())
    }
    for page, path, section in includes():
        if (page, path) not in in_blocks:
            assert path.endswith(".md"), (page, path)
            assert section is None, (page, path, section)


def test_no_indented_code_blocks() -> None:
    """Four-space indented code is code too; only the options of a ``:::`` reference directive may indent."""
    for page in pages():
        in_directive = False
        previous = ""
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith(":::"):
                in_directive = True
            elif not line.startswith("    "):
                in_directive = False
            indented = line.startswith(("    ", "\t")) and not previous.strip()
            assert not (indented and not in_directive), (
                f"{page.relative_to(REPO_DIR)}:{number}: indented code"
            )
            previous = line


# Markdown files the pages include whole, and what keeps the code blocks in them tested.
INCLUDED_MARKDOWN = {
    "CHANGELOG.md": "no code blocks",
    "benchmarks/README.md": "commands of make benchmark and of the scripts in benchmarks/, "
    "which tests/test_benchmark_smoke.py runs",
}


def test_included_markdown_holds_only_tested_commands() -> None:
    included = {path for _, path, section in includes() if path.endswith(".md") and section is None}
    assert included == set(INCLUDED_MARKDOWN)
    assert fenced_blocks((REPO_DIR / "CHANGELOG.md").read_text(), "CHANGELOG.md") == []
    makefile = (REPO_DIR / "Makefile").read_text()
    smoke = (REPO_DIR / "tests" / "test_benchmark_smoke.py").read_text()
    commands = [
        line.split("#", 1)[0].split()
        for block in fenced_blocks((REPO_DIR / "benchmarks" / "README.md").read_text(), "benchmarks")
        for line in block.body
        if line.strip()
    ]
    assert commands
    for words in commands:
        if words[0] == "make":
            assert f"\n{words[1]}:" in makefile, words
            continue
        assert words[0].endswith("/bin/python"), words
        script = REPO_DIR / words[1]
        assert script.parent.name == "benchmarks", words
        assert script.is_file(), words
        assert (
            script.name in smoke
            or script.name in (REPO_DIR / "benchmarks" / "transfer_memory.py").read_text()
        )


def test_the_fence_parser_finds_stray_code() -> None:
    text = '# t\n\n```python\nprint(1)\n```\n\n~~~~bash\n--8<-- "a.sh:x"\n~~~~\n'
    blocks = fenced_blocks(text, "t.md")
    assert [(b.info, b.body) for b in blocks] == [("python", ["print(1)"]), ("bash", ['--8<-- "a.sh:x"'])]
    with pytest.raises(AssertionError, match="never closed"):
        fenced_blocks("```\nx\n", "t.md")


# -- (b) includes resolve, and come from files that tests run ---------------------------------------


def test_every_include_resolves() -> None:
    for page, path, section in includes():
        assert (REPO_DIR / path).is_file(), f"{page}: {path} does not exist"
        if section is not None:
            assert section_text(path, section).strip(), f"{page}: section {section!r} of {path} is empty"


def test_included_code_comes_from_tested_files() -> None:
    for block in all_blocks():
        match = INCLUDE.fullmatch(block.body[0].strip()) if len(block.body) == 1 else None
        if match is None:
            continue  # reported by test_every_code_block_is_one_snippet_include
        path = match["path"]
        assert any(path.startswith(prefix) for prefix in TESTED_SOURCES), (
            f"{block.page}:{block.line}: {path} is not run by a test"
        )


def test_example_dags_are_run_by_their_test() -> None:
    """Included example DAGs are safe to show: tests/test_example_dags.py imports the whole folder."""
    source = (REPO_DIR / "tests" / "test_example_dags.py").read_text()
    assert 'EXAMPLES = REPO_DIR / "example_dags"' in source
    assert "dagbag = load_dagbag(EXAMPLES)" in source
    assert "assert dagbag.import_errors == {}" in source


def test_every_example_file_is_run_by_a_test() -> None:
    files = sorted(
        str(path.relative_to(EXAMPLES))
        for path in EXAMPLES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    unrun = [
        name
        for name in files
        if not (
            name in SHELL_SCRIPTS
            or (name.startswith(EXAMPLE_DAGS) and name.endswith(".py"))
            or (name.startswith(EXAMPLE_TESTS) and (name.endswith("/conftest.py") or "/test_" in name))
        )
    ]
    assert unrun == [], f"files in docs/examples/ that no test runs: {unrun}"
    dag_files = {name.removeprefix(EXAMPLE_DAGS) for name in files if name.startswith(EXAMPLE_DAGS)}
    # test_doc_dags.py checks that the DAG bag holds DAGs from exactly these files.
    assert "DAG_FILES = " in (EXAMPLES / "tests" / "test_doc_dags.py").read_text()
    assert dag_files == doc_dag_files()


def doc_dag_files() -> set[str]:
    source = (EXAMPLES / "tests" / "test_doc_dags.py").read_text()
    listed = re.search(r"DAG_FILES = \{(?P<names>[^}]*)\}", source)
    assert listed is not None
    return set(re.findall(r'"([^"]+\.py)"', listed["names"]))


def test_a_missing_section_is_reported() -> None:
    with pytest.raises(AssertionError, match="needs one start and one end"):
        section_text("docs/examples/dags/langdock_quickstart.py", "no-such-section")


# -- generated tables -------------------------------------------------------------------------------


def connection_extras_table() -> str:
    rows = ["| Extra | Form label | Default | Description |", "|---|---|---|---|"]
    for name, field in CONN_FIELDS.items():
        default = field["schema"].get("default")
        if default is None:
            shown = "—"
        else:
            shown = f"`{str(default).lower() if isinstance(default, bool) else default}`"
        rows.append(f"| `{name}` | {field['label']} | {shown} | {field['description']} |")
    return "\n".join(rows)


def test_connection_extras_table_is_the_form() -> None:
    page = (DOCS / "connection.md").read_text()
    start, end = "<!-- connection-extras:start -->\n", "\n<!-- connection-extras:end -->"
    table = page.split(start, 1)[1].split(end, 1)[0]
    assert table == connection_extras_table(), (
        "Regenerate the table in docs/connection.md from connection_ui.CONN_FIELDS: "
        "tests.test_docs.connection_extras_table()"
    )


# -- the README ---------------------------------------------------------------------------------------


def test_readme_is_short_and_points_to_the_docs() -> None:
    size = len(README.read_bytes())
    assert size <= 8 * 1024, f"README.md is {size} bytes; keep it at most 8 KiB and move details to docs/"
    text = README.read_text()
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", text)
    assert len(links) >= 5
    for link in links:
        assert (REPO_DIR / link).is_file(), link
    assert "make docs" in text
    assert "benchmarks/README.md" in text


def test_readme_commands_keep_their_meaning() -> None:
    blocks = fenced_blocks(README.read_text(), "README.md")
    bash = "\n".join(line for block in blocks if block.info == "bash" for line in block.body)
    assert re.search(r"^make demo +# .*example DAG.*simulator.*S3", bash, re.M), bash
    assert re.search(r"^make test +# .*ruff.*mypy.*Airflow 3\.3 and 2\.11.*Chromium", bash, re.M), bash
    makefile = (REPO_DIR / "Makefile").read_text()
    assert "test: lint typecheck pytest test-ui pytest-airflow2" in makefile
    assert "demo: venv\n\t$(BIN)/python scripts/demo.py --storage s3" in makefile


def test_readme_dag_is_the_tested_quickstart() -> None:
    """The README's DAG is docs/examples/dags/langdock_quickstart.py's section, which a test runs."""
    python = [block for block in fenced_blocks(README.read_text(), "README.md") if block.info == "python"]
    assert len(python) == 1
    assert "\n".join(python[0].body).strip("\n") == section_text(
        "docs/examples/dags/langdock_quickstart.py", "dag"
    )


# -- (c) the examples run ---------------------------------------------------------------------------


def example_environment(airflow_db: str, tmp_path: Path) -> dict[str, str]:
    """This run's environment with a private copy of the migrated metadata DB, no stray connections."""
    home = tmp_path / "airflow-home"
    home.mkdir(parents=True)
    shutil.copy(Path(airflow_db) / "airflow.db", home / "airflow.db")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AWS_ENDPOINT_URL", "PYTEST_"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(EXAMPLES / "dags"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_DIR), os.environ.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    return env


@pytest.mark.slow
def test_docs_examples_pass(airflow_db: str, tmp_path: Path) -> None:
    """docs/examples/tests (with the plugin, the DAGs and moto) in a pytest process of their own."""
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES / "tests"),
            "-p",
            "no:cacheprovider",
            "-rA",
            f"--junitxml={report}",
        ],
        cwd=REPO_DIR,
        env=example_environment(airflow_db, tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    outcomes: dict[str, list[str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 (pytest's own report)
        module = case.get("classname", "").rsplit(".", 1)[-1] + ".py"
        skipped = case.find("skipped")
        outcome = "passed" if skipped is None else "skipped: " + (skipped.get("message") or "")
        outcomes.setdefault(module, []).append(outcome)
    test_files = {path.name for path in (EXAMPLES / "tests").glob("test_*.py")}
    assert set(outcomes) == test_files
    for module, results in outcomes.items():
        if AIRFLOW_2 and module in DAG_RUN_TESTS:
            assert all("needs Airflow 3" in result for result in results), (module, results)
        else:
            assert results, module
            assert set(results) == {"passed"}, (module, results)


def run_connection_script(env: dict[str, str], key: str, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(EXAMPLES / "connection.sh")],
        env={**env, "LANGDOCK_API_KEY": key, "LANGDOCK_BASE_URL": base_url},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_connection_script_against_the_simulator(airflow_db: str, tmp_path: Path) -> None:
    """connection.sh: the env var parses, ``connections add`` stores it, ``connections test`` passes."""
    with LangdockSimulator(api_key="docs-key-0123456789") as simulator:
        good = run_connection_script(
            example_environment(airflow_db, tmp_path / "good"), "docs-key-0123456789", simulator.base_url
        )
        bad = run_connection_script(
            example_environment(airflow_db, tmp_path / "bad"), "revoked-key-9876543210", simulator.base_url
        )
        paths = [request.path for request in simulator.requests]
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    env_line = next(line for line in good.stdout.splitlines() if line.startswith("env: "))
    assert json.loads(env_line.removeprefix("env: ")) == [
        "langdock",
        "https://api.langdock.com",
        "<API key>",
        {"timeout": 120, "max_attempts": 5},
    ]
    assert "Connection success!" in good.stdout
    # Airflow 3's CLI exits with 1 on a failed test; Airflow 2.11's exits with 0 (as the docs say).
    assert bad.returncode == (0 if AIRFLOW_2 else 1), bad.stdout[-3000:] + bad.stderr[-3000:]
    assert "Connection failed!" in bad.stdout
    assert "401" in bad.stdout
    assert "revoked-key-9876543210" not in bad.stdout + bad.stderr
    assert len(paths) == 2  # one test request each


def test_sphinx_roles_render_as_code() -> None:
    """scripts/mkdocs_hooks.py: mkdocstrings leaves ``:class:`` roles as text; the hook makes them code."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO_DIR / "scripts" / "mkdocs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = (
        "see :class:<code>~airflow_provider_langdock.connection.RangePolicy</code> and "
        ":func:<code>destinations_table</code>, not :ref:<code>x</code>"
    )
    assert hooks.on_page_content(html, page=None) == (
        "see <code>RangePolicy</code> and <code>destinations_table</code>, not :ref:<code>x</code>"
    )
    assert "scripts/mkdocs_hooks.py" in (REPO_DIR / "mkdocs.yml").read_text()
