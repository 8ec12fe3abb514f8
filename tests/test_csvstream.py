"""The streaming CSV record counter against the csv module, fed in pieces of every size."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime

import pytest

from airflow_provider_langdock.csvstream import CsvRecordCounter
from airflow_provider_langdock.testing import LangdockSimulator


def counted(data: bytes, piece_sizes: list[int]) -> CsvRecordCounter:
    counter = CsvRecordCounter()
    position = 0
    for size in piece_sizes:
        counter.feed(data[position : position + size])
        position += size
    counter.feed(data[position:])
    return counter


def reader_count(data: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(data.decode(), newline="")))


SAMPLES = {
    "plain": b"a,b\r\n1,2\r\n3,4\r\n",
    "lf": b"a,b\n1,2\n3,4\n",
    "no final line break": b"a,b\r\n1,2\r\n3,4",
    "quoted line breaks": b'a,b\r\n"x\r\ny",2\r\n"p\nq\nr",3\r\n',
    "escaped quotes": b'a,b\r\n"say ""hi""\nthere",1\r\n"""",2\r\n',
    "json cell": b'a,b\r\n"{""k"":""v\nw""}",1\r\n',
    "header only": b"a,b\r\n",
    "empty": b"",
}


@pytest.mark.parametrize("name", SAMPLES)
def test_counts_like_a_csv_reader_whatever_the_pieces(name: str) -> None:
    data = SAMPLES[name]
    expected = reader_count(data)
    for piece in (1, 2, 3, 7):
        counter = counted(data, [piece] * (len(data) // piece))
        assert counter.records == expected, (name, piece)
        assert not counter.in_quotes
        assert counter.bytes == len(data)
    assert counted(data, []).data_rows == max(expected - 1, 0)


def test_first_record_end_spans_pieces_and_quoted_headers() -> None:
    data = b'"a\nb",c\r\n1,2\r\n'
    for piece in (1, 4, 100):
        assert counted(data, [piece] * (len(data) // piece)).first_record_end == 9


def test_a_stream_cut_inside_a_quoted_field_is_noticed() -> None:
    counter = counted(b'a,b\r\n"open field\r\n', [])
    assert counter.in_quotes


def test_simulator_files_count_as_the_csv_module_reads_them(simulator: LangdockSimulator) -> None:
    """The simulator's users and agents files hold quoted line breaks, quotes and JSON cells."""
    rng = random.Random(5)
    users = simulator.csv_bytes("users", datetime(2026, 10, 1), datetime(2026, 10, 2), None)
    assert users.count(b"\n") > 101  # some departments span two lines
    for data_type in ("users", "agents", "projects"):
        data = simulator.csv_bytes(data_type, datetime(2026, 10, 1), datetime(2026, 10, 2), None)
        assert b'"' in data
        pieces = [rng.randint(1, 5000) for _ in range(len(data) // 2500)]
        counter = counted(data, pieces)
        assert counter.records == reader_count(data) == 101
        assert counter.data_rows == 100
