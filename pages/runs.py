"""Runs: every run the tools recorded (MLflow), filtered, compared and opened; the jobs running
now; and the pitch pack built from chosen runs.

Widgets -> `core.runs` (list, get, delete) -> tables and plotly charts redrawn from the store.
`?run=<id>` opens that run here; CNN runs link to the Train page with the same parameter.
"""

import datetime as dt
import functools

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from core import jobs, runs
from core.runs import pitch

RUN_PARAM = "run"  # query parameter holding a run id, here and on the Train page
MAX_COMPARE = 5  # runs compared at once
TOOL_PAGES = {  # where each tool's jobs and models live
    "cnn": "pages/train_cnn.py",
    "gpt2": "pages/chat_gpt2.py",
    "chat": "pages/chat_gpt2.py",
    "optimizers": "pages/compare_optimizers.py",
    "business": "pages/business_case.py",
}
ANY = "Any"


def running_now_ui(active: list[jobs.Job]) -> None:
    """The jobs queued or running in this server, with progress and a link to their page."""
    st.subheader("Running now", anchor=False)
    if not active:
        st.caption("No job is running.")
    for job in active:
        with st.container(border=True):
            st.markdown(f"**{job.name}** - {runs.TOOL_LABELS.get(job.tool, job.tool)}")
            st.progress(job.progress, text=ui.progress_text(job))
            left, right = st.columns([3, 1])
            page = TOOL_PAGES.get(job.tool)
            if page:
                key = job.meta.get("page_key")
                query = {key: job.id} if key else None
                left.page_link(page, label="Follow it on its page", query_params=query)
            mine = job.owner == ui.owner()
            if right.button(
                "Stop" if job.status == "running" else "Cancel",
                key=f"runs_stop_{job.id}",
                disabled=not (mine or ui.is_admin()),
                help=None if mine else "Only admins may stop another person's job.",
            ):
                job.stop()
                st.rerun()


def filters_ui() -> tuple[str | None, str | None, dt.date | None]:
    """Tool, status and start-date filters; None where any is fine."""
    c1, c2, c3 = st.columns(3)
    tool = c1.selectbox(
        "Tool",
        [ANY, *runs.TOOLS],
        key="runs_tool",
        format_func=lambda t: runs.TOOL_LABELS.get(t, "All tools"),
    )
    status = c2.selectbox("Status", [ANY, *runs.STATUSES], key="runs_status")
    since = c3.date_input("Started on or after", value=None, key="runs_since")
    return (None if tool == ANY else tool), (None if status == ANY else status), since


def runs_frame(rows: list[runs.RunSummary]) -> pd.DataFrame:
    """One line per run, newest first, with its tool's headline figure: under the figure's
    own name when all runs are of one tool, as 'Test accuracy 97.5 %' otherwise."""
    one_tool = len({r.tool for r in rows}) == 1
    result = rows[0].headline_label if one_tool else "Result"
    table = [
        {
            "Name": r.name,
            result: r.headline_text if one_tool else f"{r.headline_label} {r.headline_text}",
            "Tool": runs.TOOL_LABELS[r.tool],
            "Started (UTC)": r.start.strftime("%Y-%m-%d %H:%M"),
            "Status": r.status.lower(),
            "Device": r.device or "-",
            "Run id": r.id,
        }
        for r in rows
    ]
    return pd.DataFrame(table)


def run_label(summaries: dict[str, runs.RunSummary], run_id: str) -> str:
    """'digits 3 blocks (Train a CNN, 2026-11-25 14:20)' for a picker."""
    r = summaries[run_id]
    return f"{r.name} ({runs.TOOL_LABELS[r.tool]}, {r.start:%Y-%m-%d %H:%M})"


def curves_figure(details: list[runs.RunDetail], metric: str) -> go.Figure:
    """`metric` against step, one line per run."""
    fig = go.Figure()
    for d in details:
        points = d.history.get(metric, [])
        steps, values = [s for s, _ in points], [v for _, v in points]
        fig.add_scatter(x=steps, y=values, mode="lines+markers", name=d.summary.name)
    fig.update_layout(
        title=metric,
        height=340,
        margin={"t": 50, "b": 30},
        xaxis_title="step",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def differing(details: list[runs.RunDetail], field: str) -> pd.DataFrame:
    """The params (or metrics) whose values differ between runs: one column per run."""
    columns = {f"{d.summary.name} [{d.summary.id[:6]}]": getattr(d, field) for d in details}
    keys = sorted(set().union(*columns.values()))
    rows = {k: [values.get(k, "-") for values in columns.values()] for k in keys}
    changed = {k: v for k, v in rows.items() if len({str(x) for x in v}) > 1}
    return pd.DataFrame.from_dict(changed, orient="index", columns=list(columns))


def charts_ui(figures: dict[str, go.Figure]) -> None:
    """Plotly charts two to a row; the dict keys are their element keys."""
    items = list(figures.items())
    for i in range(0, len(items), 2):
        for col, (key, fig) in zip(st.columns(2), items[i : i + 2]):  # noqa: B905 - odd count
            col.plotly_chart(fig, key=key)


def compare_ui(details: list[runs.RunDetail]) -> None:
    """Curves overlaid, what differs in the configs and results, figures side by side."""
    metrics = sorted(set().union(*(d.history for d in details)))
    charts_ui({f"cmp_curve_{m}": curves_figure(details, m) for m in metrics})
    st.markdown("**Settings that differ**")
    diff = differing(details, "params")
    if len(diff):
        st.dataframe(diff)
    else:
        st.caption("The runs have the same settings.")
    st.markdown("**Results**")
    st.dataframe(differing(details, "metrics"))
    for name in sorted(set().union(*(d.figures for d in details))):
        st.markdown(f"**{name}**")
        for col, d in zip(st.columns(len(details)), details, strict=True):
            col.caption(d.summary.name)
            if name in d.figures:
                col.plotly_chart(d.figure(name), key=f"cmp_fig_{name}_{d.summary.id}")


def links_ui(summary: runs.RunSummary) -> None:
    """Load the model on its tool's page; the same run in the MLflow UI when there is one."""
    if summary.tool == "cnn":
        st.page_link(
            TOOL_PAGES["cnn"],
            label="Load this model on the Train page",
            icon=":material/upload:",
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
            key=f"art_{i}",
            on_click="ignore",
            icon=":material/download:",
        )


def delete_ui(summary: runs.RunSummary) -> None:
    """Delete with a confirmation step."""
    if st.session_state.get("delete_pending") != summary.id:
        if st.button("Delete this run", key="run_delete", icon=":material/delete:"):
            st.session_state["delete_pending"] = summary.id
            st.rerun()
        return
    st.warning(f"Delete **{summary.name}** and its files for good?")
    yes, no = st.columns(2)
    if no.button("Cancel", key="run_delete_cancel"):
        st.session_state.pop("delete_pending")
        st.rerun()
    if yes.button("Yes, delete", key="run_delete_confirm", type="primary"):
        runs.delete_run(summary.id)
        st.session_state.pop("delete_pending")
        st.query_params.pop(RUN_PARAM, None)
        st.toast(f"Deleted {summary.name}.")
        st.rerun()


def run_ui(detail: runs.RunDetail) -> None:
    """One run: headline, links, curves, figures, tables, settings, files, delete."""
    s = detail.summary
    st.subheader(s.name, anchor=False)
    st.caption(
        f"{runs.TOOL_LABELS[s.tool]} - {s.status.lower()} - started {s.start:%Y-%m-%d %H:%M} UTC"
        f" - {s.host or 'unknown host'} - {s.device or 'device not recorded'} - run {s.id}"
    )
    st.metric(s.headline_label, s.headline_text)
    links_ui(s)
    charts_ui({f"run_curve_{m}": curves_figure([detail], m) for m in sorted(detail.history)})
    for name in detail.figures:
        st.plotly_chart(detail.figure(name), key=f"run_fig_{name}")
    for name, rows in detail.tables.items():
        st.markdown(f"**{name}**")
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    with st.expander("Settings and results"):
        st.dataframe(pd.Series(detail.params, name="value"))
        st.dataframe(pd.Series(detail.metrics, name="value"))
    with st.expander(f"Files ({len(detail.artifacts)})"):
        artifacts_ui(detail)
    delete_ui(s)


def pitch_ui(summaries: dict[str, runs.RunSummary]) -> None:
    """Chosen runs and a saved business case -> the pitch pack as HTML (and PDF)."""
    ids = [i for i, s in summaries.items() if s.tool != "business" and s.status == "FINISHED"]
    cases = [i for i, s in summaries.items() if s.tool == "business"]
    label = functools.partial(run_label, summaries)
    chosen = st.multiselect("Runs to show", ids, key="pitch_runs", format_func=label)
    case = st.selectbox(
        "Business case",
        cases,
        index=None,
        key="pitch_case",
        format_func=label,
        placeholder="None (save one on the Business case page)",
    )
    product = st.text_input("Product name", "Our AI prototype", key="pitch_product")
    hardware = st.text_input("Hardware", pitch.hardware_line(), key="pitch_hardware")
    with_pdf = pitch.chromium() is not None and st.checkbox("Also a PDF", key="pitch_pdf")
    if not chosen and case is None:
        st.info("Pick runs (and a saved business case) to build the pack.")
        return
    if st.button("Build the pitch pack", key="pitch_build", type="primary"):
        with st.spinner("Building the pack..."):
            html = pitch.build(
                [runs.get_run(i) for i in chosen],
                runs.get_run(case) if case else None,
                product=product,
                hardware=hardware,
                date=dt.date.today(),
            )
            pdf = pitch.to_pdf(html) if with_pdf else None
        st.session_state["pitch_pack"] = (html, pdf, with_pdf)
    pack_downloads_ui(st.session_state.get("pitch_pack"))


def pack_downloads_ui(pack: tuple[str, bytes | None, bool] | None) -> None:
    """Download buttons for the last pack built in this session."""
    if pack is None:
        return
    html, pdf, pdf_wanted = pack
    st.download_button(
        "Download the pitch pack (HTML)", html, "pitch.html", key="pitch_html", on_click="ignore"
    )
    if pdf is not None:
        st.download_button(
            "Download the PDF", pdf, "pitch.pdf", key="pitch_pdf_download", on_click="ignore"
        )
    elif pdf_wanted:
        st.warning("Chromium could not print the PDF; open the HTML and use Print -> Save as PDF.")
    st.caption(
        "One HTML file that opens offline in any browser; its print layout gives clean pages."
    )


def compare_tab_ui(by_id: dict[str, runs.RunSummary]) -> None:
    """Pick 2-5 runs of one tool and compare them."""
    picked = st.multiselect(
        f"Pick 2 to {MAX_COMPARE} runs of one tool",
        list(by_id),
        key="compare_runs",
        max_selections=MAX_COMPARE,
        format_func=functools.partial(run_label, by_id),
    )
    if len({by_id[i].tool for i in picked}) > 1:
        st.warning("Compare runs of one tool at a time.")
    elif len(picked) < 2:
        st.info("Pick at least two runs.")
    else:
        compare_ui([runs.get_run(i) for i in picked])


def open_tab_ui(by_id: dict[str, runs.RunSummary], wanted: str | None) -> None:
    """One run, picked here or named by `?run=<id>` in the URL (the two kept in step)."""
    if wanted in by_id and st.session_state.get("run_open") != wanted:
        st.session_state["run_open"] = wanted
    opened = st.selectbox(
        "Run",
        list(by_id),
        index=None,
        key="run_open",
        format_func=functools.partial(run_label, by_id),
        placeholder="Pick a run",
        on_change=lambda: st.query_params.update({RUN_PARAM: st.session_state["run_open"] or ""}),
    )
    if opened:
        run_ui(runs.get_run(opened))


def list_or_stop(tool: str | None, status: str | None, since: dt.date | None) -> list:
    """The runs that match, newest first; a message and the page ends when none can be read."""
    try:
        with st.spinner("Opening the run store..."):  # the first call in a process imports MLflow
            listed = runs.list_runs(tool=tool, status=status, since=since)
    except runs.StoreError as err:
        st.error(f"{err}  \nThe tools still work; their runs are not recorded until this is fixed.")
        st.stop()
    if not listed:
        st.info("No runs match. Train a CNN, race optimizers, or save a chat or a business case.")
        st.stop()
    return listed


ui.require_navigation()
st.title("Runs")
st.caption(f"Every run the tools recorded, in the MLflow store `{runs.tracking_uri()}`.")
running_now_ui(jobs.active())
st.subheader("Recorded runs", anchor=False)
listed = list_or_stop(*filters_ui())
by_id = {r.id: r for r in listed}
st.dataframe(runs_frame(listed), hide_index=True)
compare_tab, open_tab, pitch_tab = st.tabs(["Compare", "Open a run", "Pitch pack"])
try:
    with compare_tab:
        compare_tab_ui(by_id)
    with open_tab:
        open_tab_ui(by_id, st.query_params.get(RUN_PARAM))
    with pitch_tab:
        pitch_ui(by_id)
except runs.StoreError as err:
    st.error(str(err))
