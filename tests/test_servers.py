"""core.serving.servers' process registry with a stand-in server (a few lines of http.server that
answer /health), so start/health/logs/stop are checked in a second; the real
`transformers serve` runs in tests/test_serving.py."""

from __future__ import annotations

import sys

import pytest

from core.serving import servers

FAKE_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
print("fake server up on", sys.argv[1], flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """servers.start runs the stand-in instead of transformers serve, logs under tmp_path."""
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.setattr(
        servers,
        "serve_command",
        lambda model, port, cb=True: [sys.executable, "-c", FAKE_SERVER, str(port)],
    )
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    yield str(model)
    servers.stop_all()


def test_start_health_logs_stop(fake):
    server = servers.start(fake)
    assert servers.wait_ready(server, timeout_s=30)
    assert server.status() == "ready" and server.healthy()
    assert servers.start(fake) is server and servers.running() == [server]
    assert any("fake server up on" in line for line in server.log_tail())
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
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    started = [servers.start(fake), servers.start(str(other))]
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
