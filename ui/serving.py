"""Widgets for serving: pick an OpenAI-compatible server, serve a local model from the page,
and load-test an endpoint. The chat page calls them; each takes a `key` prefix for its
widgets and returns what the page needs (an Endpoint, or nothing).

    endpoint = ui.serving.server_source_ui("srv")
    served = ui.serving.serve_panel_ui("serve", "/path/to/model")
    ui.serving.load_test_ui("load", endpoint, gpu_price=2.5, device="cuda", hardware="H100")
"""

from __future__ import annotations

import math

import streamlit as st

import ui
from core import units
from core.serving import servers, serving

DEFAULT_URL = "http://localhost:8000/v1"
LEVEL_CHOICES = (1, 2, 4, 8, 16, 32, 64)


# ---- a server as the chat's source -------------------------------------------------------


def _endpoint_from(base_url: str, key_env: str, model: str = "") -> serving.Endpoint | None:
    """An Endpoint from the typed fields, or None with the reason shown."""
    try:
        return serving.Endpoint(base_url=base_url, api_key_env=key_env.strip(), model=model)
    except ValueError as err:
        st.error(str(err))
        return None


def _check_ui(key: str, endpoint: serving.Endpoint) -> list[str]:
    """The Check button: the server's models, or a clear message why it could not list them
    (an empty list then; the user types the name)."""
    if st.button("Check", key=f"{key}_check", help="Asks the server for its models (GET /models)."):
        try:
            found, problem = serving.list_models(endpoint), ""
        except serving.ServingError as err:
            found, problem = [], str(err)
        st.session_state[f"{key}_checked"] = (endpoint.base_url, found, problem)
    checked_url, found, problem = st.session_state.get(f"{key}_checked", ("", [], ""))
    if checked_url != endpoint.base_url:  # the URL changed since the last Check
        found, problem = [], ""
    if problem:
        st.error(f"{problem} You can still type the model name below.")
    return found


def _model_ui(key: str, listed: list[str]) -> str:
    """The model: picked from the listed ones, or typed (a typed name wins)."""
    picked = st.selectbox("Model", listed, key=f"{key}_model") if listed else ""
    typed = st.text_input(
        "Or type the model name",
        key=f"{key}_typed",
        help="As the server names it, e.g. meta-llama/Llama-3.1-8B-Instruct.",
    )
    return typed.strip() or picked or ""


def server_source_ui(key: str) -> serving.Endpoint | None:
    """Base URL, the name of the API key's variable, Check, and the model; the Endpoint once
    a model is chosen, else None. The key itself is never read into the page."""
    base_url = st.text_input("Server URL", DEFAULT_URL, key=f"{key}_url")
    key_env = st.text_input(
        "API key: name of its environment variable or secrets.toml entry (optional)",
        key=f"{key}_key_env",
        help="For example OPENAI_API_KEY. The key itself is never shown, logged or exported.",
    )
    endpoint = _endpoint_from(base_url, key_env)
    if endpoint is None:
        return None
    if endpoint.api_key_env and not serving.key_found(endpoint):
        st.warning(
            f"No environment variable or secrets.toml entry named {endpoint.api_key_env}: "
            "requests go without a key."
        )
    model = _model_ui(key, _check_ui(key, endpoint))
    if not model:
        st.info("Press Check to list the server's models, or type a model name.")
        return None
    return _endpoint_from(base_url, key_env, model)


# ---- serve a local model -----------------------------------------------------------------


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


def serve_panel_ui(key: str, model_folder: str) -> serving.Endpoint | None:
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
        return serving.Endpoint(base_url=server.base_url, model=server.model)
    return None


# ---- load test ---------------------------------------------------------------------------


def _load_settings_ui(key: str, gpu_price: float) -> serving.LoadTest | None:
    levels = st.multiselect(
        "Concurrent streams", LEVEL_CHOICES, default=(1, 2, 4, 8, 16), key=f"{key}_levels"
    )
    c1, c2, c3, c4 = st.columns(4)
    prompt = c1.number_input("Prompt tokens", 1, 32_000, 64, key=f"{key}_prompt")
    output = c2.number_input("Output tokens", 1, 8_192, 64, key=f"{key}_output")
    requests = c3.number_input("Requests per level", 1, 1_000, 16, key=f"{key}_requests")
    limit = c4.number_input("Time limit (s)", 5, 3_600, 120, key=f"{key}_limit")
    try:
        return serving.LoadTest(
            levels=tuple(sorted(levels)),
            prompt_tokens=int(prompt),
            output_tokens=int(output),
            requests_per_level=int(requests),
            time_limit_s=float(limit),
            usd_per_gpu_hour=float(gpu_price),
        )
    except ValueError as err:
        st.error(str(err) if levels else "Pick at least one concurrency level.")
        return None


def _rows(results: list[serving.LevelResult]) -> list[dict]:
    return [
        {
            "Streams": r.concurrency,
            "Requests": r.requests,
            "Errors": r.errors,
            "Tokens/s (all)": round(r.aggregate_tokens_per_s, 1),
            "Tokens/s per stream": round(r.tokens_per_s_per_stream, 1),
            "TTFT p50 (s)": round(r.ttft_p50_s, 3),
            "TTFT p95 (s)": round(r.ttft_p95_s, 3),
            "Latency p50 (s)": round(r.latency_p50_s, 2),
            "Latency p95 (s)": round(r.latency_p95_s, 2),
            "USD per 1M tokens": units.usd(r.usd_per_1m_tokens)
            if math.isfinite(r.usd_per_1m_tokens)
            else "n/a",
            "Cut short": r.cut_short,
        }
        for r in results
    ]


def _figures(results: list[serving.LevelResult]):
    """Throughput and latency against concurrency (plotly, imported when drawn)."""
    import plotly.graph_objects as go

    x = [r.concurrency for r in results]
    speed = go.Figure()
    speed.add_scatter(x=x, y=[r.aggregate_tokens_per_s for r in results], name="all streams")
    speed.add_scatter(x=x, y=[r.tokens_per_s_per_stream for r in results], name="per stream")
    speed.update_layout(
        title="Throughput", xaxis_title="concurrent streams", yaxis_title="tokens/s", height=340
    )
    wait = go.Figure()
    for name, attr in (
        ("TTFT p50", "ttft_p50_s"),
        ("TTFT p95", "ttft_p95_s"),
        ("latency p50", "latency_p50_s"),
        ("latency p95", "latency_p95_s"),
    ):
        wait.add_scatter(x=x, y=[getattr(r, attr) for r in results], name=name)
    wait.update_layout(
        title="Waiting", xaxis_title="concurrent streams", yaxis_title="seconds", height=340
    )
    return speed, wait


def load_results_ui(
    key: str, results: list[serving.LevelResult], label: str, device: str, hardware: str
) -> None:
    """Table, charts, and 'Use in Business case' with the best error-free level."""
    if not results:
        st.warning("The load test was stopped before any level finished.")
        return
    st.dataframe(_rows(results), hide_index=True)
    for r in results:
        if r.first_error:
            st.warning(f"{r.concurrency} streams: {r.errors} failed requests, e.g. {r.first_error}")
    speed, wait = _figures(results)
    c1, c2 = st.columns(2)
    c1.plotly_chart(speed, key=f"{key}_speed")
    c2.plotly_chart(wait, key=f"{key}_wait")
    best = serving.best_level(results)
    if best is None:
        st.info("No level finished without errors: nothing to carry into the Business case.")
        return
    st.caption(
        f"Best: {best.aggregate_tokens_per_s:.1f} tokens/s with {best.concurrency} concurrent "
        "streams."
    )
    if st.button("Use in Business case", key=f"{key}_use"):
        ui.record_measurement(
            ui.Measurement(
                label=f"{label} ({best.concurrency} streams, served)",
                tokens_per_s=best.aggregate_tokens_per_s,
                device=device,
                hardware=hardware,
            )
        )
        st.success("The Business case page now offers this throughput as its serving speed.")


def load_test_ui(
    key: str,
    endpoint: serving.Endpoint | None,
    gpu_price: float,
    device: str = "cpu",
    hardware: str = "",
) -> None:
    """Settings, Run/Stop as a background job with progress, then the results. `gpu_price`
    is the server's USD per hour; `device`/`hardware` label the measurement."""
    test = _load_settings_ui(key, gpu_price)
    hardware = st.text_input("Server hardware (label)", hardware, key=f"{key}_hardware")
    job = ui.job_of(key)
    ready = endpoint is not None and test is not None
    if ui.job_buttons_ui(job, key, "Run load test", disabled=not ready):
        label = f"{endpoint.model} @ {endpoint.host}"
        meta = {"label": label, "device": device, "hardware": hardware or endpoint.host}
        if ui.submit_job(
            key, _load_job(endpoint, test), f"load test {label}", tool="serving-load",
            device="network", meta=meta,
        ):  # fmt: skip
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(key, every=1.0)
    elif job is not None and not ui.job_failed_ui(job, "The load test"):
        m = job.meta
        load_results_ui(key, job.result or [], m["label"], m["device"], m["hardware"])
    elif endpoint is None:
        st.info("Choose a server and a model first.")


def _load_job(endpoint: serving.Endpoint, test: serving.LoadTest):
    """The job's target: the load test with the job's progress and Stop."""

    def run(ctx) -> list[serving.LevelResult]:
        return serving.load_test(
            endpoint, test, progress=lambda p, m: ctx.report(p, m), should_stop=ctx.should_stop
        )

    return run
