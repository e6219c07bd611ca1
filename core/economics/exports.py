"""What leaves the calculator: a CSV of every input and result with its unit, a one-page
Markdown summary to paste into a deck, and the run the case is recorded as ("Save this
case"; tool "business" in the run store).

Pure Python: the run store's types load only when a case is recorded.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import TYPE_CHECKING

from core import units
from core.economics.case import Case, Report
from core.economics.figures import break_even_text, profit_text

if TYPE_CHECKING:
    from core.runs.types import RunRecord

Row = tuple[str, str, str, object, str]  # (section, kind, name, value, unit)


def input_rows(case: Case) -> list[Row]:
    """(section, "input", name, value, "") for every input, API prices with their unit."""
    rows = []
    for section, inputs in (
        ("train", case.train),
        ("serve", case.serve),
        ("startup", case.startup),
    ):
        for name, value in asdict(inputs).items():
            if name == "shape":
                for k, v in value.items():
                    rows.append((section, "input", f"model {k}", v, ""))
            else:
                rows.append((section, "input", name, value, ""))
    for api in case.apis:
        rows.append(("api", "input", f"{api.name} input", api.input_per_m, "USD per 1M tokens"))
        rows.append(("api", "input", f"{api.name} output", api.output_per_m, "USD per 1M tokens"))
    return rows


def train_rows(r: Report) -> list[Row]:
    """The training run's results with their units."""
    t, m = r.train, r.memory
    results = [
        ("compute", t.flops, "FLOPs"),
        ("GPU-hours", t.gpu_hours, "GPU-hours"),
        ("wall clock", t.wall_days, "days"),
        ("cost", t.usd, "USD"),
        ("energy", t.kwh, "kWh"),
        ("emissions", t.co2_kg, "kg CO2e"),
        ("memory weights", m.weights, "bytes"),
        ("memory gradients", m.gradients, "bytes"),
        ("memory optimizer", m.optimizer, "bytes"),
        ("memory activations", m.activations, "bytes"),
        ("GPUs to fit, no sharding", r.gpus_plain, "GPUs"),
        ("GPUs to fit, ZeRO-3", r.gpus_sharded, "GPUs"),
        ("Chinchilla loss", r.chinchilla_loss, "nats/token"),
        ("compute-optimal params", r.optimal_params, "params"),
        ("compute-optimal tokens", r.optimal_tokens, "tokens"),
    ]
    return [("train", "result", name, value, unit) for name, value, unit in results]


def serve_rows(r: Report) -> list[Row]:
    """Serving's results, then each API's monthly cost and break-even."""
    s = r.serve
    results = [
        ("weights", s.weight_bytes, "bytes"),
        ("KV cache per request", s.kv_bytes_per_request, "bytes"),
        ("GPUs per replica", s.gpus_per_replica, "GPUs"),
        ("concurrent requests per replica", s.max_batch, "requests"),
        ("decode at batch 1", s.tokens_per_s_batch1, "tokens/s"),
        ("decode at full batch", s.tokens_per_s_full, "tokens/s"),
        ("GPUs for the load", s.gpus, "GPUs"),
        ("monthly cost", s.monthly_usd, "USD/month"),
        ("cost per 1M tokens", s.usd_per_m_tokens, "USD"),
    ]
    rows = [("serve", "result", name, value, unit) for name, value, unit in results]
    for c in r.apis:
        rows.append(("api", "result", f"{c.api.name} monthly", c.api_monthly, "USD/month"))
        rows.append(
            (
                "api",
                "result",
                f"{c.api.name} break-even",
                c.break_even_requests_per_day,
                "requests/day",
            )
        )
    return rows


def startup_rows(r: Report) -> list[Row]:
    """The company's results with their units."""
    u = r.startup
    results = [
        ("monthly costs", u.monthly_costs, "USD/month"),
        ("monthly revenue", u.monthly_revenue, "USD/month"),
        ("net burn", u.net_burn, "USD/month"),
        ("runway", u.runway_months, "months"),
        ("months to profitability", u.months_to_profit, "months"),
        ("default alive", u.default_alive, "yes/no"),
        ("compute cost per user", u.cost_per_user, "USD/month"),
        ("gross margin", u.gross_margin, "fraction"),
    ]
    return [("startup", "result", name, value, unit) for name, value, unit in results]


def result_rows(case: Case, r: Report) -> list[Row]:
    """(section, kind, name, value, unit) for every input and result: the CSV export."""
    return input_rows(case) + train_rows(r) + serve_rows(r) + startup_rows(r)


def to_csv(rows: list[Row]) -> str:
    """The rows as CSV text with a header."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "kind", "name", "value", "unit"])
    writer.writerows(rows)
    return out.getvalue()


def summary_markdown(case: Case, r: Report) -> str:
    """A one-page summary to paste into a deck."""
    train, serve, startup = case.train, case.serve, case.startup
    t, s, u = r.train, r.serve, r.startup
    lines = [
        "# Compute business case",
        "",
        "## Training",
        f"- Model: {units.params(train.params)} trained on {units.tokens(train.tokens)} "
        f"({units.flops(t.flops)})",
        f"- Hardware: {train.n_gpus} x {train.gpu} at {units.percent(train.mfu)} MFU, "
        f"{units.usd(train.price_per_hour)} per GPU-hour",
        f"- Cost: **{units.usd(t.usd)}**, {units.hours(t.gpu_hours)}, "
        f"{units.days(t.wall_days)} wall clock",
        f"- Energy: {units.compact(t.kwh)} kWh, {units.compact(t.co2_kg)} kg CO2e",
        "",
        "## Serving",
        f"- Model: {units.gigabytes(s.weight_bytes)} of {serve.precision} weights on "
        f"{s.gpus} x {serve.gpu}",
        f"- Load: {units.compact(serve.requests_per_day)} requests/day of "
        f"{units.compact(serve.input_tokens)} + {units.compact(serve.output_tokens)} tokens",
        f"- Cost: **{units.usd(s.monthly_usd)} per month**, "
        f"{units.usd(s.usd_per_m_tokens)} per 1M tokens",
        "",
        "## Against hosted APIs",
    ]
    for c in r.apis:
        lines.append(
            f"- {c.api.name}: {units.usd(c.api_monthly)} per month at this load; "
            f"self-hosting breaks even at {break_even_text(c)}"
        )
    lines += [
        "",
        "## Company",
        f"- Costs {units.usd(u.monthly_costs)} and revenue {units.usd(u.monthly_revenue)} per "
        f"month: net burn **{units.usd(u.net_burn)}**; runway {units.months(u.runway_months)} "
        f"on {units.usd(startup.cash)}",
        f"- Profitable {profit_text(u)} at {units.percent(startup.monthly_growth)} user growth "
        f"a month: **{'default alive' if u.default_alive else 'default dead'}**",
        f"- Compute per user: {units.usd(u.cost_per_user)} per month; gross margin "
        f"{units.percent(u.gross_margin)} at {units.usd(startup.price_per_user)} per user",
        "",
        "Estimates from 6ND training compute, memory-bandwidth-bound decoding and dated list "
        "prices; see the calculator for every assumption.",
    ]
    return "\n".join(lines) + "\n"


def run_record(case: Case, r: Report) -> RunRecord:
    """The case as a run of tool "business": every input (as params) and result with its
    unit (the table "inputs_and_results"), the headline figures as metrics, the summary."""
    from core.runs.types import RunRecord  # the run store stays off the calculator's path

    rows = result_rows(case, r)
    table = [
        {"section": sec, "kind": kind, "name": name, "value": value, "unit": unit}
        for sec, kind, name, value, unit in rows
    ]
    params = {f"{sec}.{name}": value for sec, kind, name, value, _ in rows if kind == "input"}
    return RunRecord(
        name=f"{units.params(case.train.params)} on {case.train.gpu}, "
        f"{units.compact(case.startup.users)} users",
        params=params,
        metrics={
            "training_cost_usd": r.train.usd,
            "serving_monthly_usd": r.serve.monthly_usd,
            "usd_per_m_tokens": r.serve.usd_per_m_tokens,
            "net_burn_usd_per_month": r.startup.net_burn,
            "runway_months": r.startup.runway_months,
            "months_to_profit": r.startup.months_to_profit,
        },
        tables={"inputs_and_results": table},
        artifacts={"business_case.md": summary_markdown(case, r)},
    )
