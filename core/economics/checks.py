"""Input checks the catalog, the formulas and the case share: a number a formula can use, or
a ValueError naming the input in words a user can act on."""

from __future__ import annotations

import math


def positive(name: str, value: float) -> float:
    """`value` as a float if it is a finite number > 0, else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number above zero, got {value!r}.")
    return float(value)


def fraction(name: str, value: float) -> float:
    """`value` if it lies in (0, 1], else ValueError (for MFU, utilisation, PUE shares)."""
    value = positive(name, value)
    if value > 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}.")
    return value


def non_negative(name: str, value: float) -> float:
    """`value` if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if value < 0:
        raise ValueError(f"{name} cannot be negative, got {value!r}.")
    return float(value)


def finite(name: str, value: float) -> float:
    """`value` if it is finite, else ValueError: the inputs are too far out to compute with."""
    if not math.isfinite(value):
        raise ValueError(f"{name} comes out too large to compute: check the inputs' sizes.")
    return value


def whole(name: str, value: float) -> int:
    """`value` if it is a whole number > 0 (GPUs, tokens of context), else ValueError."""
    if positive(name, value) != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    return int(value)
