"""The pitch pack's HTML building blocks: the style sheet, escaping, tables, charts as divs,
a section with its heading, a run's small print, and the page around the sections (plotly.js
embedded once, so the page works offline)."""

from __future__ import annotations

import html
from collections.abc import Iterable

from core.runs.types import RunDetail

CHART_HEIGHT = 340  # px; the column is narrower than an A4 page, so nothing is clipped
X_TICKS = 8  # at most this many x ticks, never rotated: A4's column and a phone stay readable

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1d2430; margin: 0; background: #f4f5f7; }
main { max-width: 680px; margin: 0 auto; padding: 24px 16px; background: #fff;
       box-sizing: border-box; }
.lead { font-size: 17px; }
ul { padding-left: 20px; }
section { margin-bottom: 40px; }
h1 { font-size: 34px; margin: 0 0 8px; }
h2 { font-size: 22px; border-bottom: 2px solid #2f6fde; padding-bottom: 4px; }
h3 { font-size: 17px; margin: 22px 0 6px; }
.title h1 { margin-top: 12px; }
@media (max-width: 480px) { body { font-size: 14px; } h1 { font-size: 26px; }
  main { padding: 16px 10px; } th, td { padding: 3px 4px; } }
.muted, .source { color: #5b6472; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #dde1e6;
         overflow-wrap: anywhere; }
.num { text-align: right; white-space: nowrap; }
.chart { width: 100%; max-width: 100%; overflow: hidden; break-inside: avoid;
         page-break-inside: avoid; }
.chart > div, .chart .js-plotly-plot { width: 100% !important; }
.turn { margin: 6px 0; padding: 6px 10px; border-radius: 6px; background: #f0f3f8;
        white-space: pre-wrap; overflow-wrap: anywhere; }
.turn b { display: block; font-size: 12px; color: #5b6472; }
@page { margin: 14mm; }  /* A4 or Letter: the printer's paper; the column fits both */
@media print {
  body { background: #fff; }
  main { padding: 0; }
  section { break-before: page; page-break-before: always; }
  section.title { break-before: auto; page-break-before: auto; }
  main { max-width: none; }
  .chart, table, .turn { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
}
"""


def escape(text: object) -> str:
    """`text` escaped for HTML."""
    return html.escape(str(text), quote=True)


def table(
    header: Iterable[str], rows: Iterable[Iterable[object]], numeric: set[int] = frozenset()
) -> str:
    """An HTML table; the columns at the `numeric` indexes right-aligned and never wrapped."""
    cls = lambda i: ' class="num"' if i in numeric else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Charts:
    """Plotly figures as divs, numbered so every id in the page is unique."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig) -> str:
        """`fig` as a div that draws with the page's one copy of plotly.js."""
        import plotly.io as pio

        from core.plots import PALETTE  # plotly loads only when a pack is built

        self.count += 1
        fig.update_layout(
            height=CHART_HEIGHT,
            width=None,
            autosize=True,
            margin={"l": 50, "r": 16, "t": 56, "b": 80},
            legend={"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0},
            colorway=PALETTE,
            plot_bgcolor="#fff",
        )
        fig.update_xaxes(tickangle=0, automargin=True)
        if all(t.type == "scatter" for t in fig.data):  # curves; a matrix keeps every class
            fig.update_xaxes(nticks=X_TICKS)
        body = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{self.count}",
            config={"displayModeBar": False, "responsive": True},  # a document, no toolbar
        )
        return f'<div class="chart">{body}</div>'

    def lines(self, series: dict[str, list[tuple[int, float]]], title: str) -> str:
        """Each labelled series (step, value) as a line, against step."""
        import plotly.graph_objects as go

        fig = go.Figure()
        for name, points in series.items():
            fig.add_trace(go.Scatter(x=[s for s, _ in points], y=[v for _, v in points], name=name))
        fig.update_layout(title=title, xaxis_title="Step")
        return self.div(fig)


def section(heading: str, body: str) -> str:
    """A section of the pack: a page of its own when printed."""
    return f"<section><h2>{escape(heading)}</h2>\n{body}\n</section>"


def source(run: RunDetail) -> str:
    """Where a run's figures come from, for the small print (its reference is in Methods)."""
    from core.runs.pitch.words import device_text

    s = run.summary
    where = f" on {device_text(s.device)}" if s.device else ""
    return f"Measured {s.start:%d %b %Y %H:%M} UTC{where}; run reference in Methods."


def page(product: str, sections: list[str]) -> str:
    """The whole pack: one HTML page with its style and plotly.js embedded once."""
    import plotly.offline

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(product)} - pitch pack</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        f"</head><body><main>\n{''.join(sections)}\n</main></body></html>"
    )
