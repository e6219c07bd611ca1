"""Rank 0's line into the run store (`core.runs`): the `Recorder`, which reports a failing
store once and lets the job go on unrecorded; `open_run`, which starts the job's run (or
takes it up again after a restart) with the job's params and tags; and the progress rank 0
hands its trainer (`store_progress`): each logged row into the store as it happens, progress
printed every few seconds.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.progress import QUIET, KeepRows, Progress, Quiet
from core.train.spec import RUN_ID_FILE, RunSpec, to_dict

if TYPE_CHECKING:
    from core.distributed import World
    from core.train.checkpoints import JobHooks


class Terminated(Exception):
    """SIGTERM (Stop in the page, or torchrun ending the group)."""


class Recorder:
    """Rank 0's line into the run store; a store that fails is reported once and the job
    goes on unrecorded (issue 11's rule)."""

    def __init__(self) -> None:
        self.live = None  # the store's LiveRun, once open
        self.error = ""  # the store's first failure; nothing is recorded after it
        self.stopped = False  # SIGTERM arrived: a failure after it is the stop, not a bug

    def _guard(self, action: Callable, *args, **kwargs) -> Any:
        from core import runs

        if self.error:
            return None
        try:
            return action(*args, **kwargs)
        except runs.StoreError as err:
            if self.stopped:  # Stop landed inside a write: stop, and still record KILLED
                raise Terminated from err
            self.error = str(err)
            print(f"Not recorded: {err}", file=sys.stderr, flush=True)
            return None

    def open(self, tool: str, name: str, params: dict, tags: dict, run_id: str | None) -> None:
        """Start the run, or take up `run_id` again after a restart."""
        from core import runs

        if run_id:  # restarts, device... tagged again
            self.live = self._guard(runs.reopen, tool, run_id, tags)
        if self.live is None and not self.error:
            self.live = self._guard(runs.start, tool, name=name, params=params, tags=tags)
        if self.live is not None:  # a heartbeat: a job whose process died is closed by a sweep
            self.live.keep_alive()

    @property
    def run_id(self) -> str | None:
        """The store's id of the run, once open."""
        return self.live.id if self.live is not None else None

    def log(self, step: int, **metrics: float) -> None:
        """Record `metrics` at `step` (an epoch or a training step)."""
        if self.live is not None:
            self._guard(self.live.log, step, **metrics)

    def tag(self, **tags: Any) -> None:
        """Add or replace tags of the run."""
        if self.live is not None:
            self._guard(self.live.tag, **tags)

    def finish(self, status: str, **results: Any) -> None:
        """End the run with `status` and the final results (see `runs.LiveRun.finish`)."""
        if self.live is not None and not self.live.finished:
            self._guard(self.live.finish, status, **results)


class PrintedProgress(Quiet):
    """Progress printed to stdout at most every `every_s` seconds. It never asks to stop:
    a headless job is stopped by SIGTERM (see `core.train.cli`)."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s, self.last = every_s, 0.0

    def report(
        self, progress: float, message: str = "", rate: float | None = None, unit: str = "items"
    ) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            print(f"{progress:6.1%} {message}", flush=True)


def store_progress(recorder: Recorder, step_key: str, every_s: float = 5.0) -> KeepRows:
    """Rank 0's progress: each logged row recorded at its `step_key` as it happens and
    printed, progress printed every `every_s` seconds, the rows kept for the final record."""

    def on_row(row: dict) -> None:
        numbers = {k: v for k, v in row.items() if k != step_key}
        recorder.log(int(row[step_key]), **numbers)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in numbers.items() if isinstance(v, float))
        print(f"{step_key} {row[step_key]}: {shown}", flush=True)

    return KeepRows(PrintedProgress(every_s), on_row)


def _is_torchrun(part: str) -> bool:
    return Path(part).name == "torchrun" or part == "torch.distributed.run"


def exact_command() -> str:
    """The command line that started this job: torchrun's own when it launched us."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        try:
            raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
            parts = [p.decode() for p in raw.split(b"\0") if p]
            start = next(i for i, p in enumerate(parts) if _is_torchrun(p))
            return shlex.join(["torchrun", *parts[start + 1 :]])
        except (OSError, StopIteration, UnicodeDecodeError):
            pass
    return shlex.join([Path(sys.executable).name, "-m", "core.train", *sys.argv[1:]])


def run_params(spec: RunSpec, world: World, per_rank_batch: int) -> dict:
    """What the store keeps about a headless run beside the trainer's own params."""
    return {
        "run_json": to_dict(spec),
        "world_size": world.world_size,
        "per_rank_batch": per_rank_batch,
        "effective_batch": per_rank_batch * world.world_size,
        "device": world.device,
        "backend": world.backend if world.world_size > 1 else "none",
        "host": socket.gethostname(),
        "command": exact_command(),
        "max_restarts": int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")),
    }


def run_tags(world: World) -> dict:
    """The job's tags: device, world size, launcher and how often torchrun restarted it."""
    return {
        "device": world.device,
        "world_size": world.world_size,
        "launcher": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else "python",
        "restarts": os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"),
    }


def open_run(
    spec: RunSpec,
    hooks: JobHooks,
    recorder: Recorder,
    *,
    params: dict,
    per_rank_batch: int,
    step_key: str,
) -> Progress:
    """Open the job's run on rank 0 with the kind's `params` and the job's own, or take it
    up again after a restart; the progress this rank hands its trainer (rank 0's is a
    `store_progress`, whose `rows` are every row logged)."""
    # every rank takes part: rank 0's checkpoint is broadcast
    checkpoint = hooks.read()
    if not hooks.is_main:
        return QUIET
    # a restarted job goes on with the run its checkpoint names
    all_params = params | run_params(spec, hooks.world, per_rank_batch)
    run_id = checkpoint and checkpoint.get("run_id")
    recorder.open(spec.kind, spec.name, all_params, run_tags(hooks.world), run_id)
    # later checkpoints carry the run's id, and a page following the job finds it here
    hooks.run_id = recorder.run_id
    if recorder.run_id:
        hooks.folder.mkdir(parents=True, exist_ok=True)
        (hooks.folder / RUN_ID_FILE).write_text(recorder.run_id)
    return store_progress(recorder, step_key)
