"""The jobs queued or running in this server, each with its progress, a link to its page and
a Stop (or Cancel) button for its owner or an admin."""

from __future__ import annotations

import streamlit as st

import ui
from core import jobs, runs, tools


def _job_ui(job: jobs.Job) -> None:
    """One job: its name and tool, progress, the link to its page, Stop or Cancel."""
    with st.container(border=True):
        st.markdown(f"**{job.name}** - {runs.TOOL_LABELS.get(job.tool, job.tool)}")
        st.progress(job.progress, text=ui.progress_text(job))
        left, right = st.columns([3, 1])
        page = tools.page_of(job.tool)
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


def running_now_ui(active: list[jobs.Job]) -> None:
    """The jobs queued or running in this server, with progress and a link to their page."""
    st.subheader("Running now", anchor=False)
    if not active:
        st.caption("No job is running.")
    for job in active:
        _job_ui(job)
