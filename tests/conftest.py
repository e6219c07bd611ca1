"""Shared test set-up."""

import os
import tempfile

import pytest
from hypothesis import settings
from streamlit.runtime.pages_manager import PagesManager

# CI (CI=true) replays the same property-test inputs every run, so whether a submission lands
# depends on its code, not on which random inputs a run happened to draw; everywhere else
# each run explores new ones (and the failures they find are pinned with @example).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

# Everything the app writes during the tests (run store, models, data sets) goes to a
# throw-away home folder, never the user's ~/.cache; servers the tests start inherit it.
os.environ["DASHBOARD_HOME"] = tempfile.mkdtemp(prefix="dashboard-tests-")
os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch):
    """Run AppTest the way a live server runs after its first page view.

    A live server leaves Streamlit's legacy pages/-folder mode for good once app.py has
    called st.navigation (ui.require_navigation covers the very first view). AppTest resets
    that mode before every run, so each rerun would first execute the page alone, then
    rerun through app.py, losing button clicks and the sidebar on the way. Start every
    PagesManager in navigation mode, as the server is.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def no_job_outlives_its_test():
    """Stop every job a test left queued or running, so the next test's jobs are not queued
    behind it (the CPU lane runs one job at a time)."""
    yield
    from core import jobs

    for job in jobs.active():
        job.stop()
    for job in jobs.active():
        job.wait(30)
