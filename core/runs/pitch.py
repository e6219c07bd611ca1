"""The pitch pack: recorded runs and a saved business case -> one self-contained HTML page
that opens offline (plotly.js embedded once, the charts interactive) and prints cleanly,
and a PDF rendered from it by headless Chromium where Chromium is installed.

Sections: title page (product, date, hardware), model results (CNN and GPT-2 runs with their
charts), chat demo (an excerpt, speed, USD per 1,000 tokens), optimizer comparison, business
case (every figure with its unit and source). All text from users and models is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core import device as dev
from core import units
from core.runs import TOOL_LABELS, RunDetail, format_value

CHROMIUM = "/usr/bin/chromium"  # Debian's package; to_pdf returns None without it
PDF_TIMEOUT_S = 90.0  # Chromium gets this long to print
CHART_HEIGHT = 340  # px; the column is narrower than an A4 page, so nothing is clipped
EXCERPT_TURNS = 6  # chat turns quoted in the pack
METRICS_SHOWN = 12  # metrics listed per run
TABLE_ROWS = 20  # rows of a recorded table quoted per run
MODEL_TOOLS = ("cnn", "gpt2")
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

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1d2430; margin: 0; background: #f4f5f7; }
main { max-width: 680px; margin: 0 auto; padding: 24px 16px; background: #fff; }
section { margin-bottom: 40px; }
h1 { font-size: 34px; margin: 0 0 8px; }
h2 { font-size: 22px; border-bottom: 2px solid #2f6fde; padding-bottom: 4px; }
h3 { font-size: 17px; margin: 22px 0 6px; }
.title { min-height: 60vh; display: flex; flex-direction: column; justify-content: center; }
.muted, .source { color: #5b6472; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #dde1e6;
         overflow-wrap: anywhere; }
.num { text-align: right; white-space: nowrap; }
.chart { width: 100%; break-inside: avoid; page-break-inside: avoid; }
.turn { margin: 6px 0; padding: 6px 10px; border-radius: 6px; background: #f0f3f8;
        white-space: pre-wrap; overflow-wrap: anywhere; }
.turn b { display: block; font-size: 12px; color: #5b6472; }
@page { size: A4; margin: 14mm; }
@media print {
  body { background: #fff; }
  main { padding: 0; }
  section { break-before: page; page-break-before: always; }
  section.title { break-before: auto; page-break-before: auto; min-height: 0; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
}
"""


def hardware_line() -> str:
    """This machine in a few words: 'NVIDIA H100 80GB HBM3' or 'CPU, 2 threads'."""
    hw = dev.probe_hardware()
    return hw.gpu_name or f"CPU, {dev.cpu_threads()} threads"


def _e(text: object) -> str:
    """`text` escaped for HTML."""
    return html.escape(str(text), quote=True)


def _table(
    header: Iterable[str], rows: Iterable[Iterable[object]], numeric: set[int] = frozenset()
) -> str:
    """An HTML table; the columns at the `numeric` indexes right-aligned and never wrapped."""
    cls = lambda i: ' class="num"' if i in numeric else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Charts:
    """Plotly figures as divs, numbered so every id in the page is unique."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig) -> str:
        """`fig` as a div that draws with the page's one copy of plotly.js."""
        import plotly.io as pio

        self.count += 1
        fig.update_layout(height=CHART_HEIGHT, width=None, autosize=True)
        body = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{self.count}",
            config={"displaylogo": False, "responsive": True},
        )
        return f'<div class="chart">{body}</div>'

    def curve(self, run: RunDetail, metric: str) -> str:
        """One recorded metric of `run` against step."""
        import plotly.graph_objects as go

        steps = [s for s, _ in run.history[metric]]
        values = [v for _, v in run.history[metric]]
        fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines+markers", name=metric))
        fig.update_layout(title=metric, xaxis_title="step", yaxis_title=metric)
        return self.div(fig)


def _source(run: RunDetail) -> str:
    """Where a run's figures come from, for the small print."""
    s = run.summary
    where = ", ".join(x for x in (s.host, s.device) if x)
    return (
        f"Source: run {_e(s.name)} ({_e(s.id[:8])}), recorded {s.start:%Y-%m-%d %H:%M} UTC"
        f"{' on ' + _e(where) if where else ''}."
    )


def _metrics_table(run: RunDetail) -> str:
    shown = sorted(run.metrics.items())[:METRICS_SHOWN]
    return _table(("metric", "value"), ((k, f"{v:.4g}") for k, v in shown), numeric={1})


def _rows_table(name: str, rows: list[dict]) -> str:
    """A recorded table (its first TABLE_ROWS rows) under its name."""
    more = f" (first {TABLE_ROWS} of {len(rows)} rows)" if len(rows) > TABLE_ROWS else ""
    header = list(dict.fromkeys(k for r in rows[:TABLE_ROWS] for k in r))
    body = ([r.get(k, "") for k in header] for r in rows[:TABLE_ROWS])
    return f"<p><b>{_e(name)}</b>{_e(more)}</p>{_table(header, body)}"


def _run_block(run: RunDetail, charts: _Charts) -> str:
    """One run: its headline, metrics, recorded curves and figures."""
    s = run.summary
    parts = [
        f"<h3>{_e(s.name)}</h3>",
        f"<p><b>{_e(s.headline_label)}: {_e(s.headline_text)}</b></p>",
        _metrics_table(run),
    ]
    parts += [_rows_table(name, rows) for name, rows in run.tables.items() if rows]
    parts += [charts.curve(run, m) for m in sorted(run.history)]
    parts += [charts.div(run.figure(name)) for name in run.figures]
    parts.append(f'<p class="source">{_source(run)}</p>')
    return "\n".join(parts)


def _title(product: str, hardware: str, date: dt.date, runs: list[RunDetail]) -> str:
    tools = sorted({TOOL_LABELS[r.summary.tool] for r in runs})
    return (
        '<section class="title">'
        f"<h1>{_e(product)}</h1>"
        f"<p>{_e(date.isoformat())} - measured on {_e(hardware)}</p>"
        f'<p class="muted">Built from {len(runs)} recorded run(s): {_e(", ".join(tools) or "-")}.'
        " Every figure comes from a run recorded by the AI Prototyping Dashboard and names it.</p>"
        "</section>"
    )


def _section(heading: str, body: str) -> str:
    return f"<section><h2>{_e(heading)}</h2>\n{body}\n</section>"


def _models(runs: list[RunDetail], charts: _Charts) -> str:
    return "\n".join(_run_block(r, charts) for r in runs)


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
        f'<div class="turn"><b>{_e(t.get("role", ""))}</b>{_e(t.get("content", ""))}</div>'
        for t in turns
    )
    speed = format_value(run.metrics.get("tokens_per_s"), "tokens/s")
    usd = run.metrics.get("usd_per_1k_tokens")
    cost = units.usd(usd) if usd is not None else "not recorded"
    model = run.params.get("model", "")
    return (
        f"<h3>{_e(run.summary.name)}</h3>"
        f"{'<p>Model: ' + _e(model) + '</p>' if model else ''}"
        f"{quoted or '<p class=muted>No transcript was saved with this chat.</p>'}"
        + _table(
            ("figure", "value", "unit"),
            [("Speed", speed, "tokens/s"), ("Cost", cost, "USD per 1,000 tokens")],
            numeric={1},
        )
        + f'<p class="source">{_source(run)} Cost: this hardware\'s price per hour / speed.</p>'
    )


def _business_row(metric: str, value: float, source: str) -> tuple[str, str, str, str]:
    """('Serving cost', '$2.1k', 'USD per month', source) for 'serving_cost_usd_per_month'."""
    suffix, unit = next(((x, u) for x, u in UNIT_SUFFIXES if metric.endswith(x)), ("", ""))
    name = metric.removesuffix(suffix).replace("_", " ").capitalize() if suffix else metric
    shown = units.usd(value) if unit.startswith("USD") else f"{value:,.4g}"
    return name, shown, unit, source


def _business(case: RunDetail) -> str:
    """Every figure of the case with its unit and source."""
    rows = case.tables.get(BUSINESS_FIGURES)
    source = "Business case page: core.economics.costs formulas on the inputs below"
    if rows:
        body = [
            (r.get("figure", ""), r.get("value", ""), r.get("unit", ""), r.get("source", source))
            for r in rows
        ]
    else:
        body = [_business_row(k, v, source) for k, v in sorted(case.metrics.items())]
    inputs = _table(("input", "value"), sorted(case.params.items()), numeric={1})
    return (
        _table(("figure", "value", "unit", "source"), body, numeric={1})
        + f"<h3>Inputs</h3>{inputs}"
        + f'<p class="source">{_source(case)}</p>'
    )


def build(
    runs: list[RunDetail],
    case: RunDetail | None,
    *,
    product: str,
    hardware: str,
    date: dt.date,
) -> str:
    """The pitch pack as one HTML page (plotly.js embedded once; works offline)."""
    import plotly.offline

    charts = _Charts()
    models = [r for r in runs if r.summary.tool in MODEL_TOOLS]
    chats = [r for r in runs if r.summary.tool == "chat"]
    races = [r for r in runs if r.summary.tool == "optimizers"]
    sections = [_title(product, hardware, date, runs + ([case] if case else []))]
    if models:
        sections.append(_section("Model results", _models(models, charts)))
    if chats:
        sections.append(_section("Chat demo", "\n".join(_chat(r) for r in chats)))
    if races:
        sections.append(_section("Optimizer comparison", _models(races, charts)))
    if case is not None:
        sections.append(_section("Business case", _business(case)))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(product)} - pitch pack</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        f"</head><body><main>\n{''.join(sections)}\n</main></body></html>"
    )


def chromium() -> str | None:
    """The Chromium that prints PDFs, or None where it is not installed."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def to_pdf(page: str, timeout_s: float = PDF_TIMEOUT_S) -> bytes | None:
    """The HTML `page` printed to PDF by headless Chromium; None without Chromium or on failure."""
    exe = chromium()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="pitch-") as tmp:
        source, out = Path(tmp) / "pitch.html", Path(tmp) / "pitch.pdf"
        source.write_text(page, encoding="utf-8")
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            "--virtual-time-budget=10000",  # let the charts draw before printing
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={out}",
            source.as_uri(),
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # Chromium's helpers share its process group
            proc.wait()
            return None
        data = out.read_bytes() if out.exists() else b""
    return data if data.startswith(b"%PDF") else None
