"""Extra links of ``LangdockUsageExportOperator``: the exported file in its console, Langdock analytics.

Both links are persisted through XCom, as Airflow 3 expects. While the task runs, the operator works
out each URL once and pushes it under the link's key (``persist``); ``get_link`` only reads it back
with ``XCom.get_value``. A link therefore keeps working after the task has finished, on an Airflow 2
webserver and in the Airflow 3 UI, neither of which re-runs the operator. ``xcom_key`` is that same
key, so on Airflow 3 (which stores each link of a serialized DAG as its name and XCom key, and has
the task runner push ``get_link``'s answer under it at the end of the task) the URL is stored once.
Where a link does not apply (a destination without a console page, or no destination) an empty string
is pushed, so that the task runner's own read of the link finds its key; the UI shows an empty link as
unavailable. A task that failed or was skipped before its export finished pushes nothing.

The signed download URL of an export is never a link: it is a short-lived credential to the
workspace's data. Links are built only from the destination URI, the destination's connection
(region) and the Langdock connection's base URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, Context, TaskInstanceKey

    from airflow_provider_langdock.destinations.base import Destination

log = logging.getLogger(__name__)

__all__ = [
    "LangdockAnalyticsLink",
    "LangdockDestinationLink",
    "analytics_url",
    "destination_console_url",
]

# -- the exported file in its cloud console -----------------------------------------------------------


def destination_console_url(destination: Destination | str | None) -> str:
    """The console URL of the exported object (each destination's ``console_url``), or ``""``.

    A string is read as a ``destination`` URI; a local path, an unusable URI or None give ``""``.
    """
    if isinstance(destination, str):
        from airflow_provider_langdock.destinations import destination_for

        try:
            destination = destination_for(destination)
        except ValueError:
            return ""
    return destination.console_url() if destination is not None else ""


# -- the workspace's analytics page in Langdock --------------------------------------------------------

ANALYTICS_PATH = "/settings/workspace/analytics"
DEDICATED_API_PATH = "/api/public"
APP_ORIGINS = {
    "api.langdock.com": "https://app.langdock.com",
    "api.odeus.ai": "https://app.odeus.ai",
}
"""API host of a shared cloud -> origin of its web app (both documented by Langdock and Odeus)."""


def analytics_url(base_url: str | None) -> str:
    """The workspace analytics page of the Langdock web app behind ``base_url``, or ``""``.

    The rule, on the connection's (normalized) base URL:

    * ``https://api.langdock.com`` (public cloud) -> ``https://app.langdock.com/settings/workspace/analytics``;
    * ``https://api.odeus.ai`` (Odeus, Langdock's white-label cloud, whose docs link the same page
      there) -> ``https://app.odeus.ai/settings/workspace/analytics``;
    * a dedicated deployment, ``<scheme>://<host>[:port][/prefix]/api/public`` (the documented form:
      the app is served at the deployment's base URL, the API below ``/api/public``) ->
      ``<scheme>://<host>[:port][/prefix]/settings/workspace/analytics``;
    * anything else (a proxy, a bare test server) -> ``""``: the app's address cannot be known.
    """
    if not base_url:
        return ""
    try:
        parts = urlsplit(base_url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    if host in APP_ORIGINS:
        return APP_ORIGINS[host] + ANALYTICS_PATH
    path = parts.path.rstrip("/")
    if not path.endswith(DEDICATED_API_PATH):
        return ""
    netloc = f"[{host}]" if ":" in host else host  # never user info, even if given
    if port is not None:
        netloc += f":{port}"
    app_path = path.removesuffix(DEDICATED_API_PATH)
    return urlunsplit((parts.scheme, netloc, app_path + ANALYTICS_PATH, "", ""))


# -- the links -----------------------------------------------------------------------------------------


def _is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


class _PersistedLink(BaseOperatorLink):
    """A link whose URL the operator pushes to XCom under ``key`` while it runs."""

    name: ClassVar[str]
    key: ClassVar[str]

    @property
    def xcom_key(self) -> str:
        """Airflow 3 stores the link under this key: the one ``persist`` uses, so it is stored once."""
        return self.key

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL pushed by the task instance ``ti_key``, or ``""`` if it pushed none."""
        value = XCom.get_value(ti_key=ti_key, key=self.key)
        return value if _is_web_url(value) else ""

    @classmethod
    def _persist(cls, context: Context, url: Callable[[], str]) -> str:
        """Push ``url()``, ``""`` where none applies, and return it; a failure only logs."""
        try:
            value = url()
            context["ti"].xcom_push(key=cls.key, value=value)
        except Exception:
            log.warning("Could not store the %r link; the export is not affected", cls.name, exc_info=True)
            return ""
        return value


class LangdockDestinationLink(_PersistedLink):
    """The exported file in its cloud console; no link where the destination has no console page.

    See each destination's ``console_url`` for the URL forms.
    """

    name = "Exported file"
    key = "langdock_destination_link"

    @classmethod
    def persist(cls, context: Context, destination: Destination | None) -> str:
        """Push the console URL of ``destination`` (the landed object); return it."""
        return cls._persist(context, lambda: destination_console_url(destination))


class LangdockAnalyticsLink(_PersistedLink):
    """The workspace's analytics page in Langdock; see :func:`analytics_url` for the rule."""

    name = "Langdock analytics"
    key = "langdock_analytics_link"

    @classmethod
    def persist(cls, context: Context, base_url: str | None) -> str:
        """Push the analytics URL derived from the connection's ``base_url``; return it."""
        return cls._persist(context, lambda: analytics_url(base_url))
