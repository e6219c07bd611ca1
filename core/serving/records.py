"""What the app writes about each server it starts, so a restarted app finds it again: one
JSON file per server, HOME/servers/serve-PORT.json, beside its log serve-PORT.log.

    records.save(folder, record); records.load_all(folder); records.remove(folder, port)

A record names the server's process (pid and start time, so a reused pid is not taken for
it) and the app process that owns it (the same two), on this host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class ServerRecord:
    """One managed server as written to disk."""

    model: str  # the folder (or cached hub id) it serves
    port: int  # on 127.0.0.1
    pid: int  # the server's process (leader of its own process group)
    pid_ticks: int | None  # its start time (Linux clock ticks since boot), None elsewhere
    started_at: float  # time.time() when it was started
    window: int | None  # tokens the model attends to (its config), None when unknown
    log_path: str  # its stdout and stderr
    command: list[str]  # what was run
    owner_pid: int  # the app process that started (or took over) the server
    owner_ticks: int | None  # that process's start time
    host: str = dataclasses.field(default_factory=socket.gethostname)  # where both run


def path_for(folder: Path, port: int) -> Path:
    """The record file of the server on `port`."""
    return folder / f"serve-{port}.json"


def save(folder: Path, record: ServerRecord) -> Path:
    """Write `record` (atomically: a reader never sees half of it); OSError when the folder
    cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = path_for(folder, record.port)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(record), indent=1))
    os.replace(tmp, target)
    return target


def try_save(folder: Path, record: ServerRecord) -> bool:
    """`save`, False instead of OSError: a server whose record cannot be written still runs;
    only finding it again after a restart is lost."""
    try:
        save(folder, record)
    except OSError:
        return False
    return True


def _parse(path: Path) -> ServerRecord | None:
    try:
        raw = json.loads(path.read_text())
        return ServerRecord(**raw) if isinstance(raw, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def load_all(folder: Path) -> list[ServerRecord]:
    """Every readable record of this host under `folder` (other hosts' are left alone: a home
    folder on a shared disk is not proof that their processes are gone)."""
    here = socket.gethostname()
    found = (_parse(p) for p in sorted(folder.glob("serve-*.json")))
    return [r for r in found if r is not None and r.host == here]


def remove(folder: Path, port: int) -> None:
    """Delete the record of the server on `port` (nothing if there is none or it cannot be)."""
    with contextlib.suppress(OSError):
        path_for(folder, port).unlink(missing_ok=True)
