"""The pitch pack: recorded runs and a saved business case -> one self-contained HTML page
that tells one story (page 1: what was built, what it cost, what it would cost at scale),
opens offline (plotly.js embedded once), prints cleanly on A4 and Letter, and a PDF
rendered from it by headless Chromium where Chromium is installed.

    words     every metric key -> a reader's label and unit; "never" in words; model names
    business  a saved case's table "inputs_and_results" in words, catalog sources
    story     page 1: what was built and measured, the headline figures
    markup    style sheet, escaping, tables, charts as divs, the page around the sections
    sections  one function per tool's section, the methods appendix
    pdf       chromium(), to_pdf(html)

`build` picks the sections the chosen runs call for, in that order.
"""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
from pathlib import Path

from core import device as dev
from core.runs.pitch import sections
from core.runs.pitch.markup import Charts, page
from core.runs.pitch.pdf import PAPERS, chromium, to_pdf
from core.runs.pitch.story import Facts, story
from core.runs.types import RunDetail

ORDER = ("cnn", "gpt2", "chat", "optimizers", "compress")  # the sections after page 1
ROOT = Path(__file__).resolve().parents[3]

__all__ = ["PAPERS", "Facts", "app_version", "build", "chromium", "hardware_line", "to_pdf"]


def hardware_line() -> str:
    """This machine in a few words: 'NVIDIA H100 80GB HBM3' or 'a CPU, 2 threads'."""
    hw = dev.probe_hardware()
    return hw.gpu_name or f"a CPU, {dev.cpu_threads()} threads"


@functools.cache
def app_version() -> str:
    """'version 1a2b3c4 (2026-12-04)' from git where the app runs from a checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h (%cs)"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"version {out}" if out else "run from source"


def build(
    runs: list[RunDetail],
    case: RunDetail | None,
    *,
    product: str,
    hardware: str,
    date: dt.date,
    summary: str = "",
    turns: dict[str, list[int]] | None = None,
) -> str:
    """The pitch pack as one HTML page (plotly.js embedded once; works offline). `turns`:
    chat run id -> the indexes of the turns to quote (a chat not named: its first turns)."""
    facts = Facts(
        product=product, summary=summary, hardware=hardware, date=date, version=app_version()
    )
    charts = Charts()
    runs = sorted(
        runs, key=lambda r: ORDER.index(r.summary.tool) if r.summary.tool in ORDER else 99
    )
    of = lambda tool: [r for r in runs if r.summary.tool == tool]  # noqa: E731
    parts = [story(facts, runs, case)]
    if of("cnn"):
        parts.append(sections.classifier(of("cnn"), charts))
    if of("gpt2"):
        parts.append(sections.language_model(of("gpt2"), charts))
    if of("chat"):
        parts.append(sections.chat(of("chat"), turns or {}))
    if of("optimizers"):
        parts.append(sections.optimizers(of("optimizers"), charts))
    if of("compress"):
        parts.append(sections.compression(of("compress")))
    if case is not None:
        parts.append(sections.business_case(case))
    parts.append(sections.appendix(facts, runs + ([case] if case else []), case))
    return page(product, parts)
