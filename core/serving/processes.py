"""Child processes that die with the app, and processes known only by their pid.

- `spawn(cmd, ...)`: a `subprocess.Popen` in its own process group, started from one thread
  that lives as long as the process and, on Linux, with a parent-death signal (prctl
  PR_SET_PDEATHSIG, set by a few lines of Python that then exec the command), so a server
  dies with the app even when the app is SIGKILLed.
- `start_ticks(pid)`, `alive(pid, ticks)`, `end_group(pid, ticks, grace_s)`: a process by
  its pid and start time (a pid the OS gave to another process since is not it).

Why a long-lived thread: Linux sends the parent-death signal when the *thread* that forked
the child ends, and Streamlit runs each script run in a short-lived thread; a server started
from there would be killed as soon as the page had drawn.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

# SIGKILL, not SIGTERM: once the app is gone there is nobody to answer, and a graceful
# shutdown waiting for a generation in progress would leave the server holding its memory
DEATH_SIGNAL = signal.SIGKILL
SPAWN_TIMEOUT_S = 60.0  # longest wait for the launcher thread to fork, seconds

# Runs in the child before the command: ask for the death signal, then check the app did
# not die before that (the signal would never come), then become the command.
DEATH_GUARD = """
import ctypes, os, sys
parent, sig = int(sys.argv[1]), int(sys.argv[2])
if sig:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, sig, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # no prctl here: the app's record of the server finds it again
    if os.getppid() != parent:
        sys.exit(1)
os.execvp(sys.argv[3], sys.argv[3:])
"""


def guarded(cmd: list[str], death_signal: int = DEATH_SIGNAL) -> list[str]:
    """`cmd` behind the death guard on Linux (unchanged elsewhere, or with signal 0)."""
    if not sys.platform.startswith("linux") or not death_signal:
        return list(cmd)
    return [sys.executable, "-c", DEATH_GUARD, str(os.getpid()), str(int(death_signal)), *cmd]


_requests: queue.Queue = queue.Queue()
_launcher: threading.Thread | None = None
_launcher_lock = threading.Lock()


def _launch_forever() -> None:
    """The launcher thread: fork what is asked, for as long as the process lives."""
    while True:
        args, kwargs, done = _requests.get()
        try:
            done.set_result(subprocess.Popen(*args, **kwargs))
        except BaseException as err:  # handed to the caller, which raises it
            done.set_exception(err)


def _ensure_launcher() -> None:
    global _launcher
    with _launcher_lock:
        if _launcher is None or not _launcher.is_alive():
            _launcher = threading.Thread(target=_launch_forever, name="launcher", daemon=True)
            _launcher.start()


def spawn(cmd: list[str], death_signal: int = DEATH_SIGNAL, **popen_kwargs) -> subprocess.Popen:
    """Popen(`cmd`) in a new session (its own process group), forked by the launcher thread,
    dying with this process where the OS allows it (see the module docstring)."""
    _ensure_launcher()
    done: Future = Future()
    kwargs = popen_kwargs | {"start_new_session": True}
    _requests.put(((guarded(cmd, death_signal),), kwargs, done))
    return done.result(timeout=SPAWN_TIMEOUT_S)


# ---- processes known by their pid -------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state is [0], start time [19]); None when
    there is no such process or no /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot, Linux), or None where it cannot be read."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def alive(pid: int, ticks: int | None = None) -> bool:
    """True while `pid` runs (not a zombie) and, if `ticks` is given and readable, is the
    process that started then."""
    if pid <= 0:
        return False
    fields = _stat_fields(pid)
    if fields is not None:
        return fields[0] not in ("Z", "X") and (ticks is None or int(fields[19]) == ticks)
    if Path("/proc/self/stat").exists():  # Linux, and no entry for pid: it is gone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pid: int, sig: int) -> None:
    """`sig` to the process group `pid` leads, or to `pid` alone when it leads none."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def end_group(pid: int, ticks: int | None, grace_s: float) -> bool:
    """SIGTERM to `pid`'s group, SIGKILL after `grace_s` seconds; True once it is gone
    (checked every 0.1 s for at most grace_s + 5 s)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if not alive(pid, ticks):
            return True
        _signal(pid, sig)
        end = time.monotonic() + wait_s
        while alive(pid, ticks) and time.monotonic() < end:
            time.sleep(0.1)
    return not alive(pid, ticks)
