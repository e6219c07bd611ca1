"""The Business case page: figures shown match the formulas when inputs change, only the open
tab draws its figures, price edits hold while their tab is closed, a refused input is named,
the published-runs check is reported honestly, a case is saved (or says why not)."""

import pytest
from streamlit.testing.v1 import AppTest

from core import units
from core.economics import case, catalog, costs, figures
from tests import helpers
from tests.helpers import open_page
from ui.case import serve_tab


@pytest.fixture
def page() -> AppTest:
    at = open_page("pages/business_case.py", timeout=60)
    assert not at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def open_tab(at: AppTest, name: str) -> AppTest:
    """Switch the page to tab `name`: only the open tab's figures are drawn."""
    return helpers.open_tab(at, "case_tab", name)


def test_only_the_open_tab_draws_its_figures(page):
    assert metric(page, "Training cost") == "$253"
    assert [c.key for c in page.get("plotly_chart")] == ["case_memory_chart", "case_size_chart"]
    assert not page.dataframe and not any(m.label == "Runway" for m in page.metric)
    open_tab(page, "Startup view")
    assert [c.key for c in page.get("plotly_chart")] == ["case_burn_chart", "case_cash_chart"]
    assert metric(page, "Runway") and not any(m.label == "Training cost" for m in page.metric)
    assert page.number_input(key="case_train_n_gpus").value == 8  # the inputs are all still there


def test_default_figures_match_the_formulas(page):
    est = costs.estimate_training(1e9, 20e9, "H100-SXM", 8, 0.4, 3.0)
    assert metric(page, "Training cost") == units.usd(est.usd) == "$253"
    assert metric(page, "GPU time (GPU-hours)") == units.compact(est.gpu_hours)
    assert metric(page, "Compute (FLOPs)") == "1.2e20"
    assert metric(page, "Energy (kWh)") == units.compact(est.kwh)
    assert metric(page, "GPUs to fit (ZeRO-3)") == "1 GPU"


def test_changing_training_inputs_updates_the_figures(page):
    page.number_input(key="case_train_params_b").set_value(7.0)
    page.number_input(key="case_train_tokens_b").set_value(2000.0)
    page.selectbox(key="case_train_gpu").set_value("A100-80GB").run()
    assert not page.exception
    est = costs.estimate_training(7e9, 2000e9, "A100-80GB", 8, 0.4, 1.8)
    assert metric(page, "Training cost") == units.usd(est.usd) == "$337k"
    assert metric(page, "GPU time (GPU-hours)") == "187k"
    page.radio(key="case_train_pricing").set_value("spot").run()
    assert metric(page, "Training cost") == units.usd(est.usd * 0.5)


def test_compute_budget_mode_sizes_the_model(page):
    page.radio(key="case_train_size_by").set_value("Compute budget (Chinchilla-optimal)").run()
    page.number_input(key="case_train_budget").set_value(5.76e23).run()
    assert "20 tokens per parameter: 69.3B params, 1.39T tokens" in [c.value for c in page.caption]
    assert metric(page, "Compute (FLOPs)") == "5.76e23"


def test_price_edits_hold_while_their_tab_is_closed(page):
    """The price grids are drawn only on their tab; the tables as last edited are used while
    it is closed and shown again when it opens."""
    assert not page.dataframe  # Train: no grid
    open_tab(page, "Prices")
    assert len(page.dataframe) == 2  # the two editors
    gpus, apis = page.session_state["case_prices_edited"]
    open_tab(page, "Train")
    assert len(page.dataframe) == 2  # once more, hidden: an edit cut short still counts
    assert not page.run().dataframe and metric(page, "Training cost") == "$253"
    dearer = gpus.copy()
    dearer.loc[dearer["name"] == "H100-SXM", "price_per_hour"] = 6.0
    # AppTest cannot type into a grid: put the edited table where the page keeps it
    page.session_state["case_prices_edited"] = (dearer, apis)
    page.run()
    dearer_cost = units.usd(costs.estimate_training(1e9, 20e9, "H100-SXM", 8, 0.4, 6.0).usd)
    assert metric(page, "Training cost") == dearer_cost == "$506"  # twice the hourly price
    shown = open_tab(page, "Prices").dataframe[0].value
    assert shown.loc[shown["name"] == "H100-SXM", "price_per_hour"].item() == 6.0
    assert metric(open_tab(page, "Train"), "Training cost") == dearer_cost


def test_serving_load_and_break_even(page):
    open_tab(page, "Serve vs API")
    page.number_input(key="case_users").set_value(200_000).run()  # x 10 requests a day
    serve = case.ServeInputs(requests_per_day=2_000_000)
    served = costs.estimate_serving(
        serve.shape, "bf16", 4096, 2_000_000, 500, 300, "H100-SXM", 3.0, 0.5
    )
    assert metric(page, "GPUs for the load") == units.count(served.gpus, "GPU")
    assert served.gpus > 1
    table = next(d.value for d in page.dataframe if "API at this load" in d.value.columns)
    expected = figures.api_table(
        case.evaluate(case.Case(serve=serve, startup=case.StartupInputs(users=200_000)))
    )
    assert list(table["Self-hosting breaks even at"]) == [
        row["Self-hosting breaks even at"] for row in expected
    ]


def grown_company(page: AppTest) -> None:
    """Set the Startup inputs to a company past its pilot: 5,000 paying users at $20."""
    page.number_input(key="case_users").set_value(5_000.0)
    page.number_input(key="case_pilot_users").set_value(0.0)
    page.number_input(key="case_price_per_user").set_value(20.0)
    page.number_input(key="case_other_monthly").set_value(50_000.0)


def test_runway_follows_the_cash(page):
    open_tab(page, "Startup view")
    grown_company(page)
    page.number_input(key="case_growth_pct").set_value(0.0)
    page.number_input(key="case_cash").set_value(5_000_000.0).run()
    burn = 2190 + 253.3 * 4 / 12 + 50_000 - 5_000 * 20
    assert burn < 0  # the default company makes money at 0 % growth
    assert metric(page, "Runway") == "never"
    assert metric(page, "Months to profitability") == "now"
    assert any("Default alive" in s.value for s in page.success)


def test_runway_uses_net_burn_and_users_drive_serving(page):
    """Issue 9: 5,000 users at $20 and 100,000 at $1,000 gave the same 19.1 months."""
    page.number_input(key="case_growth_pct").set_value(0.0)
    page.number_input(key="case_other_monthly").set_value(400_000.0)
    open_tab(page, "Startup view")
    page.number_input(key="case_users").set_value(5_000).run()
    small_runway = metric(page, "Runway")
    small_serving = metric(open_tab(page, "Serve vs API"), "Monthly serving cost")
    open_tab(page, "Startup view")
    assert small_runway != "never"
    assert any("Default dead" in e.value for e in page.error)
    page.number_input(key="case_users").set_value(100_000)
    page.number_input(key="case_price_per_user").set_value(1_000.0).run()
    assert metric(page, "Runway") == "never" and metric(page, "Monthly revenue") == "$100M"
    assert any("Default alive" in s.value for s in page.success)
    serving = metric(open_tab(page, "Serve vs API"), "Monthly serving cost")
    assert serving != small_serving  # 20x the requests


def test_a_refused_input_is_named_and_only_its_figures_wait(page):
    """Issue 24: one refused input blanked every tab; now only what is drawn from it waits."""
    assert metric(page, "Training cost")
    page.number_input(key="case_train_n_gpus").set_value(0).run()
    assert any("Input refused" in e.value and "GPUs must be" in e.value for e in page.error)
    assert not any(m.label == "Training cost" for m in page.metric)  # no stale figure
    assert not page.get("download_button")  # the exports need every input
    serve = open_tab(page, "Serve vs API")
    assert not serve.error and metric(serve, "Monthly serving cost") == "$2.19k"
    startup = open_tab(page, "Startup view")  # drawn from the training cost: it says so
    assert any("on the Train tab" in e.value and "GPUs must be" in e.value for e in startup.error)
    open_tab(page, "Train").number_input(key="case_train_n_gpus").set_value(8).run()
    assert metric(page, "Training cost") == "$253" and page.get("download_button")


def test_the_defaults_are_a_seed_stage_company_with_a_runway(page):
    """Issue 24: the default company was already profitable (runway 'never')."""
    assert any("seed-stage company" in c.value for c in page.caption)
    startup = open_tab(page, "Startup view")
    report = case.evaluate(case.Case())
    assert 12 <= report.startup.runway_months <= 20 and report.startup.monthly_revenue > 0
    assert metric(startup, "Runway") == units.months(report.startup.runway_months) != "never"
    assert any("Default dead" in e.value for e in startup.error)  # raise before it runs out


def test_zero_paying_users_and_zero_growth_still_give_a_runway(page):
    """Issue 24: zero paying users was refused and every figure of every tab vanished."""
    startup = open_tab(page, "Startup view")
    startup.number_input(key="case_users").set_value(0.0)
    startup.number_input(key="case_growth_pct").set_value(0.0).run()
    assert not startup.exception and not any("refused" in e.value for e in startup.error)
    u = case.evaluate(
        case.Case(
            serve=case.ServeInputs(requests_per_day=4_000),  # the pilot's 400 users x 10
            startup=case.StartupInputs(users=0.0, monthly_growth=0.0),
        )
    ).startup
    assert u.monthly_revenue == 0 and u.runway_months == pytest.approx(1e6 / u.monthly_costs)
    assert metric(startup, "Runway") == units.months(u.runway_months)
    assert metric(startup, "Months to profitability") == "no revenue yet"
    assert metric(startup, "Gross margin") == "no revenue yet"
    assert any("Pre-revenue" in w.value for w in startup.error)
    startup.number_input(key="case_pilot_users").set_value(0.0).run()  # no load at all
    serve = open_tab(startup, "Serve vs API")
    assert metric(serve, "Monthly serving cost") == "$0"
    assert metric(serve, "Cost per 1M tokens") == "no tokens served yet"
    assert metric(open_tab(serve, "Train"), "Training cost") == "$253"


def test_published_runs_are_reported_within_the_stated_error(page):
    open_tab(page, "Published runs")
    summary = figures.summarise_runs(costs.check_published_runs(0.4))
    text = " ".join(m.value for m in page.markdown)
    assert f"within **{units.percent(summary.worst_hours_error)}**" in text
    assert "Llama 3 8B" in text
    table = next(d.value for d in page.dataframe if "Implied MFU" in d.value.columns)
    assert list(table["Model"])[:3] == ["Llama 2 7B", "Llama 2 13B", "Llama 2 70B"]
    errors = [float(e.rstrip(" %")) / 100 for e in table["Error"]]
    assert max(abs(e) for e in errors) <= summary.worst_hours_error + 1e-3


def test_a_speed_measured_here_stands_in_for_the_bound(page):
    import ui

    measured = ui.Measurement(
        label="gpt2 decode (chat)", tokens_per_s=41.0, device="cpu", hardware="CPU, 2 threads"
    )
    page.session_state[ui.MEASUREMENTS_KEY] = {measured.label: measured}
    page.number_input(key="case_users").set_value(5_000.0)  # with 400 pilot users: 54k a day
    open_tab(page, "Serve vs API")
    label = "Measured: gpt2 decode (chat), 41 tokens/s on CPU, 2 threads"
    page.selectbox(key="case_serve_speed").set_value(label).run()
    assert metric(page, "Decode at batch 1 (tokens/s)") == "41"
    assert any("measured on gpt2 decode (chat)" in w.value for w in page.warning)
    assert any("same figure" in c.value for c in page.caption)  # batch 1 = full batch, said
    served = costs.estimate_serving(
        catalog.model_presets()[case.DEFAULT_MODEL],
        "bf16",
        4096,
        54_000,
        500,
        300,
        "H100-SXM",
        3.0,
        0.5,
        measured_tokens_per_s=41.0,
    )
    assert metric(page, "GPUs for the load") == units.count(served.gpus, "GPU")
    # 41 tokens/s from one stream serves far fewer requests than the bandwidth bound
    assert served.gpus > 1


def test_a_preset_fills_in_the_model_size(page):
    page.selectbox(key="case_train_preset").set_value("7B class (Llama 2 7B)").run()
    est = costs.estimate_training(6.74e9, 20 * 6.74e9, "H100-SXM", 8, 0.4, 3.0)
    assert metric(page, "Training cost") == units.usd(est.usd)


def test_save_this_case_records_every_input_and_result(page, tmp_path, monkeypatch):
    from core import runs

    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    page.button(key="case_save").click().run()
    (run,) = runs.list_runs(tool="business")
    (link,) = [p.proto for p in page.get("page_link") if "Recorded as run" in p.proto.label]
    assert link.label == f"Recorded as run {run.id}: open it on the Runs page"
    assert units.usd(run.headline) == metric(page, "Training cost") == "$253"


def test_a_store_that_fails_keeps_the_case_on_screen(page, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("DASHBOARD_HOME", str(blocker))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    page.button(key="case_save").click().run()
    assert any(
        w.value.startswith("Not recorded: ") and w.value.endswith("try the downloads.")
        for w in page.warning
    )
    assert metric(page, "Training cost") == "$253"


def int4_saving():
    """A compression as the Compress page would hand it to the case (ui.record_saving)."""
    import ui

    return ui.Saving(
        label="8B: int4 weight-only",
        method="int4 weight-only",
        hardware="CPU, 2 threads (AVX2)",
        speedup=2.5,
        memory_ratio=0.3,
        quality="perplexity +1.2 %",
    )


def test_a_compression_measured_here_lowers_the_serving_cost(page):
    """Issue 22's last hop: a saving recorded by the Compress page (ui.record_saving) prices
    the Serve tab: fewer replicas, a lower USD per 1M tokens and break-even, labelled."""
    import ui

    page.number_input(key="case_users").set_value(200_000.0)  # + 400 pilot: 2M requests/day
    before = open_tab(page, "Serve vs API")
    replicas, per_m = metric(before, "GPUs for the load"), metric(before, "Cost per 1M tokens")
    saving = int4_saving()
    page.session_state[ui.SAVINGS_KEY] = {saving.label: saving}
    after = page.run()
    assert after.selectbox(key="case_serve_saving").value.startswith("int4 weight-only on CPU")
    serve = case.ServeInputs(requests_per_day=2_004_000)
    plain = costs.estimate_serving(serve.shape, "bf16", 4096, 2_004_000, 500, 300, "H100-SXM", 3.0)
    squeezed = costs.estimate_serving(
        serve.shape, "bf16", 4096, 2_004_000, 500, 300, "H100-SXM", 3.0,
        speedup=2.5, memory_ratio=0.3,
    )  # fmt: skip
    assert squeezed.gpus < plain.gpus and replicas == units.count(plain.gpus, "GPU")
    assert metric(after, "GPUs for the load") == units.count(squeezed.gpus, "GPU")
    assert metric(after, "Cost per 1M tokens") == units.usd(squeezed.usd_per_m_tokens) != per_m
    (said,) = [c.value for c in after.caption if c.value.startswith("With int4 weight-only")]
    assert "on CPU, 2 threads (AVX2)" in said and f"instead of {plain.replicas}" in said
    assert "breaks even at" in said
    (measured,) = [c.value for c in after.caption if c.value.startswith("8B: int4 weight-only,")]
    assert "2.50x the speed" in measured and "an estimate here, not a measurement" in measured
    after.selectbox(key="case_serve_saving").set_value(serve_tab.NO_SAVING).run()
    assert metric(after, "Cost per 1M tokens") == per_m  # switched off: back to the model


def test_a_compression_that_changes_nothing_at_this_load_says_so(page):
    """At the seed-stage defaults one GPU serves the load either way: the caption says so
    in words instead of '1 replica instead of 1, $21.2 instead of $21.2'."""
    import ui

    open_tab(page, "Serve vs API")
    saving = int4_saving()
    page.session_state[ui.SAVINGS_KEY] = {saving.label: saving}
    after = page.run()
    (said,) = [c.value for c in after.caption if c.value.startswith("With int4 weight-only")]
    assert "no change at this load" in said and "1 replica serves it" in said
    assert "instead of" not in said
