"""Long work owned by the server process, not by a browser tab: jobs with a stop Event,
progress and a metrics buffer the page polls, found again by id after a refresh, admitted
through one queue per device, and stopped when they run past a time limit.

The worker makes no Streamlit calls. It receives a `JobContext` and checks
`ctx.should_stop()` every step; what it returns (also when stopped early) becomes
`job.result`, so a stopped run keeps what it finished. An exception in the worker is kept,
with its type, as `job.error` for the page to show, never a hung page.

    job = jobs.submit(train, "train cnn", tool="cnn", device="cpu")  # queued or running
    jobs.get(job.id)        # the same job from any session, e.g. after a page refresh
    jobs.active("cnn")      # queued and running jobs, oldest first

Chat replies on a local model queue in their own lane per device (`reply_lane`), so a
reply waits for other replies, in order and with its place shown, but never for an
hour-long training in the device's job lane.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import device as dev

# jobs running at once per lane; replies_<device>: local chat replies on that device
DEFAULT_SLOTS = {
    "cpu": 1,
    "mps": 1,
    "cuda": 2,
    "network": 2,
    "replies_cpu": 1,
    "replies_mps": 1,
    "replies_cuda": 4,
}
DEFAULT_TIME_LIMIT_S = 3600.0  # a job running longer is stopped with a message
KEEP_ENDED = 50  # finished jobs kept in memory for pages to find again


class JobRefused(Exception):
    """A job the queue will not take (e.g. this session already runs one for the tool)."""


@dataclass
class JobContext:
    """What the worker sees: the stop flag and the ways to report."""

    _job: Job

    @property
    def job_id(self) -> str:
        """The job's id (a run in the store is tagged with it: `core.runs.JOB_ID`)."""
        return self._job.id

    def should_stop(self) -> bool:
        """True once someone pressed Stop (or the time limit passed)."""
        return self._job._stop.is_set()

    def report(
        self, progress: float, message: str = "", rate: float | None = None, unit: str = "items"
    ) -> None:
        """Progress in [0, 1], a one-line status and, optionally, a speed in `unit` per second."""
        with self._job._lock:
            self._job._progress = min(max(progress, 0.0), 1.0)
            self._job._message = message
            if rate is not None:
                self._job._rate = (rate, unit)

    def log(self, **metrics: Any) -> None:
        """Append one row to the metrics buffer."""
        with self._job._lock:
            self._job._metrics.append(metrics)


@dataclass(kw_only=True)
class Job:
    """A background worker running `target(ctx)`; start it with `submit` (queued) or `start`."""

    target: Callable[[JobContext], Any]
    name: str = "job"
    tool: str = ""  # which tool started it ("cnn", "gpt2", "optimizers", ...)
    device: str = "cpu"  # the queue lane: "cpu", "cuda", "mps" or "network"
    owner: str | None = None  # the session or user that started it
    meta: dict = field(default_factory=dict)  # what the page keeps with the job (its inputs)
    time_limit_s: float | None = None  # stopped with a message once it runs this long
    keep: bool = True  # found by id after it ends (False: a chat reply, forgotten at once)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    result: Any = None
    error: BaseException | None = None  # the worker's exception, type kept
    details: str | None = None  # its traceback, for an expander
    stop_reason: str | None = None  # why it was stopped, when not by a person
    created_at: float = field(default_factory=time.time)  # wall clock, for listings
    started_at: float | None = None  # monotonic seconds
    finished_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _progress: float = 0.0
    _message: str = ""
    _rate: tuple[float, str] | None = None
    _metrics: list[dict] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _on_end: Callable[[Job], None] | None = None

    def start(self) -> Job:
        """Start the worker thread now, outside any queue; returns self."""
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if self.time_limit_s:
            timer = threading.Timer(self.time_limit_s, self._time_out)
            timer.daemon = True
            timer.start()
        return self

    def _run(self) -> None:
        try:
            dev.own_threads()
            self.result = self.target(JobContext(self))
        except Exception as err:  # shown in the page, never raised into Streamlit
            self.error = err
            self.details = traceback.format_exc()
        finally:
            self.finished_at = time.monotonic()
            if self._on_end is not None:
                self._on_end(self)

    def _time_out(self) -> None:
        if self.running:
            self.stop_reason = f"Stopped at the time limit of {self.time_limit_s:,.0f} s."
            self._stop.set()

    def stop(self) -> None:
        """Ask the worker to stop at its next check; a queued job leaves its queue."""
        self._stop.set()
        _queue.cancel_waiting(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (or `timeout` s); True if it has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._thread is None and not self._stop.is_set():  # still queued
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        if self._thread is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._thread.join(left)
        return not self.active

    @property
    def stop_requested(self) -> bool:
        """Stop was pressed, or the time limit passed (the worker may still be ending)."""
        return self._stop.is_set()

    @property
    def queued(self) -> bool:
        return self._thread is None and not self._stop.is_set()

    @property
    def running(self) -> bool:
        """Started and not yet ended (also in the moment between start() and the thread's
        first step, when the thread is not yet alive)."""
        return self._thread is not None and self.finished_at is None

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.queued or self.running

    @property
    def status(self) -> str:
        """'queued', 'running', 'failed', 'stopped' or 'done'."""
        if self.queued:
            return "queued"
        if self.running:
            return "running"
        if self.error is not None:
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

    @property
    def rate(self) -> tuple[float, str] | None:
        """The latest reported speed as (value per second, unit), or None."""
        with self._lock:
            return self._rate

    def metrics(self) -> list[dict]:
        """A snapshot of the rows logged so far."""
        with self._lock:
            return list(self._metrics)

    @property
    def elapsed(self) -> float:
        """Seconds since start (until the end, once finished); 0 while queued."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from progress so far; None before any progress."""
        p = self.progress
        if not self.running or p <= 0:
            return None
        return self.elapsed * (1 - p) / p

    @property
    def position(self) -> int | None:
        """1 for the next job to start in its lane; None unless queued."""
        return _queue.position(self)


def slots(lane: str) -> int:
    """Jobs that may run at once in `lane`: $DASHBOARD_SLOTS_<LANE> or the default."""
    raw = os.environ.get(f"DASHBOARD_SLOTS_{lane.upper()}", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_SLOTS.get(lane, 1)
    except ValueError:
        return DEFAULT_SLOTS.get(lane, 1)


def time_limit() -> float:
    """Seconds a job may run: $DASHBOARD_JOB_TIME_LIMIT_S or one hour."""
    try:
        return float(os.environ.get("DASHBOARD_JOB_TIME_LIMIT_S", DEFAULT_TIME_LIMIT_S))
    except ValueError:
        return DEFAULT_TIME_LIMIT_S


class _Queue:
    """One admission queue per lane: at most `slots(lane)` jobs run, the rest wait in order."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._waiting: dict[str, deque[Job]] = {}
        self._running: dict[str, set[str]] = {}
        self._jobs: dict[str, Job] = {}  # every known job by id, insertion order
        self._order = itertools.count()

    def submit(self, job: Job) -> Job:
        with self._lock:
            clash = [
                j
                for j in self._jobs.values()
                if j.active and job.owner and j.owner == job.owner and j.tool == job.tool
            ]
            if clash:
                raise JobRefused(
                    f"This session already has a {clash[0].name} job {clash[0].status}; "
                    "stop it first (one job per tool per session)."
                )
            self._jobs[job.id] = job
            job._on_end = self._ended
            self._waiting.setdefault(job.device, deque()).append(job)
            self._forget_old()
            self._pump(job.device)
        return job

    def _pump(self, lane: str) -> None:
        waiting = self._waiting.get(lane, deque())
        running = self._running.setdefault(lane, set())
        while waiting and len(running) < slots(lane):
            job = waiting.popleft()
            if job._stop.is_set():  # cancelled while waiting
                job.finished_at = time.monotonic()
                continue
            running.add(job.id)
            job.start()

    def _ended(self, job: Job) -> None:
        with self._lock:
            self._running.get(job.device, set()).discard(job.id)
            if not job.keep:
                self._jobs.pop(job.id, None)
            self._pump(job.device)

    def cancel_waiting(self, job: Job) -> None:
        with self._lock:
            lane = self._waiting.get(job.device, deque())
            if job in lane:
                lane.remove(job)
                job.finished_at = time.monotonic()
                if not job.keep:
                    self._jobs.pop(job.id, None)

    def position(self, job: Job) -> int | None:
        with self._lock:
            lane = self._waiting.get(job.device, deque())
            return lane.index(job) + 1 if job in lane else None

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def _forget_old(self) -> None:
        ended = [j for j in self._jobs.values() if not j.active]
        for job in ended[: max(0, len(ended) - KEEP_ENDED)]:
            del self._jobs[job.id]


_queue = _Queue()


def submit(
    target: Callable[[JobContext], Any],
    name: str,
    *,
    tool: str,
    device: str = "cpu",
    owner: str | None = None,
    meta: dict | None = None,
    time_limit_s: float | None = None,
    keep: bool = True,
) -> Job:
    """Queue `target(ctx)` in the lane of `device`; it starts when a slot is free. `keep`
    False: the job is forgotten as soon as it ends (a chat reply), so it never pushes a
    training out of the jobs that pages find again by id.

    Raises JobRefused when `owner` already has an active job for `tool`.
    """
    job = Job(
        target=target,
        name=name,
        tool=tool,
        device=device,
        owner=owner,
        meta=meta or {},
        time_limit_s=time_limit() if time_limit_s is None else time_limit_s,
        keep=keep,
    )
    return _queue.submit(job)


def reply_lane(device: str) -> str:
    """The queue lane of chat replies on `device` ('replies_cpu', ...)."""
    return f"replies_{device}"


def get(job_id: str) -> Job | None:
    """The job with this id, if this process still knows it."""
    return _queue.get(job_id)


def active(tool: str | None = None) -> list[Job]:
    """Queued and running jobs (of `tool`, if given), oldest first."""
    return [j for j in _queue.all() if j.active and (tool is None or j.tool == tool)]


def describe(error: BaseException) -> str:
    """A user-facing line for a worker's exception: the message alone for the errors the app
    raises on purpose (bad input, data, loading), the type and message otherwise."""
    if isinstance(error, ValueError | OSError | MemoryError) or type(error).__module__.startswith(
        "core."
    ):
        return str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}"
