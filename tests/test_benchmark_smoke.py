"""Smoke run of benchmarks/transfer_memory.py: every contender, on S3 and on Azure, lands the exact file
and a table per storage comes out.

Speed and memory are measured by the benchmark itself (``make benchmark``), never asserted here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_langdock.testing.azurite import Azurite

from .conftest import REPO_DIR

SCRIPT = REPO_DIR / "benchmarks" / "transfer_memory.py"
OURS = "LangdockUsageExportOperator (ours)"
TABLES = {
    "S3 (moto's S3 server)": {
        "contenders": (OURS, "HttpToS3Operator", "bare boto3 `upload_fileobj`"),
        "baseline": "bare boto3 `upload_fileobj`",
    },
    "Azure Blob Storage (Azurite's Blob service)": {
        "contenders": (OURS, "bare `BlobClient.upload_blob`"),
        "baseline": "bare `BlobClient.upload_blob`",
    },
}
SIZES = ("4.0 MiB", "12.0 MiB")


def load_benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/transfer_memory.py as a module (benchmarks/ is not a package), for this test only."""
    spec = importlib.util.spec_from_file_location("langdock_benchmark_transfer_memory", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tables(report: str) -> dict[str, tuple[str, list[list[str]]]]:
    """Each storage's table under its bold title: the header line and the cells of the data rows."""
    found: dict[str, tuple[str, list[list[str]]]] = {}
    sections = re.split(r"^\*\*(.+)\*\*$", report, flags=re.MULTILINE)
    for title, body in zip(sections[1::2], sections[2::2], strict=True):
        lines = [line for line in body.splitlines() if line.startswith("|")]
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
        found[title] = (lines[0], rows)
    return found


def test_quick_run_lands_every_file_on_s3_and_azure_and_writes_the_tables(tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--storage",
            "s3,azure",
            "--budget-mib",
            "0",
            "--output",
            str(output),
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = output.read_text()
    assert report in completed.stdout

    found = tables(report)
    assert sorted(found) == sorted(TABLES)
    landed_by_size: dict[str, set[str]] = {size: set() for size in SIZES}
    for title, expected in TABLES.items():
        header, rows = found[title]
        assert "Peak - before vs ours" in header
        assert f"Peak - before vs {expected['baseline']}" in header
        assert sorted((row[0], row[1]) for row in rows) == sorted(
            (contender, size) for contender in expected["contenders"] for size in SIZES
        ), title
        for row in rows:
            landed_by_size[row[1]].add(row[-1])
    for size, landed in landed_by_size.items():
        assert len(landed) == 1, f"the contenders landed different byte counts at {size}: {landed}"
        match = re.fullmatch(r"([\d,]+) B, SHA-256 ok", landed.pop())
        assert match is not None
        assert abs(int(match.group(1).replace(",", "")) - float(size.split()[0]) * 2**20) < 2**20
    assert "Azurite 3." in report  # the storage server's version is part of the machine info


def test_unknown_storage_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    benchmark = load_benchmark(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["--storage", "s3,gcs"])
    assert exit_info.value.code == 2
    assert "unknown storages ['gcs']" in capsys.readouterr().err


@pytest.mark.parametrize("storage", ["s3", "azure"])
def test_targets_tell_nothing_landed_from_the_bytes_that_did(
    storage: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the benchmark checks each contender by: a missing object is None, a present one is read
    back (size and SHA-256) and deleted."""
    benchmark = load_benchmark(monkeypatch)
    target: Any
    if storage == "s3":
        endpoint: str = request.getfixturevalue("moto_s3_endpoint")
        monkeypatch.setattr(benchmark, "BUCKET", "langdock-benchmark-smoke")
        target = benchmark.S3Target(endpoint)

        def put(key: str, data: bytes) -> None:
            target.client.put_object(Bucket="langdock-benchmark-smoke", Key=key, Body=data)

    else:
        azurite: Azurite = request.getfixturevalue("azurite")
        monkeypatch.setattr(benchmark, "BUCKET", "langdock-benchmark-smoke")
        target = benchmark.AzureTarget(azurite)

        def put(key: str, data: bytes) -> None:
            target.container.upload_blob(key, data)

    assert target.take("benchmark/missing.csv") is None
    data = b"id,name\n" + b"1,a\n" * 1000
    put("benchmark/landed.csv", data)
    assert target.take("benchmark/landed.csv") == (len(data), hashlib.sha256(data).hexdigest())
    assert target.take("benchmark/landed.csv") is None  # deleted after the check
