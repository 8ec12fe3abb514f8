"""``langdock-simulator``: run the Langdock simulator as a process (for demos and out-of-process tests).

Prints ``LANGDOCK_SIMULATOR base_url=... download_url=...`` once both servers listen (ports 0 are
replaced by the ports actually bound), then serves until SIGINT or SIGTERM. Control it over HTTP through
``<api server>/_simulator/...`` (health, requests, faults, download-faults, fault-storm, data-window, ...).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_langdock.testing.simulator import LangdockSimulator


def build_parser() -> argparse.ArgumentParser:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="langdock-simulator", description="Local simulator of the Langdock Usage Export API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8080, help="API port, 0 = any free (default: %(default)s)"
    )
    parser.add_argument(
        "--download-port", type=int, default=8081, help="download port, 0 = any free (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted API key (repeatable; default: sim-key)"
    )
    parser.add_argument("--seed", type=int, default=0, help="data seed (default: %(default)s)")
    parser.add_argument("--row-count", type=int, default=100, help="rows per export (default: %(default)s)")
    parser.add_argument(
        "--rows-per-day", type=float, default=None, help="rows per day of the range instead of --row-count"
    )
    parser.add_argument("--row-cap", type=int, default=1_000_000, help="row limit (default: %(default)s)")
    parser.add_argument("--path-prefix", default="", help='API path prefix, e.g. "/api/public"')
    parser.add_argument("--byok", action="store_true", help="simulate a bring-your-own-key workspace")
    parser.add_argument(
        "--disabled-data-types",
        default="workflows",
        help="comma-separated data types answering 404 (default: %(default)s; '' enables all)",
    )
    parser.add_argument("--url-ttl", type=float, default=3600.0, help="download URL lifetime in seconds")
    parser.add_argument("--history-days", type=int, default=365, help="how far back data may be exported")
    parser.add_argument("--storage-dir", default=None, help="where export files go (default: a temp dir)")
    parser.add_argument(
        "--reuse-exports", action="store_true", help="answer a repeated export request with the same file"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM."""
    options = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if options.verbose else logging.WARNING)
    simulator = LangdockSimulator(
        api_key=options.api_keys or ["sim-key"],
        host=options.host,
        port=options.port,
        download_port=options.download_port,
        seed=options.seed,
        row_count=options.row_count,
        rows_per_day=options.rows_per_day,
        row_cap=options.row_cap,
        disabled_data_types=frozenset(name for name in options.disabled_data_types.split(",") if name),
        byok=options.byok,
        path_prefix=options.path_prefix,
        url_ttl=options.url_ttl,
        storage_dir=options.storage_dir,
        history_days=options.history_days,
        reuse_exports=options.reuse_exports,
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        simulator.start()
    except OSError as error:
        print(f"langdock-simulator: cannot listen on {options.host}: {error}", file=sys.stderr)
        return 1
    try:
        print(
            f"LANGDOCK_SIMULATOR base_url={simulator.base_url} download_url={simulator.download_base_url}",
            flush=True,
        )
        while not stopping.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
