"""The long-job widgets every tool page shares: Start and Stop with the right states, the
polling fragment (progress, ETA, speed, the page's live drawing), the queue place, and the
failure message with its details.

A job is kept in the session and its id in the URL (`?<key>=<id>`), so a refresh, a second
tab or a link from the Runs page finds the running job again: it belongs to the server.

    job = ui.job_of(KEY)
    if ui.job_buttons_ui(job, KEY, "Train"):
        ui.keep_job(KEY, jobs.submit(target, "train cnn", tool="cnn", device=device))
        st.rerun()  # so Stop is live at once
    if job is not None and job.active:
        ui.job_progress_ui(KEY, draw=live_curves)
    elif job is not None and not ui.job_failed_ui(job, "Training"):
        results_ui(job.result)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from core import jobs, tools, units

if TYPE_CHECKING:  # the run store's package stays unloaded until something is recorded
    from core.runs.types import Recorded, RunRecord


def job_of(key: str, legacy: tuple[str, ...] = ()) -> jobs.Job | None:
    """This session's job under `key`, or the one whose id is in the URL (after a refresh)
    under `key` or an older name of it in `legacy` (a link someone bookmarked)."""
    job = st.session_state.get(key)
    names = (key, *legacy)
    job_id = next((st.query_params[n] for n in names if st.query_params.get(n)), None)
    if job is None and job_id:
        job = jobs.get(job_id)
        if job is not None:
            st.session_state[key] = job
        else:
            ended_job_ui(job_id)
    return job


def ended_job_ui(job_id: str) -> None:
    """For a job id this server does not know (it restarted since): say so, and link the
    job's run when the store has one (tagged with the job's id)."""
    import os

    from core.runs import owner

    started = owner.process_started(os.getpid())
    since = f" (restart at {owner.when(started)})" if started else ""
    st.info(f"This job ended with the server{since}: it is no longer running here.")
    from core import runs  # MLflow loads only for such an old link

    try:
        run = runs.run_of_job(job_id)
    except runs.StoreError as err:
        st.caption(f"Its run could not be looked up: {err}")
        return
    if run is None:
        st.caption("The run store has no run of it.")
        return
    st.page_link(
        tools.RUNS_PAGE,
        label=f"Its run {run.id} ({run.status.lower()}): open it on the Runs page",
        icon=":material/history:",
        query_params={tools.RUN_PARAM: run.id},
    )


def keep_job(key: str, job: jobs.Job) -> None:
    """Remember `job` for this session and put its id in the URL."""
    st.session_state[key] = job
    st.query_params[key] = job.id


def forget_job(key: str) -> None:
    """Drop the session's job under `key` (the job itself runs on)."""
    st.session_state.pop(key, None)
    st.query_params.pop(key, None)


def owner() -> str:
    """Who starts jobs from this browser session: the signed-in user, else the session."""
    user = getattr(st, "user", None)
    if user is not None and user.get("is_logged_in") and user.get("email"):
        return str(user["email"])
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


def submit_job(key: str, target: Callable, name: str, **options) -> jobs.Job | None:
    """Submit a job for this session (see core.jobs.submit) and keep it under `key`; shows the
    refusal and returns None when the queue will not take it."""
    options["meta"] = {"page_key": key, **options.get("meta", {})}  # Runs page links back
    try:
        job = jobs.submit(target, name, owner=owner(), **options)
    except jobs.JobRefused as err:
        st.warning(str(err))
        return None
    keep_job(key, job)
    return job


def job_buttons_ui(
    job: jobs.Job | None, key: str, label: str = "Start", disabled: bool = False, help: str = ""
) -> bool:
    """Start and Stop (Cancel while queued) side by side; True when Start was pressed.

    Widget keys: `<key>_start` and `<key>_stop`.
    """
    active = job is not None and job.active
    row = st.container(horizontal=True)  # each button as wide as its label
    pressed = row.button(
        label, type="primary", disabled=active or disabled, key=f"{key}_start", help=help or None
    )
    stop_label = "Cancel" if job is not None and job.status == "queued" else "Stop"
    if row.button(stop_label, disabled=not active, key=f"{key}_stop", help="Keeps what is done."):
        job.stop()
    return pressed


def progress_text(job: jobs.Job) -> str:
    """'Epoch 3 of 15 - 40% - 1,234 images/s - about 12 s left'."""
    parts = [job.message or "Starting", f"{job.progress:.0%}"]
    if job.rate is not None:
        value, unit = job.rate
        parts.append(units.rate(value, f"{unit}/s"))
    if job.eta is not None:
        parts.append(f"about {_duration(job.eta)} left")
    return " - ".join(parts)


def _duration(seconds: float) -> str:
    """'12 s', '3 min 5 s', '1 h 2 min'."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def rerun_part() -> None:
    """Rerun only the fragment this is called from when it runs on its own (a widget in it
    was used), else the whole page: a page can keep a job's controls in a fragment so that
    Start and Stop do not redraw (and recompute) the rest of the page."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:  # a full-page run, or not in a fragment
        st.rerun()


def _poll(key: str, every: float) -> None:
    job = job_of(key)
    if job is None or not job.active:
        st.rerun()  # the whole page draws the finished job once
    if job.status == "queued":
        st.info(
            f"Waiting for the {job.device.upper()} - place {job.position or 1} in the queue. "
            "It starts by itself; Cancel takes it out."
        )
        return
    st.progress(job.progress, text=progress_text(job))
    # about to end (its evaluation may follow the last step): wait for it until the next
    # poll would come anyway, so its results show at once, not up to a poll later
    if job.eta is not None and job.eta < every and job.wait(every):
        st.rerun()


def _draw(key: str, draw: Callable[[jobs.Job], None]) -> None:
    job = job_of(key)
    if job is not None and job.running:
        draw(job)


_pollers: dict[float, Callable] = {}  # one fragment per polling interval
_drawers: dict[float, Callable] = {}  # and one per drawing interval


def job_progress_ui(
    key: str,
    draw: Callable[[jobs.Job], None] | None = None,
    every: float = 1.0,
    draw_every: float | None = None,
) -> None:
    """Poll the job under `key` every `every` s: queue place or progress, ETA, speed; the
    whole page reruns once the job ends (at once when it ends between two polls). Every
    `draw_every` s (default 5 x `every`) `draw(job)` draws the page's live view.

    The live view is drawn less often because the browser's redraw is not free: on a
    2-core machine, redrawing two live charts every second slowed a 2.5 s training run
    beside it by a third (page wall time 3.4-3.8 s against 2.55 s without them)."""
    poller = _pollers.setdefault(every, st.fragment(_poll, run_every=every))
    poller(key, every)
    if draw is not None:
        draw_every = draw_every or 5 * every
        drawer = _drawers.setdefault(draw_every, st.fragment(_draw, run_every=draw_every))
        drawer(key, draw)


def live_lines_ui(rows: list[dict], x: str, ys: dict[str, str], title: str, where=st) -> None:
    """Line chart of `rows` (one line per column in `ys`: column -> legend name) for a job's
    live view: a Vega-Lite spec with the rows inline, so the server builds no Altair chart
    or DataFrame for it (what st.line_chart does). Most of a live chart's cost is the
    browser's redraw, which is why job_progress_ui draws it only every few polls."""
    values = [
        {x: row[x], "series": name, "value": row[column]}
        for row in rows
        for column, name in ys.items()
        if row.get(column) is not None
    ]
    spec = {
        "title": title,
        "data": {"values": values},
        "mark": {"type": "line", "point": len(rows) < 30},
        "encoding": {
            "x": {"field": x, "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative", "title": None},
            "color": {"field": "series", "type": "nominal", "title": None},
        },
    }
    where.vega_lite_chart(spec, height=240)


def job_failed_ui(job: jobs.Job, what: str) -> bool:
    """For a job that has ended: the failure with a Details expander (True), or a note when a
    time limit stopped it (False: its results are still shown)."""
    if job.status == "failed":
        st.error(f"{what} failed: {jobs.describe(job.error)}")
        with st.expander("Details"):
            st.code(job.details or "", language=None)
        return True
    if job.stop_reason:
        st.warning(job.stop_reason)
    return False


def recorded_ui(recorded: Recorded, kept: str = "Nothing else is lost.", where=st) -> None:
    """Where a run went, in the same words on every page: its id with a link that opens it on
    the Runs page, or why it was not recorded and what the user still has (`kept`)."""
    if recorded.ok:
        where.page_link(
            tools.RUNS_PAGE,
            label=f"Recorded as run {recorded.run_id}: open it on the Runs page",
            icon=":material/history:",
            query_params={tools.RUN_PARAM: recorded.run_id},
        )
    else:
        reason = recorded.reason.strip()
        reason += "" if reason.endswith((".", "!", "?")) else "."
        where.warning(f"Not recorded: {reason} {kept}")


def save_run_ui(
    kind: str, build: Callable[[], RunRecord], key: str, label: str, kept: str
) -> Recorded | None:
    """A "Save this ..." button that records `build()` as a run of `kind`; what came of it
    stays shown (under `key`) until the next save. A store that fails loses nothing."""
    if st.button(label, key=key, help="Records it in the run store (Runs page)."):
        from core import runs  # the run store's package loads on the first save, not before

        st.session_state[f"{key}_recorded"] = runs.try_record(kind, build())
    recorded = st.session_state.get(f"{key}_recorded")
    if recorded is not None:
        recorded_ui(recorded, kept)
    return recorded
