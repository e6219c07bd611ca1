"""core.serving.servers' process registry with a stand-in server (a few lines of http.server that
answer /health), so start/health/logs/stop, the records a restarted app finds, the death of
a server with its app (SIGKILL included) and failed health are checked in seconds; the real
`transformers serve` runs in tests/test_serving.py."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.serving import processes, records, servers

ROOT = Path(__file__).resolve().parents[1]
# A stand-in for `transformers serve PORT MODEL`: /health answers 200, or 503 as transformers
# does once its generation worker died, while the model folder holds a file "unhealthy".
FAKE_SERVER = """
import http.server, pathlib, sys
flag = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "/nonexistent") / "unhealthy"
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        bad = self.path == "/health" and flag.exists()
        self.send_response(503 if bad else 200 if self.path == "/health" else 404)
        self.end_headers()
        if bad:
            self.wfile.write(b'{"status":"unhealthy","reason":"cb_worker_dead"}')
print("fake server up on", sys.argv[1], flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def fake_command(model: str, port: int, cb: bool = True) -> list[str]:
    return [sys.executable, "-c", FAKE_SERVER, str(port), model]


def saved_model(folder: Path, window: int = 96) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"n_positions": window}))
    return str(folder)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """servers.start runs the stand-in instead of transformers serve, logs under tmp_path."""
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.setattr(servers, "serve_command", fake_command)
    yield saved_model(tmp_path / "model")
    servers.stop_all()


def test_start_health_logs_stop(fake):
    server = servers.start(fake)
    assert servers.wait_ready(server, timeout_s=30)
    assert server.status() == "ready" and server.healthy()
    assert servers.start(fake) is server and servers.running() == [server]
    assert any("fake server up on" in line for line in server.log_tail())
    assert server.window == 96 and server.status() == "ready"
    assert servers.stop(fake) and not server.alive
    assert server.status().startswith("exited") and servers.get(fake) is None
    assert servers.running() == [] and not servers.stop(fake)


def test_a_dead_server_is_not_reported_ready(fake, monkeypatch):
    monkeypatch.setattr(
        servers,
        "serve_command",
        lambda model, port, cb=True: [sys.executable, "-c", "raise SystemExit(3)"],
    )
    server = servers.start(fake)
    assert not servers.wait_ready(server, timeout_s=30)
    assert server.status() == "exited (code 3)"
    assert servers.start(fake) is not server  # a dead one is replaced on the next Start


def test_stop_all_ends_every_server(fake, tmp_path):
    other = saved_model(tmp_path / "other")
    started = [servers.start(fake), servers.start(other)]
    assert len({s.port for s in started}) == 2
    servers.stop_all()
    assert not any(s.alive for s in started) and servers.running() == []


def test_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        servers.start(str(tmp_path))


def test_command_is_localhost_offline_and_batched(tmp_path, monkeypatch):
    cmd = servers.serve_command("/m", 8123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and "--continuous-batching" in cmd
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-such-cache"))
    env = servers._env(str(tmp_path))
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HUB_CACHE"] != str(tmp_path / "no-such-cache")


def test_vllm_commands_single_and_multi_node():
    assert (
        servers.vllm_command("org/m", 4) == "vllm serve org/m --tensor-parallel-size 4 --port 8000"
    )
    lines = [x for x in servers.vllm_command("org/m", 8, nodes=3).splitlines() if x[0] != "#"]
    assert len(lines) == 3
    assert all("--tensor-parallel-size 8 --pipeline-parallel-size 3 --nnodes 3" in x for x in lines)
    assert [f"--node-rank {r}" in x for r, x in enumerate(lines)] == [True] * 3
    assert "--headless" not in lines[0] and all("--headless" in x for x in lines[1:])
    with pytest.raises(ValueError):
        servers.vllm_command("org/m", 0)


# ---- servers that belong to the app: records, death with the app -------------------------

APP = """
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
from core.serving import servers
from tests.test_servers import fake_command
servers.serve_command, servers.DEATH_SIGNAL = fake_command, int(sys.argv[3])
box = {}
def script_run():  # as Streamlit runs a page: in a thread that ends after the run
    box["server"] = server = servers.start(sys.argv[2])
    box["ready"] = servers.wait_ready(server, timeout_s=30)
worker = threading.Thread(target=script_run)
worker.start()
worker.join()
server = box["server"]
print(json.dumps({"ready": box["ready"], "pid": server.pid, "port": server.port}), flush=True)
time.sleep(120)
"""


def start_app(model: str, death_signal: int = processes.DEATH_SIGNAL) -> tuple:
    """A separate app process that starts a managed (stand-in) server for `model` and waits;
    (the process, {"ready", "pid", "port"} of its server)."""
    app = subprocess.Popen(
        [sys.executable, "-c", APP, str(ROOT), model, str(int(death_signal))],
        stdout=subprocess.PIPE,
        text=True,
    )
    readable, _, _ = select.select([app.stdout], [], [], 60)
    line = app.stdout.readline() if readable else ""
    if not line:
        app.kill()
        pytest.fail("the app process did not start its server within 60 s")
    return app, json.loads(line)


def end(app: subprocess.Popen, server_pid: int) -> None:
    """Clean-up: no app and no server outlives the test."""
    app.kill()
    app.wait(10)
    if processes.alive(server_pid):
        os.kill(server_pid, signal.SIGKILL)


def gone_within(pid: int, seconds: float) -> bool:
    """True once `pid` has ended (checked every 0.05 s for at most `seconds`)."""
    end_at = time.monotonic() + seconds
    while processes.alive(pid) and time.monotonic() < end_at:
        time.sleep(0.05)
    return not processes.alive(pid)


def test_a_sigkilled_app_takes_its_server_along_and_the_next_start_cleans_its_record(fake):
    app, info = start_app(fake)
    try:
        assert info["ready"] and processes.alive(info["pid"])
        record = records.path_for(servers.servers_dir(), info["port"])
        assert json.loads(record.read_text())["window"] == 96
        app.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the kernel acts
        app.wait(10)
        assert gone_within(info["pid"], 10), "the server outlived its SIGKILLed app"
        assert record.exists()  # the dead app could not tidy up
        assert servers.running() == [] and servers.get(fake) is None  # the next start ...
        assert not record.exists()  # ... found the dead server's record and deleted it
    finally:
        end(app, info["pid"])


def test_a_live_server_is_found_again_by_a_new_process_which_can_stop_it(fake):
    app, info = start_app(fake)
    try:
        found = servers.get(fake)  # this test's process never started it
        assert found is not None and found.found_again and not found.owned  # the app lives
        assert (found.pid, found.port, found.window) == (info["pid"], info["port"], 96)
        assert found.status() == "ready" and servers.running() == [found]
        assert servers.at_port(info["port"]) is found
        assert servers.stop(fake) and gone_within(info["pid"], 10)
        assert not records.path_for(servers.servers_dir(), info["port"]).exists()
    finally:
        end(app, info["pid"])


def test_a_server_that_outlived_its_app_is_taken_over(fake):
    """Where the OS has no parent-death signal (DEATH_SIGNAL 0 plays one), a server survives
    its app's SIGKILL; the next app takes it over and stops it when it exits."""
    app, info = start_app(fake, death_signal=0)
    try:
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        assert processes.alive(info["pid"])
        found = servers.get(fake)
        assert found is not None and found.owned and found.status() == "ready"
        owner = json.loads(records.path_for(servers.servers_dir(), info["port"]).read_text())
        assert owner["owner_pid"] == os.getpid()
        servers.stop_all()
        assert gone_within(info["pid"], 10)
    finally:
        end(app, info["pid"])


def test_a_server_started_from_a_short_lived_thread_outlives_the_thread(fake):
    """Linux sends the parent-death signal when the forking THREAD ends: servers are forked
    by a thread that lives as long as the process, not by the (Streamlit script) caller."""
    box: dict = {}

    def script_run() -> None:  # the server is up (its death signal set) before the run ends
        box["server"] = server = servers.start(fake)
        box["ready"] = servers.wait_ready(server, timeout_s=30)

    worker = threading.Thread(target=script_run)
    worker.start()
    worker.join()
    server = box["server"]
    assert box["ready"]
    with pytest.raises(subprocess.TimeoutExpired):
        server.process.wait(timeout=1.0)  # a signal at the thread's end would have killed it
    assert server.status() == "ready"


# ---- health that turns bad ---------------------------------------------------------------


def test_health_that_turns_bad_is_failed_never_starting(fake, monkeypatch):
    server = servers.start(fake)
    assert servers.wait_ready(server, timeout_s=30)
    (Path(fake) / "unhealthy").touch()  # transformers serve's worker died: /health says 503
    assert server.status().startswith("failed: /health answered 503")
    assert "cb_worker_dead" in server.status() and not servers.wait_ready(server, timeout_s=30)
    (Path(fake) / "unhealthy").unlink()
    monkeypatch.setattr(servers, "UNRESPONSIVE_S", 0.0)
    os.kill(server.pid, signal.SIGSTOP)  # alive, but /health never answers
    try:
        assert server.status(timeout=0.3).startswith("failed: /health stopped answering")
    finally:
        os.kill(server.pid, signal.SIGCONT)
    restarted = servers.restart(fake)
    assert restarted.pid != server.pid and restarted.port == server.port
    assert servers.wait_ready(restarted, timeout_s=30) and not server.alive


def test_a_server_that_never_gets_healthy_fails_after_the_start_timeout(fake, monkeypatch):
    monkeypatch.setattr(
        servers, "serve_command", lambda m, p, cb=True: [sys.executable, "-c", "input()"]
    )
    server = servers.start(fake)
    assert server.status() == "starting"
    monkeypatch.setattr(servers, "START_TIMEOUT_S", 0.0)
    assert server.status().startswith("failed: not healthy")


def test_the_window_comes_from_the_model_config(tmp_path):
    assert servers.model_window(saved_model(tmp_path / "a", 96)) == 96
    nested = tmp_path / "b"
    nested.mkdir()
    (nested / "config.json").write_text(
        json.dumps({"text_config": {"max_position_embeddings": 4096}})
    )
    assert servers.model_window(str(nested)) == 4096
    (nested / "config.json").write_text("{}")
    assert servers.model_window(str(nested)) is None
    assert servers.model_window("no-such-org/no-such-model") is None


READ_ONLY_START = """
import sys
sys.path.insert(0, sys.argv[1])
from core.serving import servers
try:
    servers.start(sys.argv[2])
except servers.ServeError as err:
    print("refused:", err)
"""


def read_only(command: list[str]) -> list[str]:
    """`command` unable to write where the folder's mode forbids it, also as root (which
    ignores file modes unless it gives up these two capabilities)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


@pytest.mark.skipif(sys.platform != "linux", reason="setpriv is Linux's")
def test_a_read_only_home_is_a_clear_message(tmp_path, monkeypatch):
    model = saved_model(tmp_path / "model")
    home = tmp_path / "home"
    home.mkdir(mode=0o555)
    monkeypatch.setenv("DASHBOARD_HOME", str(home))
    cmd = read_only([sys.executable, "-c", READ_ONLY_START, str(ROOT), model])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"refused: its log and record go to {home}/servers, which" in out.stdout
    assert "DASHBOARD_HOME" in out.stdout and "Errno" not in out.stdout
