"""`transformers serve` as managed subprocesses: one per model, on 127.0.0.1 and a free
port, offline, with continuous batching; health, last log lines, stop. Plus the `vllm serve`
commands for a GPU box.

The registry belongs to the process: a server keeps running across browser refreshes and
is found again by its model; every server is stopped when the process exits (atexit).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core import paths

HOST = "127.0.0.1"  # managed servers never listen beyond this machine
STOP_GRACE_S = 10.0  # seconds between SIGTERM and SIGKILL
LOG_LINES = 20
# share of the free memory (after loading the model) the continuous-batching KV cache takes;
# the server's own default (0.6-0.9) took 14 GB of this 24 GB machine's RAM on a CPU
KV_CACHE_SHARE = 0.1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def servers_dir() -> Path:
    """Servers' logs (and an empty hub cache for /v1/models): HOME/servers."""
    return paths.home() / "servers"


@dataclass(kw_only=True)
class ManagedServer:
    """One `transformers serve` subprocess."""

    model: str  # the folder (or cached hub id) it serves, as requests must name it
    port: int
    process: subprocess.Popen
    log_path: Path
    command: list[str]
    started_at: float  # time.time()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self, timeout: float = 1.0) -> bool:
        """True when GET /health answers 200."""
        if not self.alive:
            return False
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=timeout) as r:
                return r.status == 200
        except OSError:
            return False

    def status(self) -> str:
        """'ready', 'starting' or 'exited (code N)'."""
        if not self.alive:
            return f"exited (code {self.process.returncode})"
        return "ready" if self.healthy() else "starting"

    def log_tail(self, lines: int = LOG_LINES) -> list[str]:
        """The last lines of the server's log (stdout and stderr together)."""
        try:
            with self.log_path.open(errors="replace") as f:
                return [line.rstrip("\n") for line in deque(f, maxlen=lines)]
        except OSError:
            return []

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM, then SIGKILL after `grace_s` seconds."""
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


_SERVERS: dict[str, ManagedServer] = {}
_LOCK = threading.Lock()


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


def start(model: str, port: int | None = None, continuous_batching: bool = True) -> ManagedServer:
    """Start serving `model` (a save_pretrained folder or a cached hub id), or return the
    server already running for it."""
    _check_model(model)
    with _LOCK:
        running = _SERVERS.get(model)
        if running is not None and running.alive:
            return running
        port = port or free_port()
        servers_dir().mkdir(parents=True, exist_ok=True)
        log_path = servers_dir() / f"serve-{port}.log"
        cmd = serve_command(model, port, continuous_batching)
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_env(model),
            )
        server = ManagedServer(
            model=model,
            port=port,
            process=proc,
            log_path=log_path,
            command=cmd,
            started_at=time.time(),
        )
        _SERVERS[model] = server
        return server


def wait_ready(
    server: ManagedServer, timeout_s: float = 180.0, should_stop: Callable[[], bool] = lambda: False
) -> bool:
    """Poll /health until it answers (True), or the process exits, the timeout passes or
    `should_stop()` turns true (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and server.alive and not should_stop():
        if server.healthy():
            return True
        time.sleep(0.5)
    return False


def get(model: str) -> ManagedServer | None:
    """The server this process started for `model`, if any (alive or not)."""
    with _LOCK:
        return _SERVERS.get(model)


def running() -> list[ManagedServer]:
    """Servers of this process whose subprocess is alive."""
    with _LOCK:
        return [s for s in _SERVERS.values() if s.alive]


def stop(model: str) -> bool:
    """Stop and forget the server for `model`; False if there was none."""
    with _LOCK:
        server = _SERVERS.pop(model, None)
    if server is None:
        return False
    server.stop()
    return True


@atexit.register
def stop_all() -> None:
    """Stop every server this process started (runs at interpreter exit)."""
    with _LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        server.stop(grace_s=3.0)


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
