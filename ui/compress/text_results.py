"""A finished (or stopped) GPT-2 comparison: the machine, what failed and why, the table,
perplexity against decode time, where the run was recorded, each variant's files (a .zip
each; the student and fp16 also in the chat's picker), and Use in Business case."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui
from core.compress import charts, gpt2, keep, textjob
from core.compress.measure import Variant
from ui.compress import table


def results_ui(c: textjob.TextComparison) -> None:
    """Everything the page shows of comparison `c`."""
    s = c.request.settings
    st.caption(
        f"Measured on {c.machine.describe()} - {c.machine.cpu} - {c.seconds:.0f} s. Perplexity: "
        f"window {s.window}, stride {s.stride}; decode: {s.new_tokens} greedy tokens at batch 1. "
        "Speed-up: greedy decode at batch 1 against plain fp32 generate, in the same loop. "
        f"Held-out text: the last tenth of {c.request.text_name}."
    )
    if c.stopped:
        st.warning("Stopped: the variants finished before Stop are kept below.")
    for method, why in c.failed:
        (st.info if why.startswith("Stopped") else st.error)(f"{method}: {why}")
    if len(c.variants) < 2:
        st.info("No variant finished.")
        return
    student = c.student_variant()
    if student is not None:
        st.caption(f"Distilled student: {student.notes.split(' Perplexity:')[0]}")
    table.table_ui(gpt2.rows(c.variants), key="compress_gpt2_table")
    best = c.best()
    st.plotly_chart(charts.perplexity_trade_off(c.variants, best), key="compress_gpt2_chart")
    if best is not None:
        st.success(f"Best trade-off: {best.method} - {best.verdict} on this machine.")
    else:
        st.info(
            f"No variant decodes faster within {textjob.PERPLEXITY_BAR:.0%} of the original's "
            "perplexity on this machine."
        )
    if c.recorded is not None:
        ui.recorded_ui(c.recorded, "The results and the files below are kept.")
    files_ui(c)
    use_in_case_ui(c, best)


def files_ui(c: textjob.TextComparison) -> None:
    """One .zip per variant: the original's folder, each kept folder; where each lives."""
    st.markdown("**Files**")
    source = Path(c.request.folder)
    places = {"original": source} | {name: k.path for name, k in c.kept.items()}
    cols = st.columns(min(len(places), 4))
    for i, (name, path) in enumerate(places.items()):
        cols[i % len(cols)].download_button(
            f"Download {name}",
            data=lambda path=path: keep.zipped(path),
            file_name=f"{path.name}.zip",
            mime="application/zip",
            on_click="ignore",
            key=f"compress_gpt2_download_{textjob.slug(name)}",
        )
    for name, kept in c.kept.items():
        where = "in Chat with GPT-2's model picker" if kept.chat else "not a chat model"
        st.caption(f"{name}: {kept.path} ({where}). {kept.note}")
    measured = {v.method for v in c.variants}
    if "dynamic int8" in measured and "dynamic int8" not in c.kept:
        st.caption(keep.INT8_NOTE)


def use_in_case_ui(c: textjob.TextComparison, best: Variant | None) -> None:
    """Pick a variant and carry its measured decode speed-up to the Business case."""
    variants = {v.method: v for v in c.variants[1:]}
    names = list(variants)
    start = names.index(best.method) if best is not None else 0
    name = st.selectbox("Variant for the Business case", names, start, key="compress_gpt2_pick")
    if st.button("Use in Business case", key="compress_gpt2_use_case"):
        v = variants[name]
        recorded = c.recorded
        ui.record_saving(
            ui.Saving(
                label=f"{Path(c.request.folder).name}: {v.method}",
                method=f"{v.method} ({v.precision})",
                hardware=v.machine.describe(),
                speedup=v.speedup,
                memory_ratio=v.memory_bytes / max(c.variants[0].memory_bytes, 1),
                quality=f"perplexity {v.quality['perplexity_change']:+.2%}",
                run_id=recorded.run_id if recorded is not None and recorded.ok else None,
            )
        )
        st.success(f"Kept for the Business case: {v.speedup:.2f}x decode speed.")
        st.page_link("pages/business_case.py", label="Open the Business case")
