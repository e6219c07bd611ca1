"""The pitch pack: recorded runs and a saved business case -> one self-contained HTML page
that opens offline (plotly.js embedded once, the charts interactive) and prints cleanly,
and a PDF rendered from it by headless Chromium where Chromium is installed.

    markup    style sheet, escaping, tables, charts as divs, the page around the sections
    sections  one function per section: title page, model results, chat demo, optimizer
              comparison, business case
    pdf       chromium(), to_pdf(html)

`build` picks the sections the chosen runs call for, in that order.
"""

from __future__ import annotations

import datetime as dt

from core import device as dev
from core.runs.pitch import sections
from core.runs.pitch.markup import Charts, page
from core.runs.pitch.pdf import chromium, to_pdf
from core.runs.types import RunDetail

MODEL_TOOLS = ("cnn", "gpt2")  # their runs go under "Model results"

__all__ = ["MODEL_TOOLS", "build", "chromium", "hardware_line", "to_pdf"]


def hardware_line() -> str:
    """This machine in a few words: 'NVIDIA H100 80GB HBM3' or 'CPU, 2 threads'."""
    hw = dev.probe_hardware()
    return hw.gpu_name or f"CPU, {dev.cpu_threads()} threads"


def build(
    runs: list[RunDetail],
    case: RunDetail | None,
    *,
    product: str,
    hardware: str,
    date: dt.date,
) -> str:
    """The pitch pack as one HTML page (plotly.js embedded once; works offline)."""
    charts = Charts()
    models = [r for r in runs if r.summary.tool in MODEL_TOOLS]
    chats = [r for r in runs if r.summary.tool == "chat"]
    races = [r for r in runs if r.summary.tool == "optimizers"]
    parts = [sections.title_page(product, hardware, date, runs + ([case] if case else []))]
    if models:
        parts.append(sections.model_results(models, charts))
    if chats:
        parts.append(sections.chat_demo(chats))
    if races:
        parts.append(sections.optimizer_comparison(races, charts))
    if case is not None:
        parts.append(sections.business_case(case))
    return page(product, parts)
