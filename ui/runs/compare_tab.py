"""Compare: 2 to 5 runs of one tool, their curves overlaid, the settings and results that
differ, and their figures side by side."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from core import runs
from ui.runs.curves import curves_ui
from ui.runs.listing import run_label

MAX_COMPARE = 5  # runs compared at once


def differing(details: list[runs.RunDetail], field: str) -> pd.DataFrame:
    """The params (or metrics) whose values differ between runs: one column per run."""
    columns = {f"{d.summary.name} [{d.summary.id[:6]}]": getattr(d, field) for d in details}
    keys = sorted(set().union(*columns.values()))
    rows = {k: [values.get(k, "-") for values in columns.values()] for k in keys}
    changed = {k: v for k, v in rows.items() if len({str(x) for x in v}) > 1}
    return pd.DataFrame.from_dict(changed, orient="index", columns=list(columns))


def _figures_ui(details: list[runs.RunDetail]) -> None:
    """Each stored figure with the runs side by side, where a run has it."""
    for name in sorted(set().union(*(d.figures for d in details))):
        st.markdown(f"**{name}**")
        for col, d in zip(st.columns(len(details)), details, strict=True):
            col.caption(d.summary.name)
            if name in d.figures:
                col.plotly_chart(d.figure(name), key=f"runs_compare_fig_{name}_{d.summary.id}")


def compare_ui(details: list[runs.RunDetail]) -> None:
    """Curves overlaid, what differs in the configs and results, figures side by side."""
    curves_ui(details, key="runs_compare_curve")
    st.markdown("**Settings that differ**")
    diff = differing(details, "params")
    if len(diff):
        st.dataframe(diff)
    else:
        st.caption("The runs have the same settings.")
    st.markdown("**Results**")
    st.dataframe(differing(details, "metrics"))
    _figures_ui(details)


def compare_tab_ui(by_id: dict[str, runs.RunSummary]) -> None:
    """Pick 2-5 runs of one tool and compare them."""
    picked = st.multiselect(
        f"Pick 2 to {MAX_COMPARE} runs of one tool",
        list(by_id),
        key="runs_compare",
        max_selections=MAX_COMPARE,
        format_func=functools.partial(run_label, by_id),
    )
    if len({by_id[i].tool for i in picked}) > 1:
        st.warning("Compare runs of one tool at a time.")
    elif len(picked) < 2:
        st.info("Pick at least two runs.")
    else:
        compare_ui([runs.get_run(i) for i in picked])
