"""GPT-2 (any local causal LM folder): dynamic int8 and fp16 weights measured beside the
original (decode tokens/s, perplexity with its window and stride, greedy agreement), as a
job; Use in Business case carries the decode speed-up."""

from __future__ import annotations

import streamlit as st

import ui
from core.compress import gpt2
from core.text import sources

JOB = "compress_gpt2_job"


def gpt2_ui(device: str) -> None:
    """Pick a folder, measure, show the table and the saving."""
    local = sources.local_models()
    folder = st.selectbox(
        "Model folder",
        local,
        format_func=sources.model_label,
        key="compress_gpt2_folder",
        accept_new_options=True,
        placeholder="Train one on Chat with GPT-2, or type a folder path",
    )
    job = ui.job_of(JOB)
    if ui.job_buttons_ui(job, JOB, "Compress and measure", disabled=not folder) and folder:
        try:
            gpt2.check_folder(folder)
        except ValueError as err:
            st.error(str(err))
            return
        if ui.submit_job(JOB, gpt2.compare_job(folder), "compress gpt2", tool="compress"):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(JOB)
    elif job is not None and not ui.job_failed_ui(job, "Compression") and job.result:
        results_ui(job.result, job.meta.get("label", folder or "GPT-2"))


def results_ui(variants: list[gpt2.Variant], source: str) -> None:
    st.caption(
        f"Measured on {variants[0].machine.describe()}. {variants[-1].notes} Speed-up: "
        "greedy decode at batch 1 against plain fp32 generate, in the same loop."
    )
    st.dataframe(gpt2.rows(variants), hide_index=True)
    names = [v.method for v in variants[1:]]
    name = st.selectbox("Variant for the Business case", names, key="compress_gpt2_pick")
    if st.button("Use in Business case", key="compress_gpt2_use_case"):
        v = next(v for v in variants if v.method == name)
        ui.record_saving(
            ui.Saving(
                label=f"{source}: {v.method}",
                method=f"{v.method} ({v.precision})",
                hardware=v.machine.describe(),
                speedup=v.speedup,
                memory_ratio=v.memory_bytes / max(variants[0].memory_bytes, 1),
                quality=f"perplexity {v.quality['perplexity_change']:+.2%}",
            )
        )
        st.success(f"Kept for the Business case: {v.speedup:.2f}x decode speed.")
