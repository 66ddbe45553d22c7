"""Private helpers that turn bad arguments into clear errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def unknown_name_error(argument: str, value: Any, valid: Iterable[str]) -> ValueError:
    """Build the error for an unknown name, listing the valid ones."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"Unknown {argument}={value!r}. Expected one of: {', '.join(valid)}.{hint}"
    )


def check_fraction(argument: str, value: Any, *, low_inclusive: bool = True) -> float:
    """Return ``value`` as a float in [0, 1) (or (0, 1) when ``low_inclusive`` is false)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}.")
    value = float(value)
    ok_low = value >= 0.0 if low_inclusive else value > 0.0
    if not (ok_low and value < 1.0):
        bracket = "[0, 1)" if low_inclusive else "(0, 1)"
        raise ValueError(f"{argument} must be in {bracket}, got {value!r}.")
    return value


def check_positive_int(argument: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value!r}.")
    return value
