"""core.economics.case, figures and exports: the exports carry every input and result, the
recorded run keeps its format, the curves cross where the break-evens say, the
published-runs check is summarised honestly, bad input is refused by name."""

import csv
import io

import pytest

from core import units
from core.economics import case, catalog, charts, costs, exports, figures


def default_report() -> case.Report:
    return case.evaluate(case.Case())


def test_a_case_defaults_to_the_shipped_tables():
    c = case.Case()
    assert c.train.params == 1e9 and c.serve.shape.name == case.DEFAULT_MODEL
    assert c.apis == tuple(catalog.default_apis()) and c.catalog is None


def test_csv_export_has_every_input_and_result():
    c = case.Case()
    report = case.evaluate(c)
    exported = exports.to_csv(exports.result_rows(c, report))
    rows = list(csv.DictReader(io.StringIO(exported)))
    names = {(r["section"], r["name"]) for r in rows}
    for field in ("params", "tokens", "gpu", "mfu", "price_per_hour", "pue"):
        assert ("train", field) in names
    for field in ("precision", "requests_per_day", "model params", "model layers"):
        assert ("serve", field) in names
    cost = next(r for r in rows if r["name"] == "cost")
    assert float(cost["value"]) == pytest.approx(report.train.usd) and cost["unit"] == "USD"
    assert all(r["kind"] == "input" or r["unit"] for r in rows), "a result without a unit"


def test_the_recorded_case_keeps_its_format():
    """Runs recorded before still list, compare and load: same name, params, metrics, table."""
    c = case.Case()
    report = case.evaluate(c)
    record = exports.run_record(c, report)
    assert record.name == "1B params on H100-SXM, 25 users"  # the seed-stage default
    assert record.params["train.params"] == 1e9 and record.params["startup.cash"] == 1e6
    assert record.params["serve.model name"] == case.DEFAULT_MODEL
    assert set(record.metrics) == {
        "training_cost_usd",
        "serving_monthly_usd",
        "usd_per_m_tokens",
        "net_burn_usd_per_month",
        "runway_months",
        "months_to_profit",
    }
    assert record.metrics["training_cost_usd"] == report.train.usd
    (table,) = record.tables.values()
    assert list(record.tables) == ["inputs_and_results"]
    assert [tuple(r.values()) for r in table] == exports.result_rows(c, report)
    assert record.artifacts == {
        "business_case.md": exports.summary_markdown(c, report),
        exports.CASE_FILE: exports.case_file(c, None),  # what loads it back (issue 26)
    }


def test_summary_names_the_headline_figures():
    r = default_report()
    md = exports.summary_markdown(case.Case(), r)
    assert md.startswith("# Compute business case")
    assert units.usd(r.train.usd) in md and units.usd(r.serve.monthly_usd) in md
    assert f"runway {units.months(r.startup.runway_months)}" in md
    assert "default alive" in md or "default dead" in md
    for api in catalog.default_apis():
        assert api.name in md


def test_volume_curve_crosses_at_the_break_even():
    serve = case.ServeInputs()
    r = default_report()
    curve = figures.volume_curve(serve, r.serve, catalog.default_apis())
    for comparison in r.apis:
        api_line, own = curve[comparison.api.name], curve["Self-hosted"]
        points = zip(curve["requests_per_day"], api_line, own, strict=True)
        cheaper = [v for v, api_usd, own_usd in points if api_usd >= own_usd]
        if comparison.break_even_requests_per_day is None:
            assert not cheaper
        else:
            assert min(cheaper) >= comparison.break_even_requests_per_day


def test_isoflop_minimum_is_the_chinchilla_optimum():
    curve = figures.isoflop_curve(1e23)
    best = curve["params"][curve["loss"].index(min(curve["loss"]))]
    n_opt, _ = costs.chinchilla_optimal(1e23)
    # The fitted law's own optimum sits near, not exactly at, the 20-tokens rule
    assert 0.3 < best / n_opt < 3


def test_runs_summary_matches_the_rows():
    runs = costs.check_published_runs(0.4)
    summary = figures.summarise_runs(runs)
    hour_errors = [abs(r.error) for r in runs if r.reported_gpu_hours]
    assert summary.worst_hours_error == max(hour_errors)
    assert summary.worst_model == "Llama 3 8B"
    assert all(abs(r.error) <= summary.worst_hours_error for r in runs if r.reported_gpu_hours)
    assert summary.worst_flops_error < 0.03


def test_bad_input_raises_a_clear_error():
    with pytest.raises(ValueError, match="Unknown GPU"):
        case.evaluate(case.Case(train=case.TrainInputs(gpu="TPU-v5"), apis=()))


def test_growth_brings_profit_and_default_alive():
    company = {"users": 5_000.0, "price_per_user": 20.0, "pilot_users": 0.0}  # a grown company
    report = case.evaluate(
        case.Case(startup=case.StartupInputs(**company, other_monthly=150_000, monthly_growth=0.1))
    )
    u = report.startup
    assert u.net_burn > 0 and 0 < u.months_to_profit < float("inf")
    assert u.default_alive and u.runway_months == float("inf")  # profit before the cash ends
    flat = case.evaluate(
        case.Case(startup=case.StartupInputs(**company, other_monthly=150_000, monthly_growth=0.0))
    ).startup
    assert not flat.default_alive and flat.runway_months == pytest.approx(1e6 / flat.net_burn)


def test_the_optimum_sits_at_the_bottom_of_the_isoflop_curve():
    report = default_report()
    curve = figures.isoflop_curve(report.train.flops)
    best = costs.chinchilla_loss(report.optimal_params, report.optimal_tokens)
    assert best <= min(curve["loss"]) + 1e-12
    middle = len(curve["params"]) // 2
    assert curve["params"][middle] == pytest.approx(report.optimal_params)


def test_break_even_lines_are_labelled_with_their_volume():
    curve = {"requests_per_day": [1, 10, 100], "Self-hosted": [1, 2, 3], "API A": [1, 5, 9]}
    fig = charts.cost_vs_volume(curve, {"API A": 50.0, "API B": None, "API C": 2e4}, 30)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["API A break-even: 50/day", "API C break-even: 20k/day", "your load"]
