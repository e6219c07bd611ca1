"""`transformers serve` as managed subprocesses: one per model, on 127.0.0.1 and a free
port, offline, with continuous batching; health (ready, starting, failed, exited), the
model's window, last log lines, stop and restart. Plus the `vllm serve` commands for a GPU
box.

The servers belong to the app. Each has a record under HOME/servers (`core.serving.records`),
so another or a restarted app process finds a live one again (`get`, `running`: healthy on
its port, stoppable) and deletes a dead one's record. A server dies with the app: at a
normal exit (atexit) and, on Linux, by a parent-death signal also when the app is SIGKILLed
(`core.serving.processes`). A server found again whose app is gone is taken over (stopped
when this process exits); one whose app still runs is shown and can be stopped, but is left
to that app at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core import paths
from core.serving import processes, records
from core.serving.records import ServerRecord

HOST = "127.0.0.1"  # managed servers never listen beyond this machine
STOP_GRACE_S = 10.0  # seconds between SIGTERM and SIGKILL
# a failed server has nothing to finish (one with a dead worker took 2.4 s to end on SIGTERM)
RESTART_GRACE_S = 3.0
LOG_LINES = 20
# share of the free memory (after loading the model) the continuous-batching KV cache takes;
# the server's own default (0.6-0.9) took 14 GB of this 24 GB machine's RAM on a CPU
KV_CACHE_SHARE = 0.1
START_TIMEOUT_S = 300.0  # a server not healthy this long after its start has failed, seconds
# a healthy server whose /health times out (busy generating on a small CPU) still counts as
# ready for this long after its last good answer, seconds
UNRESPONSIVE_S = 20.0
DEATH_SIGNAL = processes.DEATH_SIGNAL  # what a server gets when the app dies (0: nothing)
# config.json fields that give the tokens a model attends to, in the order they are trusted
WINDOW_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length", "max_seq_len")


class ServeError(RuntimeError):
    """A server that could not be started, with a message a user can act on."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """True when a server could listen on `port` of 127.0.0.1 now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def servers_dir() -> Path:
    """Servers' logs and records (and an empty hub cache for /v1/models): HOME/servers."""
    return paths.home() / "servers"


def _config_file(model: str) -> Path | None:
    """config.json of a saved folder, or of a hub id in the local cache (never downloaded)."""
    if Path(model).is_dir():
        return Path(model) / "config.json"
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model, "config.json")
    except Exception:  # not a repo id, no cache: the window is unknown
        return None
    return Path(found) if isinstance(found, str) else None


def model_window(model: str) -> int | None:
    """Tokens `model` attends to, from its config.json (a multimodal model's text part
    too); None when it cannot be read."""
    path = _config_file(model)
    try:
        config = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        return None
    for part in (config, config.get("text_config") or {}) if isinstance(config, dict) else ():
        for field in WINDOW_FIELDS:
            value = part.get(field) if isinstance(part, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _reason(body: str) -> str:
    """A /health body in words: transformers serve's {"status": ..., "reason": ...} or the
    text itself."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(parsed, dict):
        return str(parsed.get("reason") or parsed.get("status") or parsed)
    return body.strip()


@dataclass(kw_only=True)
class ManagedServer:
    """One `transformers serve` process, started here or found again from its record."""

    model: str  # the folder (or cached hub id) it serves, as requests must name it
    port: int
    pid: int
    pid_ticks: int | None  # the process's start time (a reused pid is not this server)
    log_path: Path
    command: list[str]
    started_at: float  # time.time()
    window: int | None  # tokens the model attends to (its config); None when unknown
    process: subprocess.Popen | None = None  # None for a server found again by its record
    owned: bool = True  # stopped when this process exits (False: another running app's)
    last_ok: float | None = None  # time.monotonic() of the last healthy answer

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def found_again(self) -> bool:
        """True for a server another (or an earlier) app process started."""
        return self.process is None

    @property
    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return processes.alive(self.pid, self.pid_ticks)

    def probe(self, timeout: float = 1.0) -> tuple[int | None, str]:
        """(HTTP status of GET /health, its body or why nothing answered); None: no answer."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=timeout) as r:
                return r.status, ""
        except urllib.error.HTTPError as err:
            return err.code, _reason(err.read(300).decode(errors="replace"))
        except (OSError, ValueError) as err:
            return None, str(getattr(err, "reason", err))

    def healthy(self, timeout: float = 1.0) -> bool:
        """True when GET /health answers 200."""
        return self.alive and self.status(timeout) == "ready"

    def status(self, timeout: float = 1.0) -> str:
        """'ready', 'starting', 'failed: why' (alive but unhealthy) or 'exited (...)'."""
        if not self.alive:
            code = self.process.returncode if self.process is not None else None
            return "exited" if code is None else f"exited (code {code})"
        code, why = self.probe(timeout)
        now = time.monotonic()
        if code == 200:
            self.last_ok = now
            return "ready"
        if code is not None:
            return f"failed: /health answered {code}" + (f" ({why})" if why else "")
        if self.last_ok is not None and "timed out" in why and now - self.last_ok < UNRESPONSIVE_S:
            return "ready"  # busy: it answered a moment ago
        if self.last_ok is not None:
            return f"failed: /health stopped answering ({why})"
        if time.time() - self.started_at > START_TIMEOUT_S:
            return f"failed: not healthy {START_TIMEOUT_S:.0f} s after its start ({why})"
        return "starting"

    def log_tail(self, lines: int = LOG_LINES) -> list[str]:
        """The last lines of the server's log (stdout and stderr together)."""
        try:
            with self.log_path.open(errors="replace") as f:
                return [line.rstrip("\n") for line in deque(f, maxlen=lines)]
        except OSError:
            return []

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM to its process group, then SIGKILL after `grace_s` seconds."""
        if self.alive:
            processes.end_group(self.pid, self.pid_ticks, grace_s)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)  # reap it

    def record(self) -> ServerRecord:
        """What is written to disk about this server, this process as its owner."""
        return ServerRecord(
            model=self.model, port=self.port, pid=self.pid, pid_ticks=self.pid_ticks,
            started_at=self.started_at, window=self.window, log_path=str(self.log_path),
            command=self.command, owner_pid=os.getpid(),
            owner_ticks=processes.start_ticks(os.getpid()),
        )  # fmt: skip


_SERVERS: dict[str, ManagedServer] = {}
_LOCK = threading.RLock()


def serve_command(model: str, port: int, continuous_batching: bool = True) -> list[str]:
    """The `transformers serve` command line, run with this Python."""
    batching = ["--continuous-batching", "--cb-max-memory-percent", str(KV_CACHE_SHARE)]
    return [sys.executable, "-m", "transformers.cli.transformers", "serve", model]  + [
        "--host", HOST, "--port", str(port), "--log-level", "info"
    ] + (batching if continuous_batching else ["--no-continuous-batching"])  # fmt: skip


def _env(model: str) -> dict[str, str]:
    """Offline; an empty hub cache where none exists, so /v1/models lists instead of failing."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    default_cache = Path(
        os.environ.get("HF_HUB_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    )
    if Path(model).is_dir() and not default_cache.is_dir():
        empty = servers_dir() / "empty-hub-cache"
        empty.mkdir(parents=True, exist_ok=True)
        env["HF_HUB_CACHE"] = str(empty)
    return env


def _check_model(model: str) -> None:
    folder = Path(model)
    if (folder.is_absolute() or folder.exists()) and not (folder / "config.json").is_file():
        raise ValueError(f"{model} is not a saved model folder (no config.json in it).")


def _adopt(rec: ServerRecord, folder: Path) -> ManagedServer:
    """A live server from its record; taken over when the app that owned it is gone."""
    mine = rec.owner_pid == os.getpid()
    owner_gone = not mine and not processes.alive(rec.owner_pid, rec.owner_ticks)
    server = ManagedServer(
        model=rec.model, port=rec.port, pid=rec.pid, pid_ticks=rec.pid_ticks,
        log_path=Path(rec.log_path), command=rec.command, started_at=rec.started_at,
        window=rec.window, owned=mine or owner_gone,
    )  # fmt: skip
    if owner_gone:
        records.try_save(folder, server.record())  # read-only: still ours in this process
    return server


def _sync() -> None:
    """Bring the registry in line with the records on disk (call under _LOCK): live servers
    of other processes join it, dead ones' records go."""
    folder = servers_dir()
    for rec in records.load_all(folder):
        known = _SERVERS.get(rec.model)
        if known is not None and known.pid == rec.pid:
            if not known.alive:
                records.remove(folder, rec.port)
        elif not processes.alive(rec.pid, rec.pid_ticks):
            records.remove(folder, rec.port)  # its app died and took it along
        elif known is None or not known.alive:
            _SERVERS[rec.model] = _adopt(rec, folder)


def _launch(model: str, port: int, continuous_batching: bool) -> ManagedServer:
    """Start the process, its log and its record (call under _LOCK)."""
    folder = servers_dir()
    log_path = folder / f"serve-{port}.log"
    cmd = serve_command(model, port, continuous_batching)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        env = _env(model)
        log = log_path.open("w")
    except OSError as err:
        raise ServeError(
            f"its log and record go to {folder}, which this app cannot write "
            f"({err.strerror or err}). Give the app a writable home folder "
            "(DASHBOARD_HOME) and try again."
        ) from None
    with log:
        proc = processes.spawn(
            cmd, DEATH_SIGNAL, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    server = ManagedServer(
        model=model, port=port, pid=proc.pid, pid_ticks=processes.start_ticks(proc.pid),
        log_path=log_path, command=cmd, started_at=time.time(), window=model_window(model),
        process=proc,
    )  # fmt: skip
    records.try_save(folder, server.record())
    return server


def start(model: str, port: int | None = None, continuous_batching: bool = True) -> ManagedServer:
    """Start serving `model` (a save_pretrained folder or a cached hub id), or return the
    server already running for it (started here or by another app process). ValueError for
    a folder that holds no model, ServeError when the home folder cannot be written."""
    _check_model(model)
    with _LOCK:
        _sync()
        running = _SERVERS.get(model)
        if running is not None and running.alive:
            return running
        server = _launch(model, port or free_port(), continuous_batching)
        _SERVERS[model] = server
        return server


def restart(model: str) -> ManagedServer:
    """Stop the server for `model` (whatever its state) and start it again, on the same port
    when that is free."""
    with _LOCK:
        old = _SERVERS.get(model)
        stop(model, grace_s=RESTART_GRACE_S)
        if old is None:
            return start(model)
        batching = "--no-continuous-batching" not in old.command
        return start(model, old.port if port_free(old.port) else None, batching)


def wait_ready(
    server: ManagedServer, timeout_s: float = 180.0, should_stop: Callable[[], bool] = lambda: False
) -> bool:
    """Poll /health until it answers (True), or the server exits or fails, the timeout
    passes or `should_stop()` turns true (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not should_stop():
        status = server.status()
        if status == "ready":
            return True
        if status != "starting":
            return False
        time.sleep(0.5)
    return False


def get(model: str) -> ManagedServer | None:
    """The server for `model` (alive or not), started here or found again from its record."""
    with _LOCK:
        _sync()
        return _SERVERS.get(model)


def running() -> list[ManagedServer]:
    """Managed servers whose process is alive (this process's and the records' on disk)."""
    with _LOCK:
        _sync()
        return [s for s in _SERVERS.values() if s.alive]


def at_port(port: int) -> ManagedServer | None:
    """The live managed server listening on `port` of this machine, if any."""
    return next((s for s in running() if s.port == port), None)


def stop(model: str, grace_s: float = STOP_GRACE_S) -> bool:
    """Stop and forget the server for `model` (SIGKILL after `grace_s` seconds), and delete
    its record; False if there was none."""
    with _LOCK:
        _sync()
        server = _SERVERS.pop(model, None)
    if server is None:
        return False
    server.stop(grace_s)
    records.remove(servers_dir(), server.port)
    return True


@atexit.register
def stop_all() -> None:
    """Stop every server this process owns (runs at interpreter exit); the servers of
    another running app are only forgotten."""
    with _LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        if server.owned:
            server.stop(grace_s=3.0)
            records.remove(servers_dir(), server.port)


# ---- the same model on a GPU box ---------------------------------------------------------


def vllm_command(
    model: str, tensor_parallel: int = 1, nodes: int = 1, port: int = 8000, head: str = "HEAD_IP"
) -> str:
    """Shell lines that serve `model` with vLLM: one node with `tensor_parallel` GPUs, or
    `nodes` nodes of `tensor_parallel` GPUs each (tensor parallel inside a node, pipeline
    parallel across nodes, vLLM's multiprocessing launcher; run one line per node)."""
    if tensor_parallel < 1 or nodes < 1:
        raise ValueError("GPUs per node and nodes must be at least 1.")
    base = f"vllm serve {model} --tensor-parallel-size {tensor_parallel}"
    if nodes == 1:
        return f"{base} --port {port}"
    common = f"{base} --pipeline-parallel-size {nodes} --nnodes {nodes}"
    lines = [f"# on the head node ({head}), which answers on port {port}:"]
    lines.append(f"{common} --node-rank 0 --master-addr {head} --port {port}")
    for rank in range(1, nodes):
        lines.append(f"# on node {rank}:")
        lines.append(f"{common} --node-rank {rank} --master-addr {head} --headless")
    return "\n".join(lines)
