"""The one redaction path for text that leaves the provider: errors, log lines, events, test messages.

:func:`redact` removes, whatever a server echoed back:

- every secret registered with :func:`register_secret` (the API keys this process has read, as stored
  and as sent: stripped or padded);
- ``Bearer <token>`` and ``Authorization: <value>`` values;
- the user information of URLs (``https://user:password@host`` -> ``https://***@host``), except in
  Azure storage URIs (``wasbs://<container>@<account>...``), where it is the container's name;
- the values of signature-like query parameters of signed URLs (signature, credential, token, key...).

:class:`~airflow_provider_langdock.exceptions.LangdockError` passes its message and fields through it,
so every typed error is clean from the moment it exists. This module does no I/O and imports nothing
of Airflow.
"""

from __future__ import annotations

import re
import threading

MASK = "***"

# Every pattern runs in linear time on any text: no two adjacent parts can match the same characters,
# and repeated runs start only at their beginning (a lookbehind), so hostile text cannot make them
# backtrack.
_QUERY_PARAMETER = re.compile(r"(?P<name>[?&][^?&=\s\"'<>]*=)(?P<value>[^&\s\"'<>]*)")
_SIGNED_PARAMETER_NAME = re.compile(r"sig|token|credential|key|policy", re.I)
_BEARER = re.compile(r"(?P<name>\bBearer\s+)[^\s\"',;]+", re.I)
_AUTHORIZATION_HEADER = re.compile(
    r"(?P<name>\b(?:Proxy-)?Authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+", re.I
)
_URL_USERINFO = re.compile(
    r"(?P<name>(?<![a-z0-9+.-])(?!(?:wasbs?|abfss?)://)[a-z][a-z0-9+.-]*://)[^/\s@?#\"']+@", re.I
)
"""User information in a URL; not in Azure storage URIs, where ``<container>@<account host>`` is no secret."""

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Redact ``secret`` (and its stripped form) from everything :func:`redact` sees in this process."""
    if not secret:
        return
    with _secrets_lock:
        _secrets.update(form for form in (secret, secret.strip()) if form)


def redact(text: str) -> str:
    """``text`` without registered secrets, bearer tokens, URL credentials or URL signatures."""
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: a padded form is longer
        text = text.replace(secret, MASK)
    text = _AUTHORIZATION_HEADER.sub(rf"\g<name>{MASK}", text)
    text = _BEARER.sub(rf"\g<name>{MASK}", text)
    text = _URL_USERINFO.sub(rf"\g<name>{MASK}@", text)
    return _QUERY_PARAMETER.sub(_mask_signed_value, text)


def _mask_signed_value(match: re.Match[str]) -> str:
    """``?name=value`` with the value masked when the name looks like a signature or a credential."""
    name = match.group("name")
    return name + MASK if _SIGNED_PARAMETER_NAME.search(name) and match.group("value") else match.group()


def redact_optional(text: str | None) -> str | None:
    """:func:`redact` for a value that may be None."""
    return None if text is None else redact(text)


__all__ = ["MASK", "redact", "redact_optional", "register_secret"]
