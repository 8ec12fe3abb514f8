"""Hooks of the Langdock provider.

This package imports nothing, so that DAG files (the operator's defaults) can use its constants
without loading ``requests`` or ``aiohttp``: :class:`~.langdock.LangdockHook` is in
:mod:`airflow_provider_langdock.hooks.langdock`, the triggers' async hook in
:mod:`airflow_provider_langdock.hooks.langdock_async`.
"""

from __future__ import annotations

#: Bytes read from a download per chunk (the operator's ``chunk_size`` and the hook's default).
DEFAULT_CHUNK_SIZE = 1024 * 1024

__all__ = ["DEFAULT_CHUNK_SIZE"]
