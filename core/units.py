"""Numbers with their units, formatted for people: "$1.23M", "16.1 GB", "8.40e22 FLOPs"."""

from __future__ import annotations

import math

_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def compact(x: float, digits: int = 3) -> str:
    """1234567 -> '1.23M'; small numbers keep `digits` significant figures."""
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "n/a")
    for scale, suffix in _SUFFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{suffix}"
    return f"{x:.{digits}g}"


def usd(x: float) -> str:
    """'$1.23M', '$950', '$0.45', '$0.000014', '-$47.7k' (never scientific notation)."""
    if math.isfinite(x) and x < 0:
        return "-" + usd(-x)
    if math.isfinite(x) and abs(x) < 1:
        if x == 0:
            return "$0"
        decimals = max(2, 1 - math.floor(math.log10(abs(x))))  # two significant digits
        return f"${x:.{decimals}f}"
    return f"${compact(x)}"


def params(n: float) -> str:
    """Parameter count: '124M params', '7B params'."""
    return f"{compact(n)} params"


def tokens(n: float) -> str:
    """'2T tokens'."""
    return f"{compact(n)} tokens"


def flops(x: float) -> str:
    """'8.4e22 FLOPs'."""
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{float(mantissa):.3g}e{int(exponent)} FLOPs"


def gigabytes(n_bytes: float) -> str:
    """Bytes as decimal GB, the unit GPU data sheets use: '16.1 GB'."""
    return f"{n_bytes / 1e9:.3g} GB"


def hours(h: float) -> str:
    """'186,966 GPU-hours'; '0.0012 GPU-hours' for small ones."""
    return f"{h:,.0f} GPU-hours" if h >= 10 else f"{h:.2g} GPU-hours"


def days(d: float) -> str:
    """'7.6 days'; hours under one day, years past two years ('1,219 years')."""
    if d >= 730:
        return f"{d / 365:,.3g} years" if d < 365_000 else f"{d / 365:,.0f} years"
    return f"{d:.3g} days" if d >= 1 else f"{d * 24:.2g} hours"


def count(n: float, thing: str) -> str:
    """'1 GPU', '8 GPUs', '12.4k GPUs'."""
    return f"{compact(n)} {thing}{'' if n == 1 else 's'}"


def co2(kg: float) -> str:
    """'850 kg CO2e', '12.3 t CO2e' (tonnes from 1,000 kg)."""
    return f"{compact(kg / 1000)} t CO2e" if kg >= 1000 else f"{compact(kg)} kg CO2e"


def percent(x: float) -> str:
    """0.123 -> '12.3 %'."""
    return f"{x * 100:.3g} %"


def rate(x: float, unit: str) -> str:
    """'239 tokens/s'."""
    return f"{compact(x)} {unit}"


def months(m: float) -> str:
    """'19.1 months', '4.2 years' past two years, 'never' for inf."""
    if math.isinf(m):
        return "never"
    return f"{m / 12:.3g} years" if m >= 24 else f"{m:.3g} months"
