"""Long work off the page's thread: a worker with a stop Event, progress and a metrics
buffer that the page polls and draws.

The worker makes no Streamlit calls. It receives a `JobContext` and checks
`ctx.should_stop()` every step; what it returns (also when stopped early) becomes
`job.result`, so a stopped run keeps what it finished. An exception in the worker is kept
as `job.error` for the page to show, never a hung page.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JobContext:
    """What the worker sees: the stop flag and the ways to report."""

    _job: Job

    def should_stop(self) -> bool:
        """True once someone pressed Stop."""
        return self._job._stop.is_set()

    def report(self, progress: float, message: str = "") -> None:
        """Progress in [0, 1] and a one-line status."""
        with self._job._lock:
            self._job._progress = min(max(progress, 0.0), 1.0)
            self._job._message = message

    def log(self, **metrics: Any) -> None:
        """Append one row to the metrics buffer."""
        with self._job._lock:
            self._job._metrics.append(metrics)


@dataclass
class Job:
    """A background worker running `target(ctx)`."""

    target: Callable[[JobContext], Any]
    name: str = "job"
    result: Any = None
    error: str | None = None  # the exception's one-line message, if the worker failed
    details: str | None = None  # its traceback, for an expander
    meta: dict = field(default_factory=dict)  # what the page keeps with the job (its inputs)
    started_at: float = 0.0
    finished_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _progress: float = 0.0
    _message: str = ""
    _metrics: list[dict] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self) -> Job:
        """Start the worker thread; returns self."""
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self.target(JobContext(self))
        except Exception as err:  # shown in the page, never raised into Streamlit
            self.error = f"{type(err).__name__}: {err}"
            self.details = traceback.format_exc()
        finally:
            self.finished_at = time.monotonic()

    def stop(self) -> None:
        """Ask the worker to stop at its next check."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (or `timeout` s); True if it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def status(self) -> str:
        """'running', 'failed', 'stopped' or 'done'."""
        if self.running:
            return "running"
        if self.error:
            return "failed"
        return "stopped" if self._stop.is_set() else "done"

    @property
    def progress(self) -> float:
        with self._lock:
            return self._progress

    @property
    def message(self) -> str:
        with self._lock:
            return self._message

    def metrics(self) -> list[dict]:
        """A snapshot of the rows logged so far."""
        with self._lock:
            return list(self._metrics)

    @property
    def elapsed(self) -> float:
        """Seconds since start (until the end, once finished)."""
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from progress so far; None before any progress."""
        p = self.progress
        if not self.running or p <= 0:
            return None
        return self.elapsed * (1 - p) / p
