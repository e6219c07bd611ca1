"""A finished (or stopped) comparison: the machine it was measured on, what failed and why,
the side-by-side table, quality against latency, each variant's files, where the run was
recorded, and Use in Business case (the measured saving, labelled with method and hardware)."""

from __future__ import annotations

import io
import zipfile

import streamlit as st

import ui
from core.compress import charts, tool
from core.compress.measure import Variant
from ui.compress import table

SAVE = "compress_use_case"


def comparison_ui(c: tool.Comparison) -> None:
    """Everything the page shows of comparison `c`."""
    st.caption(
        f"Measured on {c.machine.describe()} - {c.machine.cpu} - {c.seconds:.0f} s. Latency: "
        f"batch 1, median and p95 over interleaved rounds with the original; throughput at "
        f"batch {tool.BATCH}; memory: the weights in memory."
    )
    if c.stopped:
        st.warning("Stopped: the variants finished before Stop are kept below.")
    for method, why in c.failed:
        (st.info if why.startswith("Skipped") else st.error)(f"{method}: {why}")
    if len(c.variants) < 2:
        st.info("No variant finished.")
        return
    table.table_ui(tool.rows(c), key="compress_table")
    best = c.best()
    st.plotly_chart(charts.trade_off(c.variants, best), key="compress_chart")
    if best is not None:
        st.success(
            f"Best trade-off: {best.method} ({best.engine}) - {best.verdict} on this machine."
        )
    else:
        st.info(
            f"No variant is faster within {tool.QUALITY_BAR_PTS:g} accuracy point of the "
            "original on this machine."
        )
    if c.recorded is not None:
        ui.recorded_ui(c.recorded, "The results and the files below are kept in this page.")
    files_ui(c)
    use_in_case_ui(c, best)


def files_ui(c: tool.Comparison) -> None:
    """One download per variant: its ONNX file, or safetensors + JSON, as a .zip."""
    cols = st.columns(3)
    for i, v in enumerate(c.variants):
        cols[i % 3].download_button(
            f"Download {v.method}",
            data=_zip(v),
            file_name=f"{tool.slug(v.method)}.zip",
            mime="application/zip",
            key=f"compress_download_{tool.slug(v.method)}",
        )


def _zip(v: Variant) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in v.files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def saving_of(c: tool.Comparison, v: Variant) -> ui.Saving:
    """What `v` saved against the original, for the Business case."""
    base = c.variants[0]
    drop = None if v.accuracy is None else (base.accuracy - v.accuracy) * 100
    quality = "accuracy unchanged" if not drop else f"accuracy {-drop:+.2f} points"
    recorded = c.recorded
    return ui.Saving(
        label=f"{c.request.source}: {v.method} ({v.engine})",
        method=f"{v.method} ({v.precision})",
        hardware=v.machine.describe(),
        speedup=v.speedup,
        memory_ratio=v.memory_bytes / max(base.memory_bytes, 1),
        quality=quality,
        run_id=recorded.run_id if recorded is not None and recorded.ok else None,
    )


def use_in_case_ui(c: tool.Comparison, best: Variant | None) -> None:
    """Pick a variant and carry its measured speed-up and memory saving to the Business case."""
    variants = {v.method: v for v in c.variants[1:]}
    names = list(variants)
    start = names.index(best.method) if best is not None else 0
    name = st.selectbox("Variant for the Business case", names, index=start, key=f"{SAVE}_pick")
    if st.button("Use in Business case", key=SAVE, help="Changes its serving cost."):
        saving = saving_of(c, variants[name])
        ui.record_saving(saving)
        st.success(
            f"Kept for the Business case: {saving.speedup:.2f}x the speed and "
            f"{saving.memory_ratio:.2f}x the memory, measured on {saving.hardware}."
        )
        st.page_link("pages/business_case.py", label="Open the Business case")
