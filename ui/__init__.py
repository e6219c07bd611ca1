"""Widgets every page shares, re-exported so a page writes `ui.session_device()`.

Re-exports only; never imports a tool package, so Home stays light. Tool widgets live in
`ui/<tool>/` and pages import them from there.
"""

from core.tools import TOOLS
from ui.access import is_admin, require_login
from ui.jobs import (
    forget_job,
    job_buttons_ui,
    job_failed_ui,
    job_of,
    job_progress_ui,
    keep_job,
    live_lines_ui,
    owner,
    progress_text,
    recorded_ui,
    rerun_part,
    save_run_ui,
    submit_job,
)
from ui.shell import (
    DEVICE_KEY,
    MEASUREMENTS_KEY,
    SAVINGS_KEY,
    TOUR,
    Measurement,
    Saving,
    measurements,
    record_measurement,
    record_saving,
    require_navigation,
    savings,
    session_device,
    sidebar_ui,
    upload_bytes,
)

__all__ = [
    "DEVICE_KEY",
    "MEASUREMENTS_KEY",
    "SAVINGS_KEY",
    "TOOLS",
    "TOUR",
    "Measurement",
    "Saving",
    "forget_job",
    "is_admin",
    "job_buttons_ui",
    "job_failed_ui",
    "job_of",
    "job_progress_ui",
    "keep_job",
    "live_lines_ui",
    "measurements",
    "owner",
    "progress_text",
    "record_measurement",
    "record_saving",
    "recorded_ui",
    "require_login",
    "require_navigation",
    "rerun_part",
    "savings",
    "save_run_ui",
    "session_device",
    "sidebar_ui",
    "submit_job",
    "upload_bytes",
]
