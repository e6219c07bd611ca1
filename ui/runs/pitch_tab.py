"""Pitch pack: the founder chooses the runs, a saved business case, the chat turns to quote
(the model's size beside them), the company name and a paragraph of their own; the pack is
built as one HTML file (and a PDF where Chromium is installed), previewed in the page and
kept in the session for download until the next build."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import streamlit as st
import streamlit.components.v1 as components

from core import runs
from core.runs import pitch
from ui.runs.listing import run_label

PACK = "runs_pitch_pack"  # session state: the last pack built in this session
PREVIEW_HEIGHT = 900  # px of the preview frame (it scrolls)
TURN_CHARS = 80  # characters of a turn shown in its picker


@dataclass(frozen=True, kw_only=True)
class Pack:
    """A pitch pack built in this session, ready to download."""

    html: str  # the whole pack, one self-contained page
    pdf: bytes | None  # printed by Chromium; None when not asked for or when printing failed
    pdf_wanted: bool  # a PDF was asked for


def _chosen_ui(summaries: dict[str, runs.RunSummary]) -> tuple[list[str], str | None]:
    """The finished runs to show and the business case (None: no case), by run id."""
    ids = [i for i, s in summaries.items() if s.tool != "business" and s.status == "FINISHED"]
    cases = [i for i, s in summaries.items() if s.tool == "business"]
    label = functools.partial(run_label, summaries)
    chosen = st.multiselect("Runs to show", ids, key="runs_pitch_runs", format_func=label)
    case = st.selectbox(
        "Business case",
        cases,
        index=None,
        key="runs_pitch_case",
        format_func=label,
        placeholder="None (save one on the Business case page)",
    )
    return chosen, case


def _turns_ui(chats: list[runs.RunDetail]) -> dict[str, list[int]]:
    """For each chosen chat, the turns to quote (its first six by default)."""
    chosen = {}
    for run in chats:
        rows = run.tables.get("transcript") or []
        if not rows:
            continue

        def label(i: int, rows: list[dict] = rows) -> str:
            return (
                f"{i + 1}. {str(rows[i].get('role', '')).capitalize()}: "
                + str(rows[i].get("content", ""))[:TURN_CHARS]
            )

        chosen[run.summary.id] = st.multiselect(
            f"Turns to quote from {pitch.sections.chat_title(run)}",
            list(range(len(rows))),
            default=list(range(min(len(rows), pitch.sections.EXCERPT_TURNS))),
            format_func=label,
            key=f"runs_pitch_turns_{run.summary.id}",
        )
    return chosen


def _build(details: list[runs.RunDetail], case: str | None, facts: dict, pdf: str, turns) -> Pack:
    """The pack of the chosen runs, read from the store, and its PDF on paper `pdf` (A4,
    Letter; "" for none)."""
    html = pitch.build(
        details,
        runs.get_run(case) if case else None,
        date=dt.date.today(),
        turns=turns,
        **facts,
    )
    return Pack(html=html, pdf=pitch.to_pdf(html, paper=pdf) if pdf else None, pdf_wanted=bool(pdf))


def pitch_tab_ui(summaries: dict[str, runs.RunSummary]) -> None:
    """Chosen runs and a saved business case -> the pitch pack as HTML (and PDF)."""
    chosen, case = _chosen_ui(summaries)
    facts = {
        "product": st.text_input("Company name", "Our AI prototype", key="runs_pitch_product"),
        "summary": st.text_area(
            "Your summary (one paragraph, on page 1)",
            key="runs_pitch_summary",
            placeholder="What the company does, for whom, and why now.",
        ),
        "hardware": st.text_input("Hardware", pitch.hardware_line(), key="runs_pitch_hardware"),
    }
    with_pdf = pitch.chromium() is not None and st.checkbox("Also a PDF", key="runs_pitch_pdf")
    paper = st.radio(
        "Paper", pitch.PAPERS, horizontal=True, key="runs_pitch_paper", disabled=not with_pdf
    )
    if not chosen and case is None:
        st.info("Pick runs (and a saved business case) to build the pack.")
        return
    details = [runs.get_run(i) for i in chosen]
    turns = _turns_ui([d for d in details if d.summary.tool == "chat"])
    if st.button("Build the pitch pack", key="runs_pitch_build", type="primary"):
        with st.spinner("Building the pack..."):
            st.session_state[PACK] = _build(details, case, facts, paper if with_pdf else "", turns)
    pack_downloads_ui(st.session_state.get(PACK))


def pack_downloads_ui(pack: Pack | None) -> None:
    """Download buttons for the last pack built in this session."""
    if pack is None:
        return
    st.download_button(
        "Download the pitch pack (HTML)",
        pack.html,
        "pitch.html",
        key="runs_pitch_html",
        on_click="ignore",
    )
    if pack.pdf is not None:
        st.download_button(
            "Download the PDF",
            pack.pdf,
            "pitch.pdf",
            key="runs_pitch_pdf_download",
            on_click="ignore",
        )
    elif pack.pdf_wanted:
        st.warning("Chromium could not print the PDF; open the HTML and use Print -> Save as PDF.")
    st.caption(
        "One HTML file that opens offline in any browser; its print layout gives clean pages."
    )
    if st.toggle(
        "Preview the pack here",
        key="runs_pitch_preview",
        help="The whole pack, plotly.js included (about 5 MB), is sent to the browser "
        "on every click while this is on.",
    ):
        components.html(pack.html, height=PREVIEW_HEIGHT, scrolling=True)
