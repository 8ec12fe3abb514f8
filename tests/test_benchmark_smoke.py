"""Smoke run of benchmarks/transfer_memory.py: every contender, on S3, GCS and Azure, lands the exact file,
and a table per storage, the parse-cost table and the targets come out.

Speed and memory are measured by the benchmark itself (``make benchmark``), never asserted here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_langdock.testing.azurite import Azurite

from .conftest import REPO_DIR

pytestmark = pytest.mark.slow  # whole programs: left out by make test-fast

BENCHMARKS = REPO_DIR / "benchmarks"
SCRIPT = BENCHMARKS / "transfer_memory.py"
OURS = "LangdockUsageExportOperator (ours)"
TABLES = {
    "S3 (moto's S3 server)": {
        "contenders": (
            OURS,
            'ours, `personal_data="pseudonymize"`',
            'ours, `personal_data="drop"`',
            "HttpToS3Operator",
            "bare boto3 `upload_fileobj`",
        ),
        "baseline": "bare boto3 `upload_fileobj`",
    },
    "Google Cloud Storage (gcp-storage-emulator)": {
        "contenders": (
            OURS,
            "HttpToGCSOperator",
            "bare `blob.upload_from_file`",
            "bare `blob.upload_from_file`, ours' chunk size",
        ),
        "baseline": "bare `blob.upload_from_file`",
    },
    "Azure Blob Storage (Azurite's Blob service)": {
        "contenders": (OURS, "bare `BlobClient.upload_blob`"),
        "baseline": "bare `BlobClient.upload_blob`",
    },
}
QUICK_SIZE = "12.0 MiB"
REWRITTEN = ('ours, `personal_data="pseudonymize"`', 'ours, `personal_data="drop"`')
"""Contenders that land the export rewritten (checked against the rewrite in the benchmark's process)."""
PARSE_TITLE = re.compile(r"Parse cost: `import airflow(\.sdk)?` without and with our operator and sensor")
HEAVY = ("requests", "urllib3", "aiohttp", "boto3", "botocore", "google.cloud")


def load_module(name: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A file of benchmarks/ (not a package) as module ``name``, in sys.modules for this test only."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_parse_cost(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/parse_cost.py, under the name transfer_memory.py imports it by."""
    return load_module("parse_cost", BENCHMARKS / "parse_cost.py", monkeypatch)


def load_benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/transfer_memory.py as a module, with its sibling parse_cost, for this test only."""
    load_parse_cost(monkeypatch)
    return load_module("langdock_benchmark_transfer_memory", SCRIPT, monkeypatch)


def sections(report: str) -> dict[str, tuple[str, list[list[str]]]]:
    """Each table under its bold title: the header line and the cells of the data rows (the first table
    after the title; titles without a table are left out)."""
    found: dict[str, tuple[str, list[list[str]]]] = {}
    parts = re.split(r"^\*\*(.+)\*\*$", report, flags=re.MULTILINE)
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        lines: list[str] = []
        for line in body.strip().splitlines():
            if line.startswith("|"):
                lines.append(line)
            elif lines:
                break
        if lines:
            rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
            found[title] = (lines[0], rows)
    return found


def test_quick_run_lands_every_file_and_writes_the_tables_parse_cost_and_targets(tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--storage",
            "s3,gcs,azure",
            "--budget-mib",
            "0",
            "--output",
            str(output),
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Exit 1 is what a contender that fails or lands wrong bytes gives.
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = output.read_text()
    assert report in completed.stdout

    found = sections(report)
    parse_titles = [title for title in found if PARSE_TITLE.fullmatch(title)]
    assert len(parse_titles) == 1, sorted(found)
    assert sorted(found) == sorted([*TABLES, parse_titles[0], "Targets"])

    landed: set[str] = set()
    for title, expected in TABLES.items():
        header, rows = found[title]
        assert f"Wall vs {expected['baseline']}" in header
        assert "Peak - before vs ours" in header
        assert f"Peak - before vs {expected['baseline']}" in header
        assert sorted((row[0], row[1]) for row in rows) == sorted(
            (contender, QUICK_SIZE) for contender in expected["contenders"]
        ), title
        landed.update(row[-1] for row in rows if row[0] not in REWRITTEN)
        assert all(row[-1].endswith("SHA-256 ok") for row in rows if row[0] in REWRITTEN)
    assert len(landed) == 1, f"the contenders landed different bytes: {landed}"
    match = re.fullmatch(r"([\d,]+) B, SHA-256 ok", landed.pop())
    assert match is not None
    assert abs(int(match.group(1).replace(",", "")) - 12 * 2**20) < 2**20

    header, rows = found[parse_titles[0]]
    assert "Modules loaded" in header
    assert "Heavy modules loaded" in header
    assert len(rows) == 2
    counts = [int(row[3]) for row in rows]
    assert counts[1] > counts[0]  # our imports load at least our own modules
    assert re.search(r"Our imports add -?\d+ ms of wall time .* Heavy modules they load beyond", report)

    _, targets = found["Targets"]
    target_names = [row[0] for row in targets]
    for storage in ("S3", "GCS"):
        assert any(
            name.startswith(f"{storage} 1 GiB: ours' median wall time at most 1.0x") for name in target_names
        )
        assert any(
            name.startswith(f"{storage} 1 GiB: ours' peak RSS above RSS before at most 64 MiB")
            for name in target_names
        )
    assert any(name.startswith("Parse cost: our imports add at most 20 ms") for name in target_names)
    assert any(name.startswith("Parse cost: our imports load none of") for name in target_names)
    assert all(re.match(r"(yes|\*\*no\*\*)", row[2]) for row in targets), targets
    assert "at 12.0 MiB" in targets[0][1]
    assert "this run's largest export is another size" in report

    assert "Azurite 3." in report  # the storage servers' versions are part of the machine info
    assert "gcp-storage-emulator " in report
    assert re.search(r"load average \(1, 5, 15 min\) at the start [\d.]+ [\d.]+ [\d.]+", report)


def test_unknown_storage_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    benchmark = load_benchmark(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["--storage", "s3,ftp"])
    assert exit_info.value.code == 2
    assert "unknown storages ['ftp']" in capsys.readouterr().err


@pytest.mark.parametrize("storage", ["s3", "gcs", "azure"])
def test_targets_tell_nothing_landed_from_the_bytes_that_did(
    storage: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the benchmark checks each contender by: a missing object is None, a present one is read
    back (size and SHA-256) and deleted."""
    benchmark = load_benchmark(monkeypatch)
    monkeypatch.setattr(benchmark, "BUCKET", f"langdock-benchmark-smoke-{storage}")
    target: Any
    if storage == "s3":
        endpoint: str = request.getfixturevalue("moto_s3_endpoint")
        target = benchmark.S3Target(endpoint)

        def put(key: str, data: bytes) -> None:
            target.client.put_object(Bucket=benchmark.BUCKET, Key=key, Body=data)

    elif storage == "gcs":
        gcs_endpoint: str = request.getfixturevalue("gcs_emulator_endpoint")
        target = benchmark.GCSTarget(gcs_endpoint)

        def put(key: str, data: bytes) -> None:
            target.bucket.blob(key).upload_from_string(data)

    else:
        azurite: Azurite = request.getfixturevalue("azurite")
        target = benchmark.AzureTarget(azurite)

        def put(key: str, data: bytes) -> None:
            target.container.upload_blob(key, data)

    assert target.take("benchmark/missing.csv") is None
    data = b"id,name\n" + b"1,a\n" * 1000
    put("benchmark/landed.csv", data)
    assert target.take("benchmark/landed.csv") == (len(data), hashlib.sha256(data).hexdigest())
    assert target.take("benchmark/landed.csv") is None  # deleted after the check


def test_wrong_or_missing_bytes_are_problems_and_fail_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A contender that lands other bytes than the export file makes its row WRONG (and the run exit 1)."""
    benchmark = load_benchmark(monkeypatch)
    data = b"id,name\n1,a\n"
    sha256 = hashlib.sha256(data).hexdigest()
    now = datetime.now(UTC)
    export = benchmark.Export(len(data), 1, "http://127.0.0.1/file.csv", sha256, now, now)
    key = "benchmark/x.csv"

    assert benchmark.check_landed(export, key, (len(data), sha256), {}) == ()
    assert benchmark.check_landed(export, key, (len(data), sha256), {"bytes": len(data)}) == ()
    assert benchmark.check_landed(export, key, None, {}) == (f"nothing landed at {key}",)
    wrong = hashlib.sha256(b"id,name\n1,b\n").hexdigest()
    (problem,) = benchmark.check_landed(export, key, (len(data), wrong), {})
    assert problem.startswith(f"landed {len(data)} bytes")
    assert benchmark.check_landed(export, key, (len(data) - 1, sha256), {})
    assert benchmark.check_landed(export, key, (len(data), sha256), {"bytes": 3}) == (
        "reported 3 bytes written",
    )
    assert benchmark.check_landed(export, key, (len(data), sha256), {"download_url": "http://other"}) == (
        "exported a different file than the shared one",
    )

    def run(problems: tuple[str, ...]) -> Any:
        return benchmark.Run(1.0, 1000, 2000, "VmHWM", len(data), problems)

    good = benchmark.Row("s3", "ours", export, (run(()), run(())))
    bad = benchmark.Row("s3", "ours", export, (run(()), run(("landed 1 bytes",))))
    assert good.verified
    assert not bad.verified
    table = "\n".join(benchmark.render_table("s3", [bad], 2))
    assert "WRONG: landed 1 bytes" in table


def test_parse_cost_counts_heavy_modules_with_their_submodules(monkeypatch: pytest.MonkeyPatch) -> None:
    parse_cost = load_parse_cost(monkeypatch)
    loaded = {"requests.adapters", "google", "google.cloud", "botocorex", "charset_normalizer"}
    assert parse_cost.heavy_loaded(loaded) == ["requests", "google.cloud", "charset_normalizer"]
    assert parse_cost.names(["google.cloud"], frozenset(loaded)) == "`google.cloud` (namespace package only)"
    assert (
        parse_cost.names(["google.cloud"], frozenset({*loaded, "google.cloud.storage"})) == "`google.cloud`"
    )
    assert set(HEAVY) == set(parse_cost.TARGET_FORBIDDEN)
    source = parse_cost.program("airflow.sdk", with_ours=True)
    assert "import airflow.sdk" in source
    assert all(f"import {module}" in source for module in parse_cost.OURS_MODULES)
    assert not any(
        module in parse_cost.program("airflow.sdk", with_ours=False) for module in parse_cost.OURS_MODULES
    )
