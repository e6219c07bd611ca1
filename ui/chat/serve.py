"""Serve a local model from the page: `transformers serve --continuous-batching` on a free
localhost port (start, health, the model's window, last log lines, Restart, Stop), also
for a server an earlier run of the app started; and the `vllm serve` commands for a GPU box.

    served = ui.chat.serve.serve_panel_ui("chat_serve", "/path/to/model")
    ui.chat.serve.managed_status_ui("chat_server_managed", server)  # a managed server's state
"""

from __future__ import annotations

import time

import streamlit as st

from core.serving import client, servers

RUNNING = ("ready", "starting")


def _why(server: servers.ManagedServer, status: str) -> str:
    """What the log says went wrong, in words (a request past the model's window)."""
    tail = "\n".join(server.log_tail(200))
    if "index out of range in self" in tail:
        window = f" ({server.window:,} tokens)" if server.window else ""
        return (
            f" A request asked for more tokens than the model's window{window} holds, and the "
            "server's generation worker died: Restart it, and keep prompt + Max new tokens "
            "within the window."
        )
    return ""


def _origin(server: servers.ManagedServer) -> str:
    """Where a server found again came from."""
    since = time.strftime("%H:%M on %d %b", time.localtime(server.started_at))
    who = "an earlier run of this app" if server.owned else "another running copy of this app"
    return f"Started by {who} at {since} (pid {server.pid}); found again from its record."


def server_status_ui(server: servers.ManagedServer, status: str = "") -> str:
    """Status line, URL, window and the last log lines; returns the status (`status`, when
    the caller just asked the server for it)."""
    status = status or server.status()
    window = f" Window: {server.window:,} tokens." if server.window else ""
    if status == "ready":
        st.success(f"Serving at {server.base_url} (port {server.port}) - healthy.{window}")
    elif status == "starting":
        st.info("Starting (loading the model; 20-60 s on a small CPU machine)...")
    else:
        st.error(f"The server {status}.{_why(server, status)} Its last log lines are below.")
    if server.found_again:
        st.caption(_origin(server))
    with st.expander("Last log lines", expanded=status not in RUNNING):
        st.code("\n".join(server.log_tail()) or "(nothing yet)", language=None)
    return status


def _start(action, *args) -> None:
    """Run servers.start or restart; a refusal (no model, a read-only home) is shown."""
    try:
        action(*args)
    except (ValueError, servers.ServeError) as err:
        st.error(f"Could not start the server: {err}")
    else:
        st.rerun()


def managed_status_ui(key: str, server: servers.ManagedServer, status: str = "") -> str:
    """A managed server's status, and Restart (when it failed or exited) and Stop."""
    status = server_status_ui(server, status)
    c1, c2 = st.columns(2)
    if status not in RUNNING and c1.button("Restart", key=f"{key}_restart", type="primary"):
        _start(servers.restart, server.model)
    if server.alive and c2.button("Stop server", key=f"{key}_stop"):
        servers.stop(server.model)
        st.rerun()
    if status == "starting":
        _wait_fragment(server.model)
    return status


def _wait_for_start(model: str) -> None:
    """While the server starts, check every 2 s and redraw the page once it is up or down."""
    server = servers.get(model)
    if server is None or server.status() != "starting":
        st.rerun()


_wait_fragment = st.fragment(_wait_for_start, run_every=2.0)


def vllm_commands_ui(key: str, model: str) -> None:
    """The commands that serve the same model with vLLM on one or several GPU nodes."""
    c1, c2 = st.columns(2)
    gpus = c1.number_input("GPUs per node", 1, 16, 1, key=f"{key}_tp")
    nodes = c2.number_input("Nodes", 1, 64, 1, key=f"{key}_nodes")
    st.code(servers.vllm_command(model, int(gpus), int(nodes)), language="bash")
    st.caption(
        "Tensor parallel inside a node, pipeline parallel across nodes (vLLM's own "
        "launcher; Ray works too: `ray start --head` / `ray start --address=HEAD_IP:6379`, then "
        "one `vllm serve ... --distributed-executor-backend ray`). Point this page at "
        "http://HEAD_IP:8000/v1."
    )


def serve_panel_ui(key: str, model_folder: str) -> client.Endpoint | None:
    """'Serve it': start `transformers serve --continuous-batching` for a local model on a
    free localhost port; its health, window and log, Restart and Stop; the vLLM commands for
    a GPU box. Returns the served Endpoint once the server is healthy."""
    server = servers.get(model_folder)
    if server is None:
        port = st.number_input("Port (0 = any free port)", 0, 65535, 0, key=f"{key}_port")
        if st.button("Serve it", key=f"{key}_start", type="primary"):
            _start(servers.start, model_folder, int(port) or None)
        status = ""
    else:
        status = managed_status_ui(key, server)
    with st.expander("Serve it on a GPU box instead (vLLM)"):
        vllm_commands_ui(key, model_folder)
    if status == "ready":
        return client.Endpoint(base_url=server.base_url, model=server.model)
    return None
