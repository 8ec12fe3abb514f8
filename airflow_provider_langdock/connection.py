"""Reading a ``langdock`` Airflow connection into checked settings (shared by sync and async clients)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import (  # type: ignore[attr-defined]  # not in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

from airflow_provider_langdock import __version__
from airflow_provider_langdock.api import normalize_base_url
from airflow_provider_langdock.clock import SYSTEM_CLOCK, Clock
from airflow_provider_langdock.connection_ui import CONN_TYPE
from airflow_provider_langdock.exceptions import LangdockInputError
from airflow_provider_langdock.retries import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_WAIT, RetryPolicy
from airflow_provider_langdock.validation import finite_number, whole_number

DEFAULT_TIMEOUT = 120.0
#: Without a ``download_timeout`` extra, one transfer of a file may take ``timeout`` seconds plus the
#: time the file's announced size needs at this rate (a trickle below it fails and is resumed).
MIN_DOWNLOAD_RATE = 256 * 1024
#: The whole-transfer deadline for a file whose size is not announced.
DEFAULT_UNSIZED_DOWNLOAD_TIMEOUT = 3600.0
USER_AGENT = f"airflow-provider-langdock/{__version__}"
#: Connections one file is downloaded over: 1 (one after the other) unless ``download_connections``
#: says otherwise; see :class:`RangePolicy` for when more help.
DEFAULT_DOWNLOAD_CONNECTIONS = 1
#: Bytes fetched per request when a file is downloaded over several connections.
DEFAULT_RANGE_SIZE = 8 * 1024 * 1024
MAX_DOWNLOAD_CONNECTIONS = 8
MIN_RANGE_SIZE = 64 * 1024
MAX_RANGE_SIZE = 256 * 1024 * 1024
#: A file is fetched in ranges only when more than this many ranges remain (else one connection).
MIN_PARALLEL_RANGES = 2


@dataclass(frozen=True)
class RangePolicy:
    """How one export file is downloaded over several connections at once.

    With ``connections`` above 1, a file whose storage host answers ``Range`` requests and that holds
    more than ``MIN_PARALLEL_RANGES`` ranges is fetched ``range_size`` bytes per request over
    ``connections`` requests at once, ahead of the reader, and handed on in order; at most
    ``connections + 1`` ranges are held in memory. This pays where one connection is slow on its own:
    object stores that cap each connection's throughput, long round trips. Measured with a 256 MiB
    file and 20 MiB/s per connection, 4 connections took 3.6 s instead of 12.9 s; on a local link
    (loopback, 2 cores) one connection was faster (1.35 s against 1.6-1.9 s for 512 MiB), since
    every range costs a request, a copy and a hand-over between threads. Hence the default of 1;
    ``download_connections`` 4 with 8 MiB ranges (about 50 MiB held) suits a remote object store.
    """

    connections: int = DEFAULT_DOWNLOAD_CONNECTIONS
    range_size: int = DEFAULT_RANGE_SIZE

    def __post_init__(self) -> None:
        connections = _bounded(self.connections, "download_connections", 1, MAX_DOWNLOAD_CONNECTIONS)
        range_size = _bounded(self.range_size, "download_range_size", MIN_RANGE_SIZE, MAX_RANGE_SIZE)
        object.__setattr__(self, "connections", connections)  # 2.0 from a form becomes 2
        object.__setattr__(self, "range_size", range_size)

    def applies_to(self, remaining: int) -> bool:
        """Whether ``remaining`` bytes are worth fetching in ranges over several connections."""
        return self.connections > 1 and remaining > MIN_PARALLEL_RANGES * self.range_size

    def spans(self, start: int, size: int) -> Iterator[tuple[int, int]]:
        """The ranges (first, last byte, inclusive) that cover bytes ``start`` to ``size - 1``."""
        for first in range(start, size, self.range_size):
            yield first, min(first + self.range_size, size) - 1


def _bounded(value: Any, name: str, low: int, high: int) -> int:
    number = whole_number(value, name, minimum=low)
    if number > high:
        raise LangdockInputError(f"{name} must be a whole number of at most {high}; got {value!r}.")
    return number


@dataclass(frozen=True)
class LangdockSettings:
    """Everything a client needs to talk to one Langdock workspace."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True
    proxies: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Seconds one transfer of an export file may take in all (None: derived from its size).
    download_timeout: float | None = None
    #: Whether and how a file is downloaded over several connections.
    ranges: RangePolicy = field(default_factory=RangePolicy)
    #: The secret that keys pseudonyms (``personal_data="pseudonymize"``); None when not set.
    pseudonymization_key: str | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        """Absolute URL of an API path such as ``/export/users``."""
        return self.base_url + path

    def transfer_deadline(self, size: int | None) -> float:
        """Seconds one transfer of a file of ``size`` bytes (None: not announced) may take in all."""
        if self.download_timeout is not None:
            return self.download_timeout
        if size is None:
            return max(DEFAULT_UNSIZED_DOWNLOAD_TIMEOUT, self.timeout)
        return self.timeout + size / MIN_DOWNLOAD_RATE

    def proxy_for(self, url: str) -> str | None:
        """The proxy for ``url``: the ``proxies`` extra first, then ``HTTPS_PROXY``/``NO_PROXY`` & co.

        The sync hook leaves this choice to ``requests``; the async client asks here.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        for key in (f"{parts.scheme}://{host}", parts.scheme, f"all://{host}", "all"):
            if self.proxies.get(key):
                return self.proxies[key]
        environment = getproxies_environment()
        if not environment or proxy_bypass_environment(host, environment):
            return None
        return environment.get(parts.scheme) or environment.get("all")


def settings_from_connection(
    conn_id: str,
    host: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    *,
    port: int | None = None,
    timeout: float | None = None,
    max_attempts: int | None = None,
    max_retry_wait: float | None = None,
    download_timeout: float | None = None,
    download_connections: int | None = None,
    download_range_size: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> LangdockSettings:
    """Check the connection's fields and extras; arguments given here win over the extras.

    The retry policy waits on ``clock``.
    """
    api_key = (password or "").strip()
    if not api_key:
        raise LangdockInputError(
            f"The Langdock connection {conn_id!r} has no API key: put the key in its 'API key' "
            "(password) field."
        )
    base_url = normalize_base_url(host)
    if port and urlsplit(base_url).port is None:
        parts = urlsplit(base_url)
        base_url = urlunsplit((parts.scheme, f"{parts.netloc}:{port}", parts.path, "", ""))

    def setting(override: Any, name: str, check: Any, **bounds: Any) -> Any:
        """The argument if given, else the extra (a string from the form is fine); None if neither."""
        if override is not None:
            return check(override, name, **bounds)
        value = _extra(extra, name)
        return None if value is None else check(value, f"Connection extra {name!r}", text=True, **bounds)

    attempts = setting(max_attempts, "max_attempts", whole_number)
    max_wait = setting(max_retry_wait, "max_retry_wait", finite_number)
    request_timeout = setting(timeout, "timeout", finite_number, exclusive=True)
    connections = setting(download_connections, "download_connections", whole_number)
    range_size = setting(download_range_size, "download_range_size", whole_number)
    return LangdockSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=DEFAULT_TIMEOUT if request_timeout is None else request_timeout,
        verify=_verify(_extra(extra, "verify")),
        proxies=_proxies(_extra(extra, "proxies")),
        retry=RetryPolicy(
            max_attempts=DEFAULT_MAX_ATTEMPTS if attempts is None else attempts,
            max_wait=DEFAULT_MAX_RETRY_WAIT if max_wait is None else max_wait,
            clock=clock,
        ),
        download_timeout=setting(download_timeout, "download_timeout", finite_number, exclusive=True),
        ranges=RangePolicy(
            connections=DEFAULT_DOWNLOAD_CONNECTIONS if connections is None else connections,
            range_size=DEFAULT_RANGE_SIZE if range_size is None else range_size,
        ),
        pseudonymization_key=_secret(_extra(extra, "pseudonymization_key")),
    )


#: The hook's keyword arguments that override a connection extra (``LangdockBaseHook``'s), which the
#: operator, the sensor and the triggers accept as ``hook_params``.
HOOK_PARAMS = (
    "timeout",
    "max_attempts",
    "max_retry_wait",
    "download_timeout",
    "download_connections",
    "download_range_size",
)


def check_hook_params(hook_params: Mapping[str, Any] | None, name: str = "hook_params") -> dict[str, Any]:
    """``hook_params`` checked without a connection, as a plain dict of :data:`HOOK_PARAMS` keys.

    The values go through :func:`settings_from_connection` (the checks and bounds the hook applies),
    so a value the hook would refuse fails here, at DAG parse time. A None value leaves the extra in
    effect. Raises :class:`LangdockInputError` naming ``name``.
    """
    if hook_params is None:
        return {}
    allowed = ", ".join(HOOK_PARAMS)
    if not isinstance(hook_params, Mapping):
        raise LangdockInputError(
            f"{name} must be a dict of hook arguments ({allowed}); got {type(hook_params).__name__}."
        )
    unknown = [key for key in hook_params if key not in HOOK_PARAMS]
    if unknown:
        keys = "key" if len(unknown) == 1 else "keys"
        raise LangdockInputError(
            f"{name} has unknown {keys} {', '.join(map(repr, unknown))}; the allowed keys are {allowed}."
        )
    try:  # a throwaway check without a connection: only the overrides are looked at
        settings_from_connection(name, None, "unused", {}, **hook_params)
    except LangdockInputError as error:
        raise LangdockInputError(f"{name}: {error}") from None
    return dict(hook_params)


def _secret(value: Any) -> str | None:
    """A secret extra as a stripped string, None when unset (checked where it is used)."""
    text = value.strip() if isinstance(value, str) else None if value is None else str(value)
    return text or None


def extra_names(name: str) -> tuple[str, str]:
    """The keys an extra may have, in order: its plain name and Airflow 2's ``extra__langdock__<name>``."""
    return name, f"extra__{CONN_TYPE}__{name}"


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra by the first of its :func:`extra_names` that holds a value (None: neither)."""
    values = (extra.get(key) for key in extra_names(name))
    return next((value for value in values if value not in (None, "")), None)


def _verify(value: Any) -> bool | str:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    return text  # a CA bundle path


def _proxies(value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise LangdockInputError(
                'Connection extra \'proxies\' must be a JSON object such as {"https": "http://proxy:3128"}.'
            ) from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise LangdockInputError(
            'Connection extra \'proxies\' must map schemes to proxy URLs, e.g. {"https": "http://proxy:3128"}.'
        )
    return {str(k): v for k, v in value.items()}
