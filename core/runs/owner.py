"""Who owns a run while it is RUNNING: the host, the process id and that process's start
time (a pid is reused, a pid with its start time is not), plus a heartbeat the owner
refreshes. Light on purpose (no MLflow): `core.runs.write` tags every run with it and
`core.runs.live` reads it back to tell a live owner from a dead one.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import time

OWNER_HOST = "owner.host"  # the machine whose process writes the run
OWNER_PID = "owner.pid"  # that process's id
OWNER_STARTED = "owner.started"  # that process's start, epoch seconds
HEARTBEAT = "owner.heartbeat"  # the owner's latest sign of life, epoch seconds
NOTE = "note"  # a sentence about the run for people (why the app closed it)
JOB_ID = "job_id"  # the app's core.jobs id of the job that runs it
SAME_START_S = 2.0  # start times within this are the same process (/proc counts in ticks)


def host() -> str:
    return socket.gethostname()


@functools.cache
def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), None when no such process runs here."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return psutil.Process(pid).create_time()
        except (psutil.Error, ValueError, OverflowError):
            return None
    try:
        with open(f"/proc/{int(pid)}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        boot = _boot_time()
        return None if boot is None else boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def owner_tags() -> dict[str, str]:
    """This process as a run's owner, with a heartbeat of now."""
    started = process_started(os.getpid()) or time.time()
    return {
        OWNER_HOST: host(),
        OWNER_PID: str(os.getpid()),
        OWNER_STARTED: f"{started:.3f}",
        HEARTBEAT: f"{time.time():.3f}",
    }


def alive(tags: dict[str, str]) -> bool | None:
    """Whether the owner in `tags` still runs: True or False on this host, None when it
    cannot be told here (another host, or a run recorded before owners were tagged)."""
    if tags.get(OWNER_HOST) != host() or not tags.get(OWNER_PID):
        return None
    try:
        pid, started = int(tags[OWNER_PID]), float(tags.get(OWNER_STARTED) or 0)
    except ValueError:
        return None
    now_started = process_started(pid)
    if now_started is None:
        return False
    return not started or abs(now_started - started) <= SAME_START_S


def when(seconds: float) -> str:
    """Epoch seconds as '2026-12-04 00:51:02 UTC'."""
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
