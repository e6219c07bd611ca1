"""ui's shared long-job widgets: Start/Stop states, progress, a refresh finding the job by
its id in the URL, Stop keeping the result, and the failure message with details."""

import time

from streamlit.testing.v1 import AppTest

from core import jobs


def page(fail: bool = False):
    """A one-job page written the way the tool pages use the widgets."""
    import time

    import streamlit as st

    import ui

    def work(ctx):
        step = 0
        while not ctx.should_stop():
            step += 1
            ctx.report(0.25, f"Step {step}", rate=50.0, unit="images")
            if fail:
                raise ValueError("The learning rate must be positive.")
            time.sleep(0.01)
        return step

    job = ui.job_of("demo_job")
    if ui.job_buttons_ui(job, "demo_job", "Train"):
        ui.submit_job("demo_job", work, "demo", tool="demo")
        st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui("demo_job", draw=lambda j: st.caption(f"live view of {j.name}"))
    elif job is not None and not ui.job_failed_ui(job, "Training"):
        st.success(f"Finished after {job.result} steps ({job.status}).")


def buttons(at):
    return at.button(key="demo_job_start"), at.button(key="demo_job_stop")


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_start_makes_stop_live_at_once_and_a_refresh_finds_the_job():
    at = AppTest.from_function(page, default_timeout=30).run()
    start, stop = buttons(at)
    assert not start.disabled and stop.disabled
    start.click().run()
    start, stop = buttons(at)
    assert start.disabled and not stop.disabled  # one click: Stop is live
    job_id = at.query_params["demo_job"]
    job = jobs.get(job_id)
    assert job is not None and job.active
    assert wait_for(lambda: job.progress > 0)
    at.run()
    assert "Step" in at.get("progress")[0].proto.text and "50 images/s" in (
        at.get("progress")[0].proto.text
    )
    assert at.caption[0].value == "live view of demo"

    fresh = AppTest.from_function(page, default_timeout=30)  # a refresh: new session, same URL
    fresh.query_params["demo_job"] = job_id
    fresh.run()
    start, stop = buttons(fresh)
    assert start.disabled and not stop.disabled
    stop.click().run()
    assert job.wait(5) and job.status == "stopped"
    fresh.run()
    assert fresh.success[0].value.startswith("Finished after ")
    assert "(stopped)" in fresh.success[0].value and not buttons(fresh)[0].disabled


def test_a_failed_job_shows_its_message_and_details():
    at = AppTest.from_function(page, kwargs={"fail": True}, default_timeout=30).run()
    buttons(at)[0].click().run()
    job = jobs.get(at.query_params["demo_job"])
    assert job.wait(5) and job.status == "failed"
    at.run()
    assert at.error[0].value == "Training failed: The learning rate must be positive."
    assert at.expander[0].label == "Details" and "ValueError" in at.code[0].value


def test_a_queued_job_shows_its_place_and_cancel(monkeypatch):
    monkeypatch.setenv("DASHBOARD_SLOTS_CPU", "1")
    blocker = jobs.submit(lambda ctx: ctx._job._stop.wait(10), "blocker", tool="other")
    at = AppTest.from_function(page, default_timeout=30).run()
    buttons(at)[0].click().run()
    assert "place 1 in the queue" in at.info[0].value
    stop = buttons(at)[1]
    assert stop.label == "Cancel" and not stop.disabled
    stop.click().run()
    job = jobs.get(at.query_params["demo_job"])
    assert job.status == "stopped" and job.result is None
    blocker.stop()
    assert blocker.wait(5)


def test_a_run_not_recorded_says_why_in_a_sentence():
    from streamlit.testing.v1 import AppTest

    def page():
        import ui
        from core.runs.types import Recorded

        ui.recorded_ui(Recorded(reason="NameError: name 'best' is not defined"), "Kept here.")

    at = AppTest.from_function(page).run()
    assert [w.value for w in at.warning] == [
        "Not recorded: NameError: name 'best' is not defined. Kept here."
    ]
