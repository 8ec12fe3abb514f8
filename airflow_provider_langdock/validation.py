"""Checks of numeric settings: every timeout, wait, count and size is a finite number or refused.

Used for connection extras, hook arguments and operator, sensor and trigger arguments, so that a
``nan``, an ``inf``, a string where a number belongs or a negative wait fails at once with a
:class:`~airflow_provider_langdock.exceptions.LangdockInputError` naming the setting, before any
request is sent.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_langdock.exceptions import LangdockInputError


def finite_number(
    value: Any, name: str, *, minimum: float = 0.0, exclusive: bool = False, text: bool = False
) -> float:
    """``value`` as a finite float ``>= minimum`` (``> minimum`` when ``exclusive``).

    :param name: how the error names the setting, e.g. ``"retry_window"`` or ``"Connection extra 'timeout'"``.
    :param text: accept numeric strings too (connection extras typed into a form are strings).
    """
    bound = f"greater than {minimum:g}" if exclusive else f"at least {minimum:g}"
    problem = f"{name} must be a finite number {bound}; got {value!r}."
    if isinstance(value, bool) or not isinstance(value, int | float | str if text else int | float):
        raise LangdockInputError(problem)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise LangdockInputError(problem) from None
    if not math.isfinite(number) or number < minimum or (exclusive and number == minimum):
        raise LangdockInputError(problem)
    return number


def whole_number(value: Any, name: str, *, minimum: int = 1, text: bool = False) -> int:
    """``value`` as an int ``>= minimum``; ``2.0`` (and ``"2"`` with ``text``) are fine, ``2.5`` is not."""
    problem = f"{name} must be a whole number of at least {minimum}; got {value!r}."
    try:
        number = finite_number(value, name, minimum=minimum, text=text)
    except LangdockInputError:
        raise LangdockInputError(problem) from None
    if not number.is_integer():
        raise LangdockInputError(problem)
    return int(number)


def seconds(value: Any, name: str, *, exclusive: bool = False) -> float:
    """A duration given as seconds or a ``timedelta``, as finite, non-negative seconds."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return finite_number(value, f"{name} (seconds or a timedelta)", exclusive=exclusive)


def deadline_after(timeout: timedelta | float | None, name: str = "timeout") -> datetime | None:
    """The absolute UTC moment ``timeout`` (a timedelta or seconds) from now; None for no timeout.

    A timeout beyond the calendar (e.g. ``float("inf")``) means none; ``nan`` or a negative or
    non-numeric value is refused, naming ``name``.
    """
    if timeout is None or (isinstance(timeout, float) and math.isinf(timeout) and timeout > 0):
        return None
    try:
        return datetime.now(UTC) + timedelta(seconds=seconds(timeout, name))
    except OverflowError:
        return None


__all__ = ["deadline_after", "finite_number", "seconds", "whole_number"]
