"""Validation helpers: every config check raises :class:`ConfigError` naming the field, the value and what is
allowed."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key, the value and the valid choices."""


def fail_field(owner: str, name: str, value: Any, allowed: str) -> None:
    """Raise :class:`ConfigError` naming ``owner.name``, the value and what is allowed."""
    raise ConfigError(f"{owner}.{name} = {value!r} is invalid; expected {allowed}")


def check_int(owner: str, name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    """``value`` must be an int (not a bool) ≥ ``minimum`` (and ≤ ``maximum`` when given)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        allowed = f"an integer ≥ {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
        fail_field(owner, name, value, allowed)


def check_number(owner: str, name: str, value: Any, low: float, high: float) -> float:
    """``value`` must be a number (not a bool) in ``[low, high]``; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        fail_field(owner, name, value, f"a number in [{low}, {high}]")
    return float(value)


def check_positive_float(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < float(value) < float("inf")):
        fail_field(owner, name, value, "a finite number > 0")


__all__ = [
    "ConfigError",
    "check_int",
    "check_number",
    "check_positive_float",
    "fail_field",
]
