"""core.units: every figure the pages show carries its unit and stays readable."""

import math

from core import units


def test_money_is_compact_and_never_scientific():
    assert units.usd(1_234_567) == "$1.23M"
    assert units.usd(253.3) == "$253"
    assert units.usd(0.45) == "$0.45"
    assert units.usd(1.4e-5) == "$0.000014"
    assert units.usd(0) == "$0"
    assert units.usd(-47_700) == "-$47.7k"
    assert "e" not in units.usd(1.234e-7)


def test_sizes_counts_and_times():
    assert units.params(124e6) == "124M params"
    assert units.tokens(2e12) == "2T tokens"
    assert units.flops(8.4e22) == "8.4e22 FLOPs"
    assert units.gigabytes(16.06e9) == "16.1 GB"
    assert units.hours(186_965.8) == "186,966 GPU-hours"
    assert units.days(0.46) == "11 hours" and units.days(7.6) == "7.6 days"
    assert units.percent(0.977) == "97.7 %"
    assert units.rate(4850, "tokens/s") == "4.85k tokens/s"
    assert units.compact(math.inf) == "inf"


def test_readable_counts_times_and_carbon():
    assert units.count(1, "GPU") == "1 GPU" and units.count(8, "GPU") == "8 GPUs"
    assert units.days(4.45e5) == "1,219 years" and units.days(800) == "2.19 years"
    assert units.co2(12_345) == "12.3 t CO2e" and units.co2(850) == "850 kg CO2e"
    assert units.months(30) == "2.5 years" and units.months(math.inf) == "never"
    assert units.compact(0.001) == "0.001"
