"""Start `streamlit run` on a free localhost port and drive Debian's Chromium with Playwright.

Shared by the browser test and bench/startup.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(port: int, script: Path = ROOT / "app.py") -> subprocess.Popen:
    """Launch `streamlit run script` on 127.0.0.1:port; returns at once (not yet serving).

    The server's output goes to a temporary file (a pipe nobody reads would fill and block).
    """
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by stop()
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    server.log = log
    return server


def server_output(server: subprocess.Popen) -> str:
    """What the server printed so far."""
    server.log.seek(0)
    return server.log.read()


def wait_until_serving(port: int, server: subprocess.Popen, timeout_s: float = 60) -> None:
    """Block until the server answers its health check; raise with its output if it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{server_output(server)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout_s} s")


def stop(server: subprocess.Popen) -> None:
    """Terminate the server and reap it."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    server.log.close()


@contextlib.contextmanager
def serving(script: Path = ROOT / "app.py"):
    """A freshly started server for `script`, as its base URL; stopped on exit."""
    port = free_port()
    server = start_streamlit(port, script)
    try:
        wait_until_serving(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def chromium_path() -> str | None:
    """Debian's Chromium, or None where it is not installed."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def launch_chromium(playwright):
    """Headless Chromium from the system package (Playwright's own download is not used)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
