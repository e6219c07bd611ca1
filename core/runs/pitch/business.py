"""A saved business case read for the pack: its table "inputs_and_results" (rows section,
kind, name, value, unit, as core.economics.exports records them), each value in words with
its unit; the headline facts page 1 tells; and the GPU and API prices' dates and sources
from the catalog. A case recorded with metrics only falls back on the metric labels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core import units
from core.runs.pitch import words
from core.runs.types import RunDetail

TABLE = "inputs_and_results"  # core.economics.exports.run_record's table
SECTIONS = (("train", "Training"), ("serve", "Serving"), ("api", "Against hosted APIs"))
SECTIONS += (("startup", "The company"),)
INPUTS_SHOWN = (  # (section, input name, label, unit kind): the inputs a reader needs
    ("train", "model params", "Model size (parameters)", "params"),
    ("train", "params", "Model size (parameters)", "params"),
    ("train", "tokens", "Training tokens", "tokens"),
    ("train", "gpu", "Training GPU", "text"),
    ("train", "n_gpus", "GPUs training together", "count"),
    ("train", "price_per_hour", "Training price per GPU-hour", "USD"),
    ("serve", "gpu", "Serving GPU", "text"),
    ("serve", "precision", "Serving precision", "text"),
    ("serve", "requests_per_day", "Requests per day", "count"),
    ("serve", "input_tokens", "Prompt tokens per request", "count"),
    ("serve", "output_tokens", "Generated tokens per request", "count"),
    ("serve", "price_per_hour", "Serving price per GPU-hour", "USD"),
    ("startup", "cash", "Cash in the bank", "USD"),
    ("startup", "users", "Paying users", "count"),
    ("startup", "pilot_users", "Pilot users (free)", "count"),
    ("startup", "price_per_user", "Price per user per month", "USD"),
    ("startup", "monthly_growth", "User growth per month", "fraction"),
    ("startup", "other_monthly", "Other costs per month", "USD/month"),
)


def number_text(value: object, unit: str) -> str:
    """A recorded value in words for its unit ('$12k', '8.4e22 FLOPs', '16.1 GB', 'yes')."""
    if value is None:
        return "never (the API is cheaper at any volume)" if unit == "requests/day" else "-"
    if isinstance(value, bool) or unit == "yes/no":
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    x = float(value)
    if math.isnan(x):
        return "not applicable"
    if words.is_never(x):
        return words.NEVER_WORDS.get("months" if unit == "months" else "", "never at these numbers")
    fmt = {
        "FLOPs": units.flops,
        "GPU-hours": units.hours,
        "days": units.days,
        "USD": units.usd,
        "USD/month": lambda v: f"{units.usd(v)} a month",
        "USD per 1M tokens": lambda v: f"{units.usd(v)} per 1M tokens",
        "kWh": lambda v: f"{units.compact(v)} kWh",
        "kg CO2e": units.co2,
        "bytes": units.gigabytes,
        "months": units.months,
        "fraction": units.percent,
        "params": lambda v: f"{units.compact(v)} parameters",
        "tokens": units.tokens,
        "count": lambda v: f"{units.compact(v)}",
        "GPUs": lambda v: units.count(v, "GPU"),
        "requests": lambda v: units.count(v, "request"),
    }.get(unit)
    return fmt(x) if fmt else f"{units.compact(x)} {unit}".strip()


@dataclass(frozen=True, kw_only=True)
class Case:
    """A saved case as the pack tells it."""

    results: dict[tuple[str, str], tuple[object, str]]  # (section, name) -> (value, unit)
    inputs: dict[tuple[str, str], object]  # (section, name) -> value
    metrics: dict[str, float] = field(default_factory=dict)

    def value(self, section: str, name: str) -> object:
        return self.results.get((section, name), (None, ""))[0]

    def text(self, section: str, name: str) -> str:
        value, unit = self.results.get((section, name), (None, ""))
        return number_text(value, unit)

    @property
    def apis(self) -> list[str]:
        """The hosted APIs the case compares against, in its order."""
        return [
            n.removesuffix(" monthly")
            for s, n in self.results
            if s == "api" and n.endswith(" monthly")
        ]

    def months_to_profit(self) -> str:
        value = self.value("startup", "months to profitability")
        return words.profit_text(None if value is None else float(value))


def read_case(run: RunDetail) -> Case:
    """The case's results and inputs from its table (or its metrics when it has none)."""
    results, inputs = {}, {}
    for row in run.tables.get(TABLE, []):
        key = (str(row.get("section", "")), str(row.get("name", "")))
        if row.get("kind") == "input":
            inputs[key] = row.get("value")
        else:
            results[key] = (row.get("value"), str(row.get("unit", "")))
    return Case(results=results, inputs=inputs, metrics=dict(run.metrics))


def result_rows(case: Case) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section title, [(label, value in words)]) for every recorded result."""
    grouped = []
    for sec, title in SECTIONS:
        rows = []
        for (s, name), (value, unit) in case.results.items():
            if s != sec:
                continue
            shown = case.months_to_profit() if name == "months to profitability" else None
            if name == "cost per 1M tokens":
                unit = "USD per 1M tokens"
            if name.endswith(" break-even") and value is not None:
                shown = f"self-hosting is cheaper above {number_text(value, unit)}"
            rows.append((words.humanize(name), shown or number_text(value, unit)))
        if rows:
            grouped.append((title, rows))
    if not grouped and case.metrics:  # recorded before the table existed
        grouped.append(("Figures", [words.figure(k, v) for k, v in sorted(case.metrics.items())]))
    return grouped


def input_rows(case: Case) -> list[tuple[str, str]]:
    """The inputs a reader needs, in words (each once)."""
    rows, seen = [], set()
    for sec, name, label, unit in INPUTS_SHOWN:
        if (sec, name) in case.inputs and label not in seen:
            seen.add(label)
            value = case.inputs[(sec, name)]
            rows.append((label, str(value) if unit == "text" else number_text(value, unit)))
    return rows


def catalog_sources(case: Case) -> list[str]:
    """'H100-SXM: USD 3.00 per GPU-hour as of 2026-11, <source>' for the case's GPUs and APIs."""
    from core.economics import catalog  # pure Python, but only a pack with a case needs it

    lines = []
    gpus = {str(case.inputs.get((s, "gpu"))) for s in ("train", "serve")} - {"None"}
    for row in catalog.read_csv("gpus.csv"):
        if row["name"] in gpus:
            lines.append(
                f"GPU {row['name']}: data sheet figures and a price of "
                f"{units.usd(float(row['price_per_hour']))} per GPU-hour as of "
                f"{row['price_date']} ({row['source']})"
            )
    for row in catalog.read_csv("api_prices.csv"):
        if row["name"] in case.apis:
            lines.append(
                f"API {row['name']}: {units.usd(float(row['input_per_m']))} in / "
                f"{units.usd(float(row['output_per_m']))} out per 1M tokens as of "
                f"{row['price_date']} ({row['source']})"
            )
    return lines
