"""core.economics.business and the Business case page: figures shown match the formulas when inputs
change, exports carry every input and result, the published-runs check is reported honestly."""

import csv
import io

import pytest
from streamlit.testing.v1 import AppTest

from core import units
from core.economics import business, costs
from tests import helpers
from tests.helpers import open_page


def default_report() -> business.Report:
    return business.evaluate(
        business.TrainInputs(),
        business.ServeInputs(),
        business.StartupInputs(),
        business.default_apis(),
    )


# ---- core.economics.business -----------------------------------------------------------


def test_csv_export_has_every_input_and_result():
    train, serve, startup, apis = (
        business.TrainInputs(),
        business.ServeInputs(),
        business.StartupInputs(),
        business.default_apis(),
    )
    report = business.evaluate(train, serve, startup, apis)
    exported = business.to_csv(business.result_rows(train, serve, startup, apis, report))
    rows = list(csv.DictReader(io.StringIO(exported)))
    names = {(r["section"], r["name"]) for r in rows}
    for field in ("params", "tokens", "gpu", "mfu", "price_per_hour", "pue"):
        assert ("train", field) in names
    for field in ("precision", "requests_per_day", "model params", "model layers"):
        assert ("serve", field) in names
    cost = next(r for r in rows if r["name"] == "cost")
    assert float(cost["value"]) == pytest.approx(report.train.usd) and cost["unit"] == "USD"
    assert all(r["kind"] == "input" or r["unit"] for r in rows), "a result without a unit"


def test_summary_names_the_headline_figures():
    r = default_report()
    md = business.summary_markdown(
        business.TrainInputs(), business.ServeInputs(), business.StartupInputs(), r
    )
    assert md.startswith("# Compute business case")
    assert units.usd(r.train.usd) in md and units.usd(r.serve.monthly_usd) in md
    assert f"runway {units.months(r.startup.runway_months)}" in md
    assert "default alive" in md or "default dead" in md
    for api in business.default_apis():
        assert api.name in md


def test_volume_curve_crosses_at_the_break_even():
    serve = business.ServeInputs()
    r = default_report()
    curve = business.volume_curve(serve, r.serve, business.default_apis())
    for comparison in r.apis:
        api_line, own = curve[comparison.api.name], curve["Self-hosted"]
        points = zip(curve["requests_per_day"], api_line, own, strict=True)
        cheaper = [v for v, api_usd, own_usd in points if api_usd >= own_usd]
        if comparison.break_even_requests_per_day is None:
            assert not cheaper
        else:
            assert min(cheaper) >= comparison.break_even_requests_per_day


def test_isoflop_minimum_is_the_chinchilla_optimum():
    curve = business.isoflop_curve(1e23)
    best = curve["params"][curve["loss"].index(min(curve["loss"]))]
    n_opt, _ = costs.chinchilla_optimal(1e23)
    # The fitted law's own optimum sits near, not exactly at, the 20-tokens rule
    assert 0.3 < best / n_opt < 3


def test_runs_summary_matches_the_rows():
    runs = costs.check_published_runs(0.4)
    summary = business.summarise_runs(runs)
    hour_errors = [abs(r.error) for r in runs if r.reported_gpu_hours]
    assert summary.worst_hours_error == max(hour_errors)
    assert summary.worst_model == "Llama 3 8B"
    assert all(abs(r.error) <= summary.worst_hours_error for r in runs if r.reported_gpu_hours)
    assert summary.worst_flops_error < 0.03


def test_bad_input_raises_a_clear_error():
    with pytest.raises(ValueError, match="Unknown GPU"):
        business.evaluate(
            business.TrainInputs(gpu="TPU-v5"),
            business.ServeInputs(),
            business.StartupInputs(),
            [],
        )


# ---- the page ---------------------------------------------------------------------------------


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
    assert [c.key for c in page.get("plotly_chart")] == ["memory_chart", "size_chart"]
    assert not page.dataframe and not any(m.label == "Runway" for m in page.metric)
    open_tab(page, "Startup view")
    assert [c.key for c in page.get("plotly_chart")] == ["burn_chart", "cash_chart"]
    assert metric(page, "Runway") and not any(m.label == "Training cost" for m in page.metric)
    assert page.number_input(key="train_n_gpus").value == 8  # the inputs are all still there


def test_default_figures_match_the_formulas(page):
    est = costs.estimate_training(1e9, 20e9, "H100-SXM", 8, 0.4, 3.0)
    assert metric(page, "Training cost") == units.usd(est.usd) == "$253"
    assert metric(page, "GPU time (GPU-hours)") == units.compact(est.gpu_hours)
    assert metric(page, "Compute (FLOPs)") == "1.2e20"
    assert metric(page, "Energy (kWh)") == units.compact(est.kwh)
    assert metric(page, "GPUs to fit (ZeRO-3)") == "1 GPU"


def test_changing_training_inputs_updates_the_figures(page):
    page.number_input(key="train_params_b").set_value(7.0)
    page.number_input(key="train_tokens_b").set_value(2000.0)
    page.selectbox(key="train_gpu").set_value("A100-80GB").run()
    assert not page.exception
    est = costs.estimate_training(7e9, 2000e9, "A100-80GB", 8, 0.4, 1.8)
    assert metric(page, "Training cost") == units.usd(est.usd) == "$337k"
    assert metric(page, "GPU time (GPU-hours)") == "187k"
    page.radio(key="train_mode").set_value("spot").run()
    assert metric(page, "Training cost") == units.usd(est.usd * 0.5)


def test_compute_budget_mode_sizes_the_model(page):
    page.radio(key="train_how").set_value("Compute budget (Chinchilla-optimal)").run()
    page.number_input(key="train_budget").set_value(5.76e23).run()
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
    page.number_input(key="users").set_value(200_000).run()  # x 10 requests a day
    serve = business.ServeInputs(requests_per_day=2_000_000)
    served = costs.estimate_serving(
        serve.shape, "bf16", 4096, 2_000_000, 500, 300, "H100-SXM", 3.0, 0.5
    )
    assert metric(page, "GPUs for the load") == units.count(served.gpus, "GPU")
    assert served.gpus > 1
    table = next(d.value for d in page.dataframe if "API at this load" in d.value.columns)
    expected = business.api_table(
        business.evaluate(
            business.TrainInputs(),
            serve,
            business.StartupInputs(users=200_000),
            business.default_apis(),
        )
    )
    assert list(table["Self-hosting breaks even at"]) == [
        row["Self-hosting breaks even at"] for row in expected
    ]


def test_runway_follows_the_cash(page):
    open_tab(page, "Startup view")
    page.number_input(key="growth").set_value(0.0)
    page.number_input(key="cash").set_value(5_000_000.0).run()
    burn = 2190 + 253.3 * 4 / 12 + 50_000 - 5_000 * 20
    assert burn < 0  # the default company makes money at 0 % growth
    assert metric(page, "Runway") == "never"
    assert metric(page, "Months to profitability") == "now"
    assert any("Default alive" in s.value for s in page.success)


def test_runway_uses_net_burn_and_users_drive_serving(page):
    """Issue 9: 5,000 users at $20 and 100,000 at $1,000 gave the same 19.1 months."""
    page.number_input(key="growth").set_value(0.0)
    page.number_input(key="other").set_value(400_000.0)
    open_tab(page, "Startup view")
    page.number_input(key="users").set_value(5_000).run()
    small_runway = metric(page, "Runway")
    small_serving = metric(open_tab(page, "Serve vs API"), "Monthly serving cost")
    open_tab(page, "Startup view")
    assert small_runway != "never"
    assert any("Default dead" in e.value for e in page.error)
    page.number_input(key="users").set_value(100_000)
    page.number_input(key="price_user").set_value(1_000.0).run()
    assert metric(page, "Runway") == "never" and metric(page, "Monthly revenue") == "$100M"
    assert any("Default alive" in s.value for s in page.success)
    serving = metric(open_tab(page, "Serve vs API"), "Monthly serving cost")
    assert serving != small_serving  # 20x the requests


def test_growth_brings_profit_and_default_alive():
    report = business.evaluate(
        business.TrainInputs(),
        business.ServeInputs(),
        business.StartupInputs(other_monthly=150_000, monthly_growth=0.1),
        business.default_apis(),
    )
    u = report.startup
    assert u.net_burn > 0 and 0 < u.months_to_profit < float("inf")
    assert u.default_alive and u.runway_months == float("inf")  # profit before the cash ends
    flat = business.evaluate(
        business.TrainInputs(),
        business.ServeInputs(),
        business.StartupInputs(other_monthly=150_000, monthly_growth=0.0),
        business.default_apis(),
    ).startup
    assert not flat.default_alive and flat.runway_months == pytest.approx(1e6 / flat.net_burn)


def test_a_refused_input_is_named_and_no_stale_figures_stay(page):
    assert metric(page, "Training cost")
    page.number_input(key="train_n_gpus").set_value(0).run()
    assert any("Input refused" in e.value and "GPUs must be" in e.value for e in page.error)
    assert len(page.metric) == 0
    page.number_input(key="train_n_gpus").set_value(8).run()
    assert metric(page, "Training cost") == "$253"


def test_the_optimum_sits_at_the_bottom_of_the_isoflop_curve():
    report = default_report()
    curve = business.isoflop_curve(report.train.flops)
    best = costs.chinchilla_loss(report.optimal_params, report.optimal_tokens)
    assert best <= min(curve["loss"]) + 1e-12
    middle = len(curve["params"]) // 2
    assert curve["params"][middle] == pytest.approx(report.optimal_params)


def test_published_runs_are_reported_within_the_stated_error(page):
    open_tab(page, "Published runs")
    summary = business.summarise_runs(costs.check_published_runs(0.4))
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
    open_tab(page, "Serve vs API")
    label = "Measured: gpt2 decode (chat), 41 tokens/s on CPU, 2 threads"
    page.selectbox(key="serve_speed").set_value(label).run()
    assert metric(page, "Decode at batch 1 (tokens/s)") == "41"
    assert any("measured on gpt2 decode (chat)" in w.value for w in page.warning)
    assert any("same figure" in c.value for c in page.caption)  # batch 1 = full batch, said
    served = costs.estimate_serving(
        business.ServeInputs().shape,
        "bf16",
        4096,
        50_000,
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


def test_measured_speed_sets_capacity():
    shape = business.ServeInputs().shape
    args = (shape, "bf16", 4096, 1000, 0, 100, "H100-SXM", 3.0, 1.0)
    s = costs.estimate_serving(*args, measured_tokens_per_s=10.0)
    assert s.tokens_per_s_batch1 == s.tokens_per_s_full == 10.0
    assert s.capacity_requests_per_day == pytest.approx(86_400 * 10.0 / 100)
    with pytest.raises(ValueError, match="Measured tokens/s"):
        costs.estimate_serving(*args, measured_tokens_per_s=0.0)


def test_a_preset_fills_in_the_model_size(page):
    page.selectbox(key="train_preset").set_value("7B class (Llama 2 7B)").run()
    est = costs.estimate_training(6.74e9, 20 * 6.74e9, "H100-SXM", 8, 0.4, 3.0)
    assert metric(page, "Training cost") == units.usd(est.usd)


def test_save_this_case_records_every_input_and_result(page, tmp_path, monkeypatch):
    from core import runs

    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    page.button(key="save_case").click().run()
    assert any("Saved as run" in s.value for s in page.success)
    (run,) = runs.list_runs(tool="business")
    assert units.usd(run.headline) == metric(page, "Training cost") == "$253"


def test_a_store_that_fails_keeps_the_case_on_screen(page, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("DASHBOARD_HOME", str(blocker))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    page.button(key="save_case").click().run()
    assert any("Not saved" in w.value for w in page.warning)
    assert metric(page, "Training cost") == "$253"


def test_break_even_lines_are_labelled_with_their_volume():
    from core.economics import charts

    curve = {"requests_per_day": [1, 10, 100], "Self-hosted": [1, 2, 3], "API A": [1, 5, 9]}
    fig = charts.cost_vs_volume(curve, {"API A": 50.0, "API B": None, "API C": 2e4}, 30)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["API A break-even: 50/day", "API C break-even: 20k/day", "your load"]
