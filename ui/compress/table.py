"""The side-by-side table as a reader sees it: the comparison's rows (their keys stay the
recorded run's) under plain headers, with units and sensible decimals."""

from __future__ import annotations

import streamlit as st

_NUMBER = st.column_config.NumberColumn
_TEXT = st.column_config.TextColumn
COLUMNS = {
    "method": _TEXT("Method"),
    "engine": _TEXT("Engine"),
    "precision": _TEXT("Precision"),
    "accuracy_pct": _NUMBER("Accuracy (%)", format="%.2f"),
    "agreement_pct": _NUMBER("Same answer as the original (%)", format="%.1f"),
    "perplexity": _NUMBER("Perplexity", format="%.2f"),
    "perplexity_change_pct": _NUMBER("Perplexity change (%)", format="%+.3f"),
    "greedy_agreement_pct": _NUMBER("Same greedy tokens (%)", format="%.1f"),
    "params": _NUMBER("Parameters", format="localized"),
    "params_x": _NUMBER("Fewer parameters (x)", format="%.2fx"),  # original's over this one's
    "file_kb": _NUMBER("File (KB)", format="%.1f"),
    "file_mb": _NUMBER("File (MB)", format="%.2f"),
    "latency_p50_ms": _NUMBER("Latency, median (ms)", format="%.3f"),
    "latency_p95_ms": _NUMBER("Latency, p95 (ms)", format="%.3f"),
    "decode_tokens_per_s": _NUMBER("Decode (tokens/s)", format="%.1f"),
    "memory_kb": _NUMBER("Weights in memory (KB)", format="%.1f"),
    "memory_mb": _NUMBER("Weights in memory (MB)", format="%.1f"),
    "speedup_x": _NUMBER("Speed (x original)", format="%.2fx"),
    "size_x": _NUMBER("Size (x original)", format="%.2fx"),
    "verdict": _TEXT("Verdict"),
    "notes": _TEXT("Notes"),
}


# what a reader looks for first (a phone shows only the first columns without a scroll)
FIRST = (
    "method",
    "speedup_x",
    "size_x",
    "accuracy_pct",
    "perplexity_change_pct",
    "verdict",
)


def table_ui(rows: list[dict], key: str) -> None:
    """`rows` in a table with the headers above; a throughput column is named from its key
    ("images_per_s_at_64" -> "Images/s at batch 64")."""
    names = list(rows[0]) if rows else []
    config = {name: COLUMNS[name] for name in names if name in COLUMNS}
    for name in names:
        if name.startswith("images_per_s_at_"):
            batch = name.removeprefix("images_per_s_at_")
            config[name] = _NUMBER(f"Images/s at batch {batch}", format="%.0f")
    order = [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]
    st.dataframe(rows, hide_index=True, key=key, column_config=config, column_order=order)
