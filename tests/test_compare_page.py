"""The Compare optimizers page through AppTest: the 2-D race draws its contour and table with
tuned rates, hand-set rates and divergence show up, and the real-model race runs to a summary."""

import pytest
from streamlit.testing.v1 import AppTest

from core import optimizers, surfaces
from tests.helpers import open_page

JOB_KEY = "optimizer_race_job"


@pytest.fixture
def page() -> AppTest:
    at = open_page("pages/compare_optimizers.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def race_table(at: AppTest):
    return next(d.value for d in at.dataframe if "Final loss" in d.value.columns)


def test_default_race_is_tuned_and_drawn(page):
    table = race_table(page)
    names = ["SGD", "SGD + momentum", "Nesterov", "RMSprop", "Adam", "Lion"]
    assert list(table["Optimizer"]) == names
    assert set(table["Rate"]) == {"tuned"}
    expected = optimizers.race(
        surfaces.SURFACES["Rosenbrock"], (-1.5, 2.0), names, 500, optimizers.lr_grid()
    )
    assert list(table["Learning rate"]) == [expected.lrs[n] for n in names]
    charts = page.get("plotly_chart")
    assert len(charts) >= 3  # paths, loss curves, sensitivity


def test_hand_set_rate_and_divergence_are_reported(page):
    page.number_input(key="lr_SGD").set_value(1.0).run()
    table = race_table(page)
    row = table[table["Optimizer"] == "SGD"].iloc[0]
    assert row["Rate"] == "by hand" and row["Learning rate"] == 1.0
    assert row["Diverged at step"] > 0
    assert any("Diverged" in w.value and "SGD" in w.value for w in page.warning)


def test_other_functions_and_the_quadratic_slider(page):
    page.selectbox(key="fn").set_value("Quadratic").run()
    page.select_slider(key="kappa").set_value(100).run()
    assert not page.exception
    table = race_table(page)
    assert table["Final loss"].min() < 1e-3
    page.selectbox(key="fn").set_value("Saddle").run()
    assert not page.exception
    assert race_table(page)["Distance to nearest minimum"].isna().all()


def test_no_optimizer_selected_says_so(page):
    page.multiselect(key="opts_2d").set_value([]).run()
    assert any("Pick at least one optimizer" in i.value for i in page.info)


def test_real_model_race_runs_to_a_summary(page):
    page.multiselect(key="opts_model").set_value(["Adam", "SGD"])
    page.number_input(key="seeds").set_value(2)
    page.number_input(key="epochs").set_value(2)
    page.multiselect(key="mults").set_value([1.0, 10.0])
    page.button(key="race_start").click().run()
    job = page.session_state[JOB_KEY]
    assert job.wait(120)
    page.run()
    assert not page.exception
    assert any("runs in" in s.value for s in page.success)
    summary = next(d.value for d in page.dataframe if "Best learning rate" in d.value.columns)
    assert list(summary["Optimizer"]) == ["Adam", "SGD"]
    assert (summary["Val accuracy (mean)"] > 0.5).all()
    assert list(summary["Seeds"]) == [2, 2]
