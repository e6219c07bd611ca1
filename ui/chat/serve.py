"""Serve a local model from the page: `transformers serve --continuous-batching` on a free
localhost port (start, health, last log lines, stop), and the `vllm serve` commands for a
GPU box.

    served = ui.chat.serve.serve_panel_ui("chat_serve", "/path/to/model")
"""

from __future__ import annotations

import streamlit as st

from core.serving import client, servers


def _server_status_ui(server: servers.ManagedServer) -> str:
    """Status line, URL and the last log lines; returns the status."""
    status = server.status()
    if status == "ready":
        st.success(f"Serving at {server.base_url} (port {server.port}) - healthy.")
    elif status == "starting":
        st.info("Starting (loading the model; 20-60 s on a small CPU machine)...")
    else:
        st.error(f"The server {status}. Its last log lines are below.")
    with st.expander("Last log lines", expanded=status.startswith("exited")):
        st.code("\n".join(server.log_tail()) or "(nothing yet)", language=None)
    return status


def _wait_for_start(model: str) -> None:
    """While the server starts, check every 2 s and redraw the page once it is up or dead."""
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
    """'Serve it': start/stop `transformers serve --continuous-batching` for a local model on
    a free localhost port, its health and log; the vLLM commands for a GPU box. Returns the
    served Endpoint once the server is healthy."""
    server = servers.get(model_folder)
    if server is None or not server.alive:
        port = st.number_input("Port (0 = any free port)", 0, 65535, 0, key=f"{key}_port")
        if st.button("Serve it", key=f"{key}_start", type="primary"):
            try:
                servers.start(model_folder, port=int(port) or None)
            except (ValueError, OSError) as err:
                st.error(f"Could not start the server: {err}")
            else:
                st.rerun()
        if server is not None:
            _server_status_ui(server)  # the one that exited, and why
    else:
        status = _server_status_ui(server)
        if st.button("Stop server", key=f"{key}_stop"):
            servers.stop(model_folder)
            st.rerun()
        if status == "starting":
            _wait_fragment(model_folder)
    with st.expander("Serve it on a GPU box instead (vLLM)"):
        vllm_commands_ui(key, model_folder)
    if server is not None and server.alive and server.healthy():
        return client.Endpoint(base_url=server.base_url, model=server.model)
    return None
