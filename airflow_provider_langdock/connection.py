"""Reading a ``langdock`` Airflow connection into checked settings (shared by sync and async clients)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import (  # type: ignore[attr-defined]  # not in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

from airflow_provider_langdock import __version__
from airflow_provider_langdock.api import normalize_base_url
from airflow_provider_langdock.connection_ui import CONN_TYPE
from airflow_provider_langdock.exceptions import LangdockInputError
from airflow_provider_langdock.retries import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_WAIT, RetryPolicy

DEFAULT_TIMEOUT = 120.0
USER_AGENT = f"airflow-provider-langdock/{__version__}"


@dataclass(frozen=True)
class LangdockSettings:
    """Everything a client needs to talk to one Langdock workspace."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True
    proxies: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def url(self, path: str) -> str:
        """Absolute URL of an API path such as ``/export/users``."""
        return self.base_url + path

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
) -> LangdockSettings:
    """Check the connection's fields and extras; arguments given here win over the extras."""
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

    def setting(override: Any, name: str) -> Any:
        return override if override is not None else _extra(extra, name)

    attempts = _positive(setting(max_attempts, "max_attempts"), "max_attempts")
    if attempts is not None and not attempts.is_integer():
        raise LangdockInputError(f"max_attempts must be a whole number; got {attempts!r}.")
    max_wait = _non_negative(setting(max_retry_wait, "max_retry_wait"), "max_retry_wait")
    return LangdockSettings(
        base_url=base_url,
        api_key=api_key,
        timeout=_positive(setting(timeout, "timeout"), "timeout") or DEFAULT_TIMEOUT,
        verify=_verify(_extra(extra, "verify")),
        proxies=_proxies(_extra(extra, "proxies")),
        retry=RetryPolicy(
            max_attempts=int(attempts or DEFAULT_MAX_ATTEMPTS),
            max_wait=DEFAULT_MAX_RETRY_WAIT if max_wait is None else max_wait,
        ),
    )


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra by its plain name, or by Airflow 2's ``extra__langdock__<name>`` form field name."""
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise LangdockInputError(f"Connection extra {name!r} must be a number; got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LangdockInputError(f"Connection extra {name!r} must be a number; got {value!r}.") from None


def _positive(value: Any, name: str) -> float | None:
    number = _number(value, name)
    if number is not None and number <= 0:
        raise LangdockInputError(f"{name} must be greater than 0; got {value!r}.")
    return number


def _non_negative(value: Any, name: str) -> float | None:
    number = _number(value, name)
    if number is not None and number < 0:
        raise LangdockInputError(f"{name} must not be negative; got {value!r}.")
    return number


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
