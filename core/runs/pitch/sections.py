"""The pitch pack's sections, one function each, each returning its HTML: the title page,
model results (CNN and GPT-2 runs with their charts), the chat demo (an excerpt, speed, USD
per 1,000 tokens), the optimizer comparison and the business case (every figure with its
unit and source). All text from users and models is escaped."""

from __future__ import annotations

import datetime as dt

from core import units
from core.runs.pitch.markup import Charts, escape, section, source, table
from core.runs.store import TOOL_LABELS
from core.runs.types import RunDetail, format_value

EXCERPT_TURNS = 6  # chat turns quoted in the pack
METRICS_SHOWN = 12  # metrics listed per run
TABLE_ROWS = 20  # rows of a recorded table quoted per run
TRANSCRIPT = "transcript"  # the chat run's table of turns: rows with "role" and "content"
BUSINESS_FIGURES = "figures"  # the business run's table: rows figure, value, unit, source
UNIT_SUFFIXES = (  # business metric name ending -> unit, for cases recorded without a table
    ("_usd_per_1k_tokens", "USD per 1,000 tokens"),
    ("_usd_per_month", "USD per month"),
    ("_usd", "USD"),
    ("_months", "months"),
    ("_per_day", "per day"),
    ("_gpu_hours", "GPU-hours"),
    ("_hours", "hours"),
    ("_days", "days"),
    ("_tokens_per_s", "tokens/s"),
    ("_kwh", "kWh"),
)


def title_page(product: str, hardware: str, date: dt.date, runs: list[RunDetail]) -> str:
    """Product, date, hardware, and which recorded runs the pack is built from."""
    tools = sorted({TOOL_LABELS[r.summary.tool] for r in runs})
    return (
        '<section class="title">'
        f"<h1>{escape(product)}</h1>"
        f"<p>{escape(date.isoformat())} - measured on {escape(hardware)}</p>"
        f'<p class="muted">Built from {len(runs)} recorded run(s): '
        f"{escape(', '.join(tools) or '-')}."
        " Every figure comes from a run recorded by the AI Prototyping Dashboard and names it.</p>"
        "</section>"
    )


def _metrics_table(run: RunDetail) -> str:
    shown = sorted(run.metrics.items())[:METRICS_SHOWN]
    return table(("metric", "value"), ((k, f"{v:.4g}") for k, v in shown), numeric={1})


def _rows_table(name: str, rows: list[dict]) -> str:
    """A recorded table (its first TABLE_ROWS rows) under its name."""
    more = f" (first {TABLE_ROWS} of {len(rows)} rows)" if len(rows) > TABLE_ROWS else ""
    header = list(dict.fromkeys(k for r in rows[:TABLE_ROWS] for k in r))
    body = ([r.get(k, "") for k in header] for r in rows[:TABLE_ROWS])
    return f"<p><b>{escape(name)}</b>{escape(more)}</p>{table(header, body)}"


def _run_block(run: RunDetail, charts: Charts) -> str:
    """One run: its headline, metrics, recorded curves and figures."""
    s = run.summary
    parts = [
        f"<h3>{escape(s.name)}</h3>",
        f"<p><b>{escape(s.headline_label)}: {escape(s.headline_text)}</b></p>",
        _metrics_table(run),
    ]
    parts += [_rows_table(name, rows) for name, rows in run.tables.items() if rows]
    parts += [charts.curve(run, m) for m in sorted(run.history)]
    parts += [charts.div(run.figure(name)) for name in run.figures]
    parts.append(f'<p class="source">{source(run)}</p>')
    return "\n".join(parts)


def model_results(runs: list[RunDetail], charts: Charts) -> str:
    """The CNN and GPT-2 runs, each with its figures and charts."""
    return section("Model results", "\n".join(_run_block(r, charts) for r in runs))


def optimizer_comparison(runs: list[RunDetail], charts: Charts) -> str:
    """The optimizer races, each with its results and charts."""
    return section("Optimizer comparison", "\n".join(_run_block(r, charts) for r in runs))


def _transcript(run: RunDetail) -> list[dict]:
    """The chat's turns: its 'transcript' table, else the first table with role and content."""
    if TRANSCRIPT in run.tables:
        return run.tables[TRANSCRIPT]
    for rows in run.tables.values():
        if rows and {"role", "content"} <= set(rows[0]):
            return rows
    return []


def _chat(run: RunDetail) -> str:
    """An excerpt of a saved chat with its speed and cost."""
    turns = _transcript(run)[:EXCERPT_TURNS]
    quoted = "".join(
        f'<div class="turn"><b>{escape(t.get("role", ""))}</b>{escape(t.get("content", ""))}</div>'
        for t in turns
    )
    speed = format_value(run.metrics.get("tokens_per_s"), "tokens/s")
    usd = run.metrics.get("usd_per_1k_tokens")
    cost = units.usd(usd) if usd is not None else "not recorded"
    model = run.params.get("model", "")
    return (
        f"<h3>{escape(run.summary.name)}</h3>"
        f"{'<p>Model: ' + escape(model) + '</p>' if model else ''}"
        f"{quoted or '<p class=muted>No transcript was saved with this chat.</p>'}"
        + table(
            ("figure", "value", "unit"),
            [("Speed", speed, "tokens/s"), ("Cost", cost, "USD per 1,000 tokens")],
            numeric={1},
        )
        + f'<p class="source">{source(run)} Cost: this hardware\'s price per hour / speed.</p>'
    )


def chat_demo(chats: list[RunDetail]) -> str:
    """Each saved chat: an excerpt, its speed and its cost."""
    return section("Chat demo", "\n".join(_chat(r) for r in chats))


def _business_row(metric: str, value: float, source: str) -> tuple[str, str, str, str]:
    """('Serving cost', '$2.1k', 'USD per month', source) for 'serving_cost_usd_per_month'."""
    suffix, unit = next(((x, u) for x, u in UNIT_SUFFIXES if metric.endswith(x)), ("", ""))
    name = metric.removesuffix(suffix).replace("_", " ").capitalize() if suffix else metric
    shown = units.usd(value) if unit.startswith("USD") else f"{value:,.4g}"
    return name, shown, unit, source


def business_case(case: RunDetail) -> str:
    """Every figure of the case with its unit and source, then its inputs."""
    rows = case.tables.get(BUSINESS_FIGURES)
    origin = "Business case page: core.economics.costs formulas on the inputs below"
    if rows:
        body = [
            (r.get("figure", ""), r.get("value", ""), r.get("unit", ""), r.get("source", origin))
            for r in rows
        ]
    else:
        body = [_business_row(k, v, origin) for k, v in sorted(case.metrics.items())]
    inputs = table(("input", "value"), sorted(case.params.items()), numeric={1})
    return section(
        "Business case",
        table(("figure", "value", "unit", "source"), body, numeric={1})
        + f"<h3>Inputs</h3>{inputs}"
        + f'<p class="source">{source(case)}</p>',
    )
