"""What crosses the run store's boundary, each defined once: the record a tool hands in
(`RunRecord`), what came of handing it in (`Recorded`), and what reading gives back
(`RunSummary` per row of a list, `RunDetail` per run, `Artifact` per file).

Light on purpose (no MLflow): every tool builds its `RunRecord` with its own
`run_record(...)`, in the page's process and under torchrun alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import units


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One run as a tool records it."""

    name: str  # shown in run lists
    params: dict = field(default_factory=dict)  # the settings, nested; stored flat and as JSON
    metrics: dict[str, float] = field(default_factory=dict)  # final figures (non-numbers skipped)
    history: list[dict] = field(default_factory=list)  # rows of step metrics, e.g. per epoch
    step_key: str = "step"  # the history rows' step column ("epoch" for a CNN)
    tables: dict[str, list[dict]] = field(default_factory=dict)  # name -> rows, stored as JSON
    figures: dict[str, Any] = field(default_factory=dict)  # name -> plotly figure
    artifacts: dict[str, bytes | str | Path] = field(default_factory=dict)  # path in run -> file
    tags: dict[str, str] = field(default_factory=dict)  # e.g. {"device": "cpu"}
    status: str = "FINISHED"  # FINISHED, KILLED (stopped), FAILED


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What came of recording a run: its id, or the reason it was not recorded."""

    run_id: str | None = None  # None when the store could not record it
    reason: str = ""  # why not, in words a user can act on (empty once recorded)

    @property
    def ok(self) -> bool:
        return self.run_id is not None


def format_value(value: float | None, unit: str) -> str:
    """A metric for people: '99.1 %', '$1.23k', '16.1 tokens/s', '3.03x', '0.0412'; '-' when
    missing."""
    if value is None:
        return "-"
    if unit == "%":
        return units.percent(value)
    if unit == "USD":
        return units.usd(value)
    if unit == "x":  # a ratio to the original: '3.03x'
        return f"{value:.2f}x"
    return units.rate(value, unit) if unit else f"{value:.4g}"


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """One row of the runs list."""

    id: str
    tool: str  # one of TOOLS
    name: str
    status: str  # one of STATUSES
    start: dt.datetime  # UTC
    end: dt.datetime | None  # UTC; None while running
    headline_label: str  # e.g. "Test accuracy"
    headline: float | None  # the headline metric's latest value, None if not recorded
    headline_unit: str  # see core.tools.Headline.unit
    host: str
    device: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, None while running."""
        return None if self.end is None else (self.end - self.start).total_seconds()

    @property
    def headline_text(self) -> str:
        """The headline with its unit, '-' when not recorded."""
        return format_value(self.headline, self.headline_unit)


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One file of a run's artifacts."""

    path: str  # relative to the run's artifact root, "/"-separated
    size: int | None  # bytes; None where the store does not say


@dataclass(frozen=True, kw_only=True)
class RunDetail:
    """Everything recorded for one run."""

    summary: RunSummary
    params: dict[str, str]  # flat, dotted keys
    metrics: dict[str, float]  # latest value of each metric
    history: dict[str, list[tuple[int, float]]]  # metric -> (step, value), metrics with steps
    tables: dict[str, list[dict]]  # name -> rows
    figures: dict[str, str]  # name -> plotly JSON (plotly.io.from_json redraws it)
    artifacts: list[Artifact]  # every file, tables and figures included

    def figure(self, name: str):
        """The stored figure `name` as a plotly Figure."""
        import plotly.io as pio

        return pio.from_json(self.figures[name])
