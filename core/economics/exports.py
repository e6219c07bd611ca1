"""What leaves the calculator: a CSV of every input and result with its unit, a one-page
Markdown summary to paste into a deck, and the run the case is recorded as ("Save this
case"; tool "business" in the run store).

Pure Python: the run store's types load only when a case is recorded.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from operator import attrgetter
from typing import TYPE_CHECKING

from core import units
from core.economics.case import Case, Report
from core.economics.figures import break_even_text, profit_text

if TYPE_CHECKING:
    from core.runs.types import RunRecord

Row = tuple[str, str, str, object, str]  # (section, kind, name, value, unit)
TRAIN_AND_SERVE_RESULTS = (  # (section, name, where in the Report, unit), in the CSV's order
    ("train", "compute", "train.flops", "FLOPs"),
    ("train", "GPU-hours", "train.gpu_hours", "GPU-hours"),
    ("train", "wall clock", "train.wall_days", "days"),
    ("train", "cost", "train.usd", "USD"),
    ("train", "energy", "train.kwh", "kWh"),
    ("train", "emissions", "train.co2_kg", "kg CO2e"),
    ("train", "memory weights", "memory.weights", "bytes"),
    ("train", "memory gradients", "memory.gradients", "bytes"),
    ("train", "memory optimizer", "memory.optimizer", "bytes"),
    ("train", "memory activations", "memory.activations", "bytes"),
    ("train", "GPUs to fit, no sharding", "gpus_plain", "GPUs"),
    ("train", "GPUs to fit, ZeRO-3", "gpus_sharded", "GPUs"),
    ("train", "Chinchilla loss", "chinchilla_loss", "nats/token"),
    ("train", "compute-optimal params", "optimal_params", "params"),
    ("train", "compute-optimal tokens", "optimal_tokens", "tokens"),
    ("serve", "weights", "serve.weight_bytes", "bytes"),
    ("serve", "KV cache per request", "serve.kv_bytes_per_request", "bytes"),
    ("serve", "GPUs per replica", "serve.gpus_per_replica", "GPUs"),
    ("serve", "concurrent requests per replica", "serve.max_batch", "requests"),
    ("serve", "decode at batch 1", "serve.tokens_per_s_batch1", "tokens/s"),
    ("serve", "decode at full batch", "serve.tokens_per_s_full", "tokens/s"),
    ("serve", "GPUs for the load", "serve.gpus", "GPUs"),
    ("serve", "monthly cost", "serve.monthly_usd", "USD/month"),
    ("serve", "cost per 1M tokens", "serve.usd_per_m_tokens", "USD"),
)  # then each API's rows
STARTUP_RESULTS = (
    ("startup", "monthly costs", "startup.monthly_costs", "USD/month"),
    ("startup", "monthly revenue", "startup.monthly_revenue", "USD/month"),
    ("startup", "net burn", "startup.net_burn", "USD/month"),
    ("startup", "runway", "startup.runway_months", "months"),
    ("startup", "months to profitability", "startup.months_to_profit", "months"),
    ("startup", "default alive", "startup.default_alive", "yes/no"),
    ("startup", "compute cost per user", "startup.cost_per_user", "USD/month"),
    ("startup", "gross margin", "startup.gross_margin", "fraction"),
)


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


def result_values(r: Report, results: tuple[tuple[str, str, str, str], ...]) -> list[Row]:
    """(section, "result", name, value, unit) for each (section, name, field of `r`, unit)."""
    return [(sec, "result", name, attrgetter(path)(r), unit) for sec, name, path, unit in results]


def api_rows(r: Report) -> list[Row]:
    """Each API's monthly cost at the load and its break-even volume."""
    rows = []
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


def result_rows(case: Case, r: Report) -> list[Row]:
    """(section, kind, name, value, unit) for every input and result: the CSV export."""
    rows = input_rows(case) + result_values(r, TRAIN_AND_SERVE_RESULTS) + api_rows(r)
    return rows + result_values(r, STARTUP_RESULTS)


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
        + (
            "no tokens served yet"
            if s.usd_per_m_tokens is None
            else f"{units.usd(s.usd_per_m_tokens)} per 1M tokens"
        ),
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
        f"- Paying users: {units.compact(startup.users)} at {units.usd(startup.price_per_user)} "
        f"a month, pilot users: {units.compact(startup.pilot_users)}; gross margin "
        + ("none yet (no revenue)" if u.gross_margin is None else units.percent(u.gross_margin)),
        "",
        "Estimates from 6ND training compute, memory-bandwidth-bound decoding and dated list "
        "prices; see the calculator for every assumption.",
    ]
    return "\n".join(lines) + "\n"


CASE_FILE = "case_inputs.json"  # the artifact a saved case loads back from


def input_values(case: Case) -> dict[str, object]:
    """Every input as "section.name" -> value (JSON types), as a saved case holds them."""
    values = {f"{sec}.{name}": value for sec, _, name, value, _ in input_rows(case)}
    return json.loads(json.dumps(values, default=str))


def changed_inputs(saved: dict[str, object], case: Case) -> list[str]:
    """'section.name: saved -> now' for every input of `case` that differs from `saved`."""

    def shown(v: object) -> str:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return "-" if v is None else str(v)
        return units.compact(v) if abs(v) >= 1e4 else f"{v:g}"

    now = input_values(case)
    names = [*now, *(k for k in saved if k not in now)]
    return [
        f"{n}: {shown(saved.get(n))} -> {shown(now.get(n))}"
        for n in names
        if saved.get(n) != now.get(n)
    ]


def case_file(case: Case, widgets: dict | None) -> str:
    """What loads a saved case back: the page's widget values and every input's value."""
    return json.dumps({"widgets": widgets or {}, "inputs": input_values(case)}, indent=1)


def run_record(case: Case, r: Report, widgets: dict | None = None) -> RunRecord:
    """The case as a run of tool "business": every input (as params) and result with its
    unit (the table "inputs_and_results"), the headline figures as metrics, the summary,
    and `CASE_FILE` (the page's `widgets` and the inputs) to load it back from."""
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
        metrics={  # a figure that does not apply (no tokens served yet) is left out
            k: v
            for k, v in {
                "training_cost_usd": r.train.usd,
                "serving_monthly_usd": r.serve.monthly_usd,
                "usd_per_m_tokens": r.serve.usd_per_m_tokens,
                "net_burn_usd_per_month": r.startup.net_burn,
                "runway_months": r.startup.runway_months,
                "months_to_profit": r.startup.months_to_profit,
            }.items()
            if v is not None
        },
        tables={"inputs_and_results": table},
        artifacts={
            "business_case.md": summary_markdown(case, r),
            CASE_FILE: case_file(case, widgets),
        },
    )
