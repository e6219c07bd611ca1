"""Issue 26: the Business case keeps its inputs across pages, Back and a refresh, and a
saved case loads back (Runs -> "Open in Business case", or the page's picker) saying where
it came from and what was changed since."""

import pytest
from streamlit.testing.v1 import AppTest

from core import runs, tools
from tests.helpers import APP, open_page, open_tab
from ui.case import keep

CASE = "pages/business_case.py"


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def edit(at: AppTest) -> AppTest:
    """A founder's edits on three tabs: a 7B run, no paying users yet, 2 requests a day."""
    at.number_input(key="case_train_params_b").set_value(7.0).run()
    at.number_input(key="case_users").set_value(0.0)
    at.number_input(key="case_cash").set_value(2_500_000.0)
    at.number_input(key="case_serve_requests_per_user").set_value(2.0).run()
    return at


EDITED = {
    "case_train_params_b": 7.0,
    "case_users": 0.0,
    "case_cash": 2_500_000.0,
    "case_serve_requests_per_user": 2.0,
}


def test_edits_survive_a_visit_to_home_and_back():
    at = edit(open_page(CASE))
    cost = metric(at, "Training cost")
    assert cost != "$253"
    at.switch_page("pages/home.py").run()
    assert "case_train_params_b" not in at.session_state  # Streamlit dropped the widget
    at.switch_page(CASE).run()
    assert not at.exception and metric(at, "Training cost") == cost
    for key, value in EDITED.items():
        assert at.number_input(key=key).value == value


def test_a_refresh_restores_the_inputs_from_the_url():
    at = open_page(CASE)
    assert keep.URL_PARAM not in at.query_params  # the defaults need no parameter
    at = edit(at)
    text = at.query_params[keep.URL_PARAM]
    text = text[0] if isinstance(text, list) else text
    assert keep.decode(text) == EDITED and len(text) < 150  # the changed inputs only
    fresh = AppTest.from_file(APP, default_timeout=60)  # a new session: what a refresh is
    fresh.run()
    fresh.query_params[keep.URL_PARAM] = text
    fresh.switch_page(CASE).run()
    assert not fresh.exception
    for key, value in EDITED.items():
        assert fresh.number_input(key=key).value == value
    assert metric(fresh, "Training cost") == metric(at, "Training cost")


def test_a_cut_url_opens_the_defaults():
    assert keep.decode("not-a-case") == {} and keep.decode("") == {}


def test_a_hand_edited_url_is_dropped_with_a_message_not_a_traceback():
    fresh = AppTest.from_file(APP, default_timeout=60)
    fresh.run()
    fresh.query_params[keep.URL_PARAM] = keep.encode({"case_train_mfu": 7.0, "case_cash": 5.0})
    fresh.switch_page(CASE).run()
    assert not fresh.exception
    assert any("could not be used" in w.value and "max_value" in w.value for w in fresh.warning)
    assert fresh.slider(key="case_train_mfu").value == 0.4  # back at the defaults
    assert metric(fresh, "Training cost") == "$253"


def test_a_saved_case_loads_back_in_a_new_session(store):
    at = edit(open_page(CASE))
    open_tab(at, "case_tab", "Startup view")
    saved = {k: v for k, v in keep.current_of(at.session_state).items()}
    runway = metric(at, "Runway")
    at.button(key="case_save").click().run()
    (run,) = runs.list_runs(tool="business")
    fresh = AppTest.from_file(APP, default_timeout=60)  # new session, same store
    fresh.run()
    fresh.query_params[tools.RUN_PARAM] = run.id  # Runs -> "Open in Business case"
    fresh.switch_page(CASE).run()
    assert not fresh.exception
    assert keep.current_of(fresh.session_state) == saved  # every input equals what was saved
    assert metric(fresh, "Runway") == runway
    (info,) = [i.value for i in fresh.info if "Loaded from saved case" in i.value]
    assert run.name in info and run.id in info and "No input changed since." in info
    fresh.number_input(key="case_cash").set_value(3_000_000.0).run()
    (info,) = [i.value for i in fresh.info if "Loaded from saved case" in i.value]
    assert "Changed since: startup.cash: 2.5M -> 3M." in info


def test_the_picker_lists_saved_cases_and_loads_one(store):
    at = edit(open_page(CASE))
    at.button(key="case_save").click().run()
    fresh = open_page(CASE)
    assert fresh.number_input(key="case_cash").value == 1_000_000.0  # a new session
    fresh.toggle(key="case_load_show").set_value(True).run()
    fresh.button(key="case_load_button").click().run()
    assert not fresh.exception
    for key, value in EDITED.items():
        assert fresh.number_input(key=key).value == value
    assert any("Loaded from saved case" in i.value for i in fresh.info)


def test_runs_open_a_run_links_a_case_to_the_business_case(store):
    at = open_page(CASE)
    at.button(key="case_save").click().run()
    (run,) = runs.list_runs(tool="business")
    page = open_page("pages/runs.py")
    page.query_params[tools.RUN_PARAM] = run.id
    page.run()
    links = [p.proto for p in page.get("page_link") if p.proto.label == "Open in Business case"]
    assert links and links[0].page.endswith("business_case")


def test_home_says_save_this_case_and_ends_on_the_pitch_pack():
    """Issue 26: Start here had no pitch-pack step and never mentioned Save this case."""
    import ui

    price, pack = ui.TOUR[-2], ui.TOUR[-1]
    assert price.page == CASE and "**Save this case**" in price.how
    assert pack.title == "Build the pitch pack on Runs" and pack.page == tools.RUNS_PAGE
    home = open_page("pages/home.py")
    text = " ".join(m.value for m in home.markdown)
    assert f"{len(ui.TOUR)}. Build the pitch pack on Runs" in text


def test_a_case_saved_before_loading_back_reads_back_from_its_params(store):
    """Cases saved before case_inputs.json existed load from their params."""
    import dataclasses

    from core.economics import case, exports

    old = case.Case(
        train=case.TrainInputs(params=3e9, tokens=60e9, n_gpus=16),
        serve=case.ServeInputs(requests_per_day=50_000),
        startup=case.StartupInputs(users=5_000.0, pilot_users=0.0, cash=2e6, monthly_growth=0.05),
    )
    record = exports.run_record(old, case.evaluate(old))
    legacy = dataclasses.replace(
        record, artifacts={"business_case.md": record.artifacts["business_case.md"]}
    )
    run_id = runs.record("business", legacy)
    fresh = AppTest.from_file(APP, default_timeout=60)
    fresh.run()
    fresh.query_params[tools.RUN_PARAM] = run_id
    fresh.switch_page(CASE).run()
    assert not fresh.exception
    assert fresh.number_input(key="case_train_params_b").value == 3.0
    assert fresh.number_input(key="case_train_n_gpus").value == 16
    assert fresh.number_input(key="case_cash").value == 2e6
    assert fresh.number_input(key="case_growth_pct").value == pytest.approx(5.0)
    assert fresh.number_input(key="case_serve_requests_per_user").value == 10.0
    assert metric(fresh, "Training cost") == units_usd(old)
    (info,) = [i.value for i in fresh.info if "Loaded from saved case" in i.value]
    assert "Read back from its settings" in info and "No input changed since." in info


def units_usd(c) -> str:
    from core import units
    from core.economics import case

    return units.usd(case.evaluate(c).train.usd)
