"""The Compare optimizers page through AppTest: the 2-D race draws its contour and table with
tuned rates, hand-set rates and divergence show up, "Save this race" records it, and the
real-model race runs to a summary and is recorded; a race's id in the URL (also under its
old name) opens its tab."""

import pytest
from streamlit.testing.v1 import AppTest

from core.optim import race, surfaces
from tests.helpers import open_page, open_tab

JOB_KEY = "optim_model_job"
OLD_JOB_KEY = "optimizer_race_job"  # links made before the rename still work
MODEL_TAB = "On a real model (digits)"


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))  # races are recorded here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    at = open_page("pages/compare_optimizers.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def model_tab(page) -> AppTest:
    """The page on its real-model tab (only the open tab runs)."""
    open_tab(page, "optim_tab", MODEL_TAB)
    keys = [m.key for m in page.multiselect]
    assert (
        "optim_model_optimizers" in keys and "optim_2d_optimizers" not in keys
    )  # the 2-D tab did not run
    return page


def race_table(at: AppTest):
    """The results table as numbers again (the page shows text: '-' where none applies)."""
    import pandas as pd

    shown = next(d.value for d in at.dataframe if "Final loss" in d.value.columns)
    assert not shown.isin(["None", "nan"]).any().any()
    numeric = [c for c in shown.columns if c not in ("Optimizer", "Rate")]
    for column in numeric:
        shown[column] = pd.to_numeric(shown[column].replace("-", None))
    return shown


def recorded_link(at: AppTest) -> str:
    """The label of the one link to a recorded run (ui.recorded_ui)."""
    (link,) = [p for p in at.get("page_link") if p.proto.label.startswith("Recorded as run")]
    return link.proto.label


def test_default_race_is_tuned_and_drawn(page):
    table = race_table(page)
    names = ["SGD", "SGD + momentum", "Nesterov", "RMSprop", "Adam", "Lion"]
    assert list(table["Optimizer"]) == names
    assert set(table["Rate"]) == {"tuned"}
    expected = race.run_race(
        surfaces.SURFACES["Rosenbrock"], (-1.5, 2.0), names, 500, race.lr_grid()
    )
    assert list(table["Learning rate"]) == pytest.approx([expected.lrs[n] for n in names], 1e-2)
    charts = page.get("plotly_chart")
    assert len(charts) >= 3  # paths, loss curves, sensitivity


def test_hand_set_rate_and_divergence_are_reported(page):
    page.number_input(key="optim_lr_SGD").set_value(1.0).run()
    table = race_table(page)
    row = table[table["Optimizer"] == "SGD"].iloc[0]
    assert row["Rate"] == "by hand" and row["Learning rate"] == 1.0
    assert row["Diverged at step"] > 0
    assert any("Diverged" in w.value and "SGD" in w.value for w in page.warning)


def test_other_functions_and_the_quadratic_slider(page):
    page.selectbox(key="optim_function").set_value("Quadratic").run()
    page.select_slider(key="optim_condition").set_value(100).run()
    assert not page.exception
    table = race_table(page)
    assert table["Final loss"].min() < 1e-3
    page.selectbox(key="optim_function").set_value("Saddle").run()
    assert not page.exception
    assert race_table(page)["Distance to nearest minimum"].isna().all()


def test_no_optimizer_selected_says_so(page):
    page.multiselect(key="optim_2d_optimizers").set_value([]).run()
    assert any("Pick at least one optimizer" in i.value for i in page.info)


def test_real_model_race_runs_to_a_summary(model_tab):
    page = model_tab
    page.multiselect(key="optim_model_optimizers").set_value(["Adam", "SGD"])
    page.number_input(key="optim_model_seeds").set_value(2)
    page.number_input(key="optim_model_epochs").set_value(2)
    page.multiselect(key="optim_model_mults").set_value([1.0, 10.0])
    page.button(key="optim_model_job_start").click().run()
    job = page.session_state[JOB_KEY]
    assert job.wait(300)  # the first record creates the MLflow store: slow on a busy machine
    page.run()
    assert not page.exception
    assert any("runs in" in s.value for s in page.success)
    summary = next(d.value for d in page.dataframe if "Best learning rate" in d.value.columns)
    assert list(summary["Optimizer"]) == ["Adam", "SGD"]
    assert (summary["Val accuracy (mean)"] > 0.5).all()
    assert list(summary["Seeds"]) == [2, 2]
    from core import runs

    (recorded,) = runs.list_runs(tool="optimizers")
    assert recorded.id == job.result.recorded.run_id
    assert recorded_link(page) == f"Recorded as run {recorded.id}: open it on the Runs page"
    assert set(runs.get_run(recorded.id).figures) == {"loss_by_step", "loss_by_seconds"}
    curves = [c for c in page.get("plotly_chart") if "Loss against" in c.proto.spec]
    assert len(curves) == 1 and "Loss against step" in curves[0].proto.spec
    page.segmented_control(key="optim_model_x").set_value("training seconds").run()
    curves = [c for c in page.get("plotly_chart") if "Loss against" in c.proto.spec]
    assert len(curves) == 1 and "Loss against training seconds" in curves[0].proto.spec


def test_start_makes_stop_live_at_once_and_a_stop_keeps_finished_runs(model_tab):
    page = model_tab
    page.multiselect(key="optim_model_optimizers").set_value(["Adam", "SGD"])
    page.number_input(key="optim_model_seeds").set_value(2)
    page.number_input(key="optim_model_epochs").set_value(6)
    page.multiselect(key="optim_model_mults").set_value([1.0, 3.0, 10.0])
    page.button(key="optim_model_job_start").click().run()
    assert not page.button(key="optim_model_job_stop").disabled
    assert page.button(key="optim_model_job_start").disabled
    job = page.session_state[JOB_KEY]
    while not job.metrics() and not job.wait(0.05):
        pass
    page.button(key="optim_model_job_stop").click().run()
    assert job.wait(60)
    page.run()
    assert not page.exception
    finished = list(dict.fromkeys(row["optimizer"] for row in job.metrics()))
    assert finished, "the race ended before Stop: nothing to check"
    assert any("Stopped after" in w.value and "finished runs" in w.value for w in page.warning)
    summary = next(d.value for d in page.dataframe if "Best learning rate" in d.value.columns)
    assert list(summary["Optimizer"]) == finished
    assert summary["Rates tried"].sum() + (summary["Seeds"] - 1).sum() == len(job.metrics())


def test_settings_survive_a_visit_to_the_other_tab(page):
    """Only the open tab runs; the other tab's widgets keep their values meanwhile."""
    page.selectbox(key="optim_function").set_value("Quadratic").run()
    page.slider(key="optim_steps").set_value(120).run()
    open_tab(page, "optim_tab", MODEL_TAB)
    assert "optim_function" not in [b.key for b in page.selectbox]  # the 2-D tab did not run
    page.number_input(key="optim_model_epochs").set_value(3).run()
    open_tab(page, "optim_tab", "On 2-D surfaces")
    assert (
        page.selectbox(key="optim_function").value == "Quadratic"
        and page.slider(key="optim_steps").value == 120
    )
    open_tab(page, "optim_tab", MODEL_TAB)
    assert page.number_input(key="optim_model_epochs").value == 3


def test_a_race_in_the_url_opens_its_tab(tmp_path, monkeypatch):
    """A refresh during a race (a new session, the race's id in the URL, under its name or
    the one it had before) lands on its tab; an id the server no longer knows (say, after a
    restart) does not."""
    import threading

    from core import jobs
    from tests.helpers import APP

    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    release = threading.Event()
    job = jobs.submit(lambda ctx: release.wait(60), "optimizer race", tool="optimizers")
    try:
        for key, job_id, tab in (
            (JOB_KEY, job.id, MODEL_TAB),
            (OLD_JOB_KEY, job.id, MODEL_TAB),
            (JOB_KEY, "no-such-job", "On 2-D surfaces"),
        ):
            at = AppTest.from_file(APP, default_timeout=120)
            at.query_params[key] = job_id
            at.run()
            at.switch_page("pages/compare_optimizers.py").run()
            assert not at.exception
            assert at.session_state["optim_tab"] == tab
            if job_id == job.id:
                assert at.session_state[JOB_KEY] is job
    finally:
        release.set()
        job.wait(60)


def test_save_this_race_records_the_2d_race(page):
    from core import runs

    page.button(key="optim_save_2d").click().run()
    (run,) = runs.list_runs(tool="optimizers")
    assert recorded_link(page) == f"Recorded as run {run.id}: open it on the Runs page"
    detail = runs.get_run(run.id)
    assert "Rosenbrock" in run.name and detail is not None


def test_a_start_at_the_minimum_is_explained(page):
    page.number_input(key="optim_start_x_Rosenbrock").set_value(1.0)
    page.number_input(key="optim_start_y_Rosenbrock").set_value(1.0).run()
    assert any("The start is a global minimum" in i.value for i in page.info)
