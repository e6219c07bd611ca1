"""Open a run: picked here or named by `?run=<id>` in the URL; its headline, links, curves,
figures, tables, settings, files to download, and delete with a confirmation step."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from core import runs, tools
from ui.compress import table
from ui.runs.curves import curves_ui
from ui.runs.listing import run_label

RUN_PARAM = tools.RUN_PARAM  # query parameter holding a run id, here and on the Train page
PICKED = "runs_open"  # the run picker's key
DELETE_PENDING = "runs_delete_pending"  # session state: the run whose deletion awaits a yes


OPEN_LINKS = {  # tool -> (the link's label, its icon): the pages that load a run back
    "cnn": ("Load this model on the Train page", ":material/upload:"),
    "chat": ("Open in Chat", ":material/chat:"),
    "business": ("Open in Business case", ":material/calculate:"),
}


def links_ui(summary: runs.RunSummary) -> None:
    """Load the model on its tool's page; the same run in the MLflow UI when there is one."""
    if summary.tool in OPEN_LINKS:  # each of these pages opens its run from `?run=<id>`
        label, icon = OPEN_LINKS[summary.tool]
        st.page_link(
            tools.tool_of(summary.tool).path,
            label=label,
            icon=icon,
            query_params={RUN_PARAM: summary.id},
        )
    url = runs.mlflow_ui_url(summary.id)
    if url:
        st.link_button("Open in the MLflow UI", url)


def artifacts_ui(detail: runs.RunDetail) -> None:
    """A download button per stored file (read from the store when pressed)."""
    for i, art in enumerate(detail.artifacts):
        size = "" if art.size is None else f" ({art.size / 1024:.1f} KiB)"
        st.download_button(
            f"{art.path}{size}",
            data=functools.partial(runs.load_artifact, detail.summary.id, art.path),
            file_name=art.path.rsplit("/", 1)[-1],
            key=f"runs_file_{i}",
            on_click="ignore",
            icon=":material/download:",
        )


def delete_ui(summary: runs.RunSummary) -> None:
    """Delete with a confirmation step."""
    if st.session_state.get(DELETE_PENDING) != summary.id:
        if st.button("Delete this run", key="runs_delete", icon=":material/delete:"):
            st.session_state[DELETE_PENDING] = summary.id
            st.rerun()
        return
    st.warning(f"Delete **{summary.name}** and its files for good?")
    yes, no = st.columns(2)
    if no.button("Cancel", key="runs_delete_cancel"):
        st.session_state.pop(DELETE_PENDING)
        st.rerun()
    if yes.button("Yes, delete", key="runs_delete_confirm", type="primary"):
        runs.delete_run(summary.id)
        st.session_state.pop(DELETE_PENDING)
        st.query_params.pop(RUN_PARAM, None)
        st.toast(f"Deleted {summary.name}.")
        st.rerun()


def _results_ui(detail: runs.RunDetail) -> None:
    """The run's figures and tables, then its settings and results, then its files."""
    for name in detail.figures:
        st.plotly_chart(detail.figure(name), key=f"runs_open_fig_{name}")
    for name, rows in detail.tables.items():
        st.markdown(f"**{name.replace('_', ' ').capitalize()}**")
        if detail.summary.tool == "compress" and name == "variants":
            table.table_ui(rows, key=f"runs_open_table_{name}")  # the Compress page's headers
        else:
            st.dataframe(pd.DataFrame(rows), hide_index=True)
    with st.expander("Settings and results"):
        st.dataframe(pd.Series(detail.params, name="value"))
        st.dataframe(pd.Series(detail.metrics, name="value"))
    with st.expander(f"Files ({len(detail.artifacts)})"):
        artifacts_ui(detail)


def run_ui(detail: runs.RunDetail) -> None:
    """One run: headline, links, curves, figures, tables, settings, files, delete."""
    s = detail.summary
    st.subheader(s.name, anchor=False)
    st.caption(
        f"{runs.TOOL_LABELS[s.tool]} - {s.status.lower()} - started {s.start:%Y-%m-%d %H:%M} UTC"
        f" - {s.host or 'unknown host'} - {s.device or 'device not recorded'} - run {s.id}"
    )
    if note := s.tags.get(runs.NOTE):  # e.g. closed by the app: its process had died
        st.warning(note)
    if warning := s.tags.get("warning"):
        st.warning(warning)
    if s.status == "RUNNING":
        st.info("Still running: its figures so far, updated as its job logs them.")
    st.metric(s.headline_label, s.headline_text)
    links_ui(s)
    curves_ui([detail], key="runs_open_curve")
    _results_ui(detail)
    delete_ui(s)


def open_tab_ui(by_id: dict[str, runs.RunSummary], wanted: str | None) -> None:
    """One run, picked here or named by `?run=<id>` in the URL (the two kept in step)."""
    if wanted in by_id and st.session_state.get(PICKED) != wanted:
        st.session_state[PICKED] = wanted
    opened = st.selectbox(
        "Run",
        list(by_id),
        index=None,
        key=PICKED,
        format_func=functools.partial(run_label, by_id),
        placeholder="Pick a run",
        on_change=lambda: st.query_params.update({RUN_PARAM: st.session_state[PICKED] or ""}),
    )
    if opened:
        run_ui(runs.get_run(opened))
