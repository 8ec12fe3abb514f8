"""Smoke run of benchmarks/transfer_memory.py: every contender lands the exact file and a table comes out.

Speed and memory are measured by the benchmark itself (``make benchmark``), never asserted here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .conftest import REPO_DIR

SCRIPT = REPO_DIR / "benchmarks" / "transfer_memory.py"
CONTENDERS = ("LangdockUsageExportOperator (ours)", "HttpToS3Operator", "bare boto3 `upload_fileobj`")
SIZES = ("4.0 MiB", "12.0 MiB")


def table_rows(report: str) -> list[list[str]]:
    """The cells of the Markdown table's data rows."""
    lines = [line for line in report.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_quick_run_lands_every_file_and_writes_the_table(tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--budget-mib", "0", "--output", str(output)],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = output.read_text()
    assert report in completed.stdout
    header, *_ = (line for line in report.splitlines() if line.startswith("|"))
    assert "Peak - before vs ours" in header
    assert "Peak - before vs bare boto3" in header

    rows = table_rows(report)
    assert sorted((row[0], row[1]) for row in rows) == sorted(
        (contender, size) for contender in CONTENDERS for size in SIZES
    )
    for size in SIZES:
        landed = {row[-1] for row in rows if row[1] == size}
        assert len(landed) == 1, f"the contenders landed different byte counts at {size}: {landed}"
        match = re.fullmatch(r"([\d,]+) B, SHA-256 ok", landed.pop())
        assert match is not None
        assert abs(int(match.group(1).replace(",", "")) - float(size.split()[0]) * 2**20) < 2**20
