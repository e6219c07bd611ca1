"""What crosses the run store's boundary, each defined once: the record a tool hands in
(`RunRecord`) and what came of handing it in (`Recorded`).

Light on purpose (no MLflow): every tool builds its `RunRecord` with its own
`run_record(...)`, in the page's process and under torchrun alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
