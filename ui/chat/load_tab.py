"""The Load test tab: the chosen server under load (concurrency levels, requests, a time
limit) as a background job with progress and Stop, then a table, throughput and latency
charts, and the best level's throughput offered to the Business case.

    ui.chat.load_tab.load_test_ui("chat_load", endpoint, gpu_price=2.5, device="cuda")
"""

from __future__ import annotations

import math

import streamlit as st

import ui
from core import units
from core.serving import charts, client, loadtest
from ui.chat.chat_tab import SERVER

LEVEL_CHOICES = (1, 2, 4, 8, 16, 32, 64)


def _load_settings_ui(key: str, gpu_price: float) -> loadtest.LoadTest | None:
    """Levels, prompt and output lengths, requests and time limit; None (said why) if bad."""
    levels = st.multiselect(
        "Concurrent streams", LEVEL_CHOICES, default=(1, 2, 4, 8, 16), key=f"{key}_levels"
    )
    c1, c2, c3, c4 = st.columns(4)
    prompt = c1.number_input("Prompt tokens", 1, 32_000, 64, key=f"{key}_prompt")
    output = c2.number_input("Output tokens", 1, 8_192, 64, key=f"{key}_output")
    requests = c3.number_input("Requests per level", 1, 1_000, 16, key=f"{key}_requests")
    limit = c4.number_input("Time limit (s)", 5, 3_600, 120, key=f"{key}_limit")
    try:
        return loadtest.LoadTest(
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


def _rows(results: list[loadtest.LevelResult]) -> list[dict]:
    """The results table: one row per level, figures rounded, the cost as money."""
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


def load_results_ui(
    key: str, results: list[loadtest.LevelResult], label: str, device: str, hardware: str
) -> None:
    """Table, charts, and 'Use in Business case' with the best error-free level."""
    if not results:
        st.warning("The load test was stopped before any level finished.")
        return
    st.dataframe(_rows(results), hide_index=True)
    for r in results:
        if r.first_error:
            st.warning(f"{r.concurrency} streams: {r.errors} failed requests, e.g. {r.first_error}")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.throughput(results), key=f"{key}_speed")
    c2.plotly_chart(charts.waiting(results), key=f"{key}_wait")
    best = loadtest.best_level(results)
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
    endpoint: client.Endpoint | None,
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


def _load_job(endpoint: client.Endpoint, test: loadtest.LoadTest):
    """The job's target: the load test, reporting to the job (its progress and Stop)."""

    def run(progress) -> list[loadtest.LevelResult]:
        return loadtest.load_test(endpoint, test, progress)

    return run


def load_tab_ui(endpoint: client.Endpoint | None, gpu_price: float, device: str) -> None:
    """Measure the chosen server under load (its throughput can feed the Business case)."""
    if endpoint is None:
        st.info(f"Pick '{SERVER}' and a model on the Chat tab to measure it here.")
        return
    st.caption(f"Measuring {endpoint.model} at {endpoint.base_url}, at ${gpu_price:,.2f}/hour.")
    load_test_ui("chat_load", endpoint, gpu_price, device=device)
