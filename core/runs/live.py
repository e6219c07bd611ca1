"""Runs that survive their process: a long job's run is in the store from its first step
(`follow`), and a run whose process died is closed (`sweep`) instead of RUNNING forever.

    with runs.follow("cnn", progress, name=..., params=..., step_key="epoch") as followed:
        result = train(data, cfg, followed)   # rows logged live, at most every FLUSH_S
        followed.finish(run_record(result))   # the same run, ended with the whole record

`follow` opens the run RUNNING with its owner (host, pid, the pid's start time: see
`core.runs.owner`) and a heartbeat every `write.HEARTBEAT_S`; a job that raises ends it
FAILED. A store that fails at the start costs nothing: the job runs on and `finish` tries
to record the whole run once more at the end.

`sweep` (app start-up, the Runs page) closes as KILLED, with a note, a RUNNING run whose
owner process is gone from this host, and one of another host (or of an older app without
owner tags) only when its heartbeat is older than STALE_AFTER_S: a team store written by
several machines is never closed by the wrong one. What the run logged stays.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from core.progress import QUIET, KeepRows, Progress
from core.runs import owner, read, store, write
from core.runs.types import Recorded, RunRecord, RunSummary

FLUSH_S = 5.0  # live rows go to the store at most this often (one batch each)
STALE_AFTER_S = 600.0  # a run of another host without a heartbeat this long is closed


class Following(KeepRows):
    """`inner` as it is, plus every logged row kept (`rows`) and sent to the run in the
    store, batched at most every `flush_s` seconds. Use through `follow`."""

    def __init__(
        self,
        tool: str,
        inner: Progress = QUIET,
        *,
        name: str,
        params: dict,
        tags: dict | None = None,
        step_key: str = "step",
        flush_s: float | None = None,
    ) -> None:
        super().__init__(inner, on_row=self._queue)
        self.tool, self.step_key = tool, step_key
        self.flush_s = FLUSH_S if flush_s is None else flush_s
        self.logged: set[int] = set()  # steps already in the store
        self._pending: list[dict] = []
        self._flushed = time.monotonic()
        self.reason = ""  # why the store does not follow the job ("" while it does)
        self.recorded: Recorded | None = None
        job_id = getattr(inner, "job_id", None)
        tags = dict(tags or {}) | ({owner.JOB_ID: job_id} if job_id else {})
        try:
            self.live = write.start(tool, name=name, params=params, tags=tags)
            self.live.keep_alive()
        except Exception as err:  # the store is down: the job runs on, recorded at the end
            self.live, self.reason = None, str(err)

    @property
    def run_id(self) -> str | None:
        return self.live.id if self.live is not None else None

    def log(self, **row: Any) -> None:
        row.setdefault(self.step_key, len(self.rows))
        super().log(**row)  # kept, passed on, then queued for the store by _queue

    def _queue(self, row: dict) -> None:
        self._pending.append(row)
        if time.monotonic() - self._flushed >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        """Send the rows not yet in the store (a failing store: they wait for `finish`)."""
        self._flushed = time.monotonic()
        if self.live is None or not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            self.live.log_history(rows, self.step_key)
        except Exception as err:
            self.reason = str(err)
            return
        self.logged.update(r[self.step_key] for r in rows)

    def finish(self, run: RunRecord) -> Recorded:
        """End the run with the whole `run` (or record it whole if the store was down at
        the start); the run id, or why it could not be recorded."""
        if self.live is None:
            self.recorded = write.try_record(self.tool, run)
            return self.recorded
        self.flush()
        try:
            self.recorded = Recorded(run_id=self.live.complete(run, self.logged))
        except Exception as err:
            self.fail(err)
            self.recorded = Recorded(reason=str(err) or type(err).__name__)
        return self.recorded

    def fail(self, err: BaseException) -> None:
        """End the run FAILED, with the error as its note (what was logged stays)."""
        if self.live is None or self.live.finished:
            return
        self.flush()
        note = f"Failed: {type(err).__name__}: {err}"[: write.PARAM_VALUE_CHARS]
        with contextlib.suppress(Exception):
            self.live.finish("FAILED", tags={owner.NOTE: note})

    def discard(self) -> None:
        """Delete the run: the job ended with nothing worth keeping."""
        if self.live is not None and not self.live.finished:
            with contextlib.suppress(Exception):
                self.live.finish("KILLED")
                read.delete_run(self.live.id)

    def __enter__(self) -> Following:
        return self

    def __exit__(self, kind, err, tb) -> None:
        if err is not None:
            self.fail(err)


def follow(tool: str, inner: Progress = QUIET, **options: Any) -> Following:
    """A `Following` of `tool`'s job (see the module's docstring)."""
    return Following(tool, inner, **options)


# ---- runs whose process is gone -----------------------------------------------------


def _last_seen(run: RunSummary) -> float:
    """Epoch seconds of the run's latest sign of life: its heartbeat, else its start."""
    try:
        return float(run.tags.get(owner.HEARTBEAT) or 0) or run.start.timestamp()
    except ValueError:
        return run.start.timestamp()


def stale(run: RunSummary, now: float, stale_after_s: float = STALE_AFTER_S) -> bool:
    """True for a RUNNING run nobody writes any more (see the module's docstring)."""
    if run.status != "RUNNING":
        return False
    alive = owner.alive(run.tags)
    if alive is not None:
        return not alive
    return now - _last_seen(run) > stale_after_s


def sweep(now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Close every stale RUNNING run as KILLED with a note; the ids closed."""
    now = time.time() if now is None else now
    closed = []
    for run in read.list_runs(status="RUNNING"):
        if not stale(run, now, stale_after_s):
            continue
        seen = _last_seen(run)
        note = (
            f"This run ended with its process at {owner.when(seen)} (its last sign of life); "
            f"closed by the app on {owner.host()} at {owner.when(now)}."
        )
        with contextlib.suppress(store.StoreError):  # closed by another sweep meanwhile
            write.close(run.id, "KILLED", end_s=seen, tags={owner.NOTE: note})
            closed.append(run.id)
    return closed


def try_sweep() -> list[str]:
    """`sweep`, or [] when the store cannot be read or written (a read-only store)."""
    try:
        return sweep()
    except store.StoreError:
        return []


def run_of_job(job_id: str) -> RunSummary | None:
    """The run in the store that the app's job `job_id` wrote, if any."""
    found = [r for r in read.list_runs(limit=200) if r.tags.get(owner.JOB_ID) == job_id]
    return found[0] if found else None
