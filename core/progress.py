"""The one way a long computation talks to whoever runs it: `Progress`.

Every trainer and long loop takes `progress: Progress = QUIET`. It asks `should_stop()`
once per step, says how far it is with `report(...)` and hands each row worth keeping
(an epoch's losses, a sample) to `log(...)`. A page's job passes its `core.jobs.JobContext`,
a headless job passes one that prints and records, a test passes its own; nobody else
needs to know which.

    def train(data, cfg, progress: Progress = QUIET): ...
    rows = KeepRows(ctx)            # the same progress, and every logged row kept
    train(data, cfg, rows); rows.rows
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """What a long computation may ask and tell its runner."""

    def should_stop(self) -> bool:
        """True once the runner wants the work to end (Stop, a time limit); checked per step."""
        ...

    def report(
        self, progress: float, message: str = "", rate: float | None = None, unit: str = "items"
    ) -> None:
        """Progress in [0, 1], a one-line status and, optionally, a speed in `unit` per second."""
        ...

    def log(self, **row: Any) -> None:
        """One row of results (an epoch, a step with its sample) for curves and the record."""
        ...


class Quiet:
    """Work nobody watches: never stops, reports nowhere."""

    def should_stop(self) -> bool:
        return False

    def report(
        self, progress: float, message: str = "", rate: float | None = None, unit: str = "items"
    ) -> None:
        pass

    def log(self, **row: Any) -> None:
        pass


QUIET = Quiet()


class KeepRows:
    """`inner` as it is, plus every logged row kept in `rows` and handed to `on_row` (a run
    store's live record, a printer), so the caller has the history when the work ends."""

    def __init__(
        self, inner: Progress = QUIET, on_row: Callable[[dict], None] | None = None
    ) -> None:
        self.inner, self.on_row = inner, on_row
        self.rows: list[dict] = []

    def should_stop(self) -> bool:
        return self.inner.should_stop()

    def report(
        self, progress: float, message: str = "", rate: float | None = None, unit: str = "items"
    ) -> None:
        self.inner.report(progress, message, rate, unit)

    def log(self, **row: Any) -> None:
        self.rows.append(row)
        self.inner.log(**row)
        if self.on_row is not None:
            self.on_row(row)
