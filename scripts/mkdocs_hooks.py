"""MkDocs hooks for the docs site (mkdocs.yml ``hooks:``).

The provider's docstrings use Sphinx roles (``:class:`~pkg.Name```), which mkdocstrings renders as
literal text (``:class:`` followed by the code). This hook shows them as plain code: the name, or with a
leading ``~`` its last component, as Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(?P<target>[^<]*)</code>")


def sphinx_roles_to_code(html: str) -> str:
    """Replace each rendered Sphinx role with ``<code>`` of its target (``~`` keeps the last part)."""

    def code(match: re.Match[str]) -> str:
        target = match["target"]
        if target.startswith("~"):
            target = target[1:].rsplit(".", 1)[-1]
        return f"<code>{target}</code>"

    return _ROLE.sub(code, html)


def on_page_content(html: str, **kwargs: Any) -> str:
    """MkDocs event: the page's HTML after Markdown rendering."""
    return sphinx_roles_to_code(html)
