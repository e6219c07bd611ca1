"""What a user takes away from the Business case: the CSV of inputs and results, the
one-page Markdown summary, and "Save this case" into the run store."""

from __future__ import annotations

import streamlit as st

import ui
from core.economics import exports
from core.economics.case import Case, Report
from ui.case import keep

KEPT = "The figures above are unchanged; try the downloads."  # when the store fails


def downloads_ui(case: Case, report: Report) -> None:
    """The two download buttons, side by side."""
    d1, d2 = st.columns(2)
    d1.download_button(
        "Download inputs and results (CSV)",
        exports.to_csv(exports.result_rows(case, report)),
        "business_case.csv",
        "text/csv",
        key="case_download_csv",
    )
    d2.download_button(
        "Download one-page summary (Markdown)",
        exports.summary_markdown(case, report),
        "business_case.md",
        "text/markdown",
        key="case_download_md",
    )


def save_case_ui(case: Case, report: Report) -> None:
    """'Save this case' into the run store; a store that fails says why, nothing is lost."""
    ui.save_run_ui(
        "business",
        lambda: exports.run_record(case, report, keep.current()),
        key="case_save",
        label="Save this case",
        kept=KEPT,
    )


def exports_ui(case: Case, report: Report) -> None:
    """The downloads and Save this case, once every input is accepted."""
    if not report.complete:
        st.caption("The downloads and Save this case come back once every input is accepted.")
        return
    downloads_ui(case, report)
    save_case_ui(case, report)
