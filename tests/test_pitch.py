"""The pitch pack: sections, escaping, plotly.js once, drawn by Chromium offline, and a PDF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
import pytest

from core import runs
from core.runs import pitch
from core.runs.pitch import pdf
from tests.appserver import chromium_path, launch_chromium

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EVIL = "<script>alert('x')</script>"
START = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)


def detail(tool: str, name: str, **fields) -> runs.RunDetail:
    """A RunDetail as get_run returns it, made up for the test."""
    head = runs.HEADLINES[tool]
    metrics = fields.pop("metrics", {})
    summary = runs.RunSummary(
        id=f"{tool}0123456789",
        tool=tool,
        name=name,
        status="FINISHED",
        start=START,
        end=START + dt.timedelta(seconds=3),
        headline_label=head.label,
        headline=next((metrics[m] for m in head.metrics if m in metrics), None),
        headline_unit=head.unit,
        host="testhost",
        device="cpu",
    )
    base = {"params": {}, "history": {}, "tables": {}, "figures": {}, "artifacts": []}
    return runs.RunDetail(summary=summary, metrics=metrics, **{**base, **fields})


def bar_json(title: str) -> str:
    return go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"title": title}).to_json()


@pytest.fixture(scope="module")
def pack() -> str:
    cnn = detail(
        "cnn",
        f"digits {EVIL}",
        metrics={"test_accuracy": 0.991},
        history={"loss": [(1, 0.9), (2, 0.4), (3, 0.2)]},
        tables={"per_class": [{"class": EVIL, "recall": 0.98}]},
        figures={"confusion": bar_json("Confusion")},
    )
    chat = detail(
        "chat",
        "demo chat",
        metrics={"tokens_per_s": 16.1, "usd_per_1k_tokens": 0.00042},
        params={"model": "gpt2"},
        tables={
            "transcript": [
                {"role": "user", "content": f"Hi {EVIL}"},
                {"role": "assistant", "content": "Hello & welcome"},
            ]
        },
    )
    race = detail(
        "optimizers",
        "rosenbrock race",
        metrics={"best_final_loss": 1e-6},
        tables={"results": [{"optimizer": "Adam", "final loss": 1e-6}]},
        figures={"paths": bar_json("Paths")},
    )
    case = detail(
        "business",
        "seed round",
        metrics={"training_cost_usd": 12000.0, "runway_months": 18.0},
        params={"gpu": "H100-SXM"},
        tables={
            "figures": [
                {"figure": "Training cost", "value": "$12k", "unit": "USD", "source": "6ND"},
                {"figure": "Runway", "value": "18", "unit": "months", "source": "burn"},
            ]
        },
    )
    return pitch.build(
        [cnn, chat, race],
        case,
        product=f"Acme {EVIL}",
        hardware="CPU, 2 threads",
        date=dt.date(2026, 11, 25),
    )


def test_pack_has_every_section_with_units_and_sources(pack):
    for heading in ("Model results", "Chat demo", "Optimizer comparison", "Business case"):
        assert f"<h2>{heading}</h2>" in pack
    assert "2026-11-25" in pack and "CPU, 2 threads" in pack
    assert "99.1 %" in pack  # the CNN's headline
    assert "16.1 tokens/s" in pack and "$0.00042" in pack and "USD per 1,000 tokens" in pack
    assert '<td>Runway</td><td class="num">18</td><td>months</td><td>burn</td>' in pack
    assert "Source: run digits" in pack


def test_pack_escapes_text_from_users_and_models(pack):
    assert EVIL not in pack
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in pack
    assert "Hello &amp; welcome" in pack


def test_plotly_js_is_embedded_exactly_once(pack):
    plotly_js = plotly.offline.get_plotlyjs()
    assert pack.count(plotly_js[:200]) == 1
    assert pack.count("<script") == 1 + 3  # plotly.js, then one small script per chart
    assert pack.count('class="chart"') == 3  # loss curve, confusion matrix, optimizer paths


def test_pack_without_case_or_chat_leaves_their_sections_out():
    only = pitch.build(
        [detail("gpt2", "own text", metrics={"val_loss": 2.5})],
        None,
        product="X",
        hardware="Y",
        date=dt.date(2026, 1, 1),
    )
    assert "<h2>Model results</h2>" in only and "Final val loss: 2.5" in only
    assert "Business case" not in only and "Chat demo" not in only


def test_case_without_a_figures_table_takes_units_from_metric_names():
    case = detail(
        "business",
        "metrics only",
        metrics={"serving_cost_usd_per_month": 2100.0, "runway_months": 19.5},
    )
    page = pitch.build([], case, product="X", hardware="Y", date=dt.date(2026, 1, 1))
    assert '<td>Serving cost</td><td class="num">$2.1k</td><td>USD per month</td>' in page
    assert '<td>Runway</td><td class="num">19.5</td><td>months</td>' in page


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium")
def test_pack_draws_its_charts_in_chromium_with_no_network(pack, tmp_path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    page_file = tmp_path / "pitch.html"
    page_file.write_text(pack, encoding="utf-8")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1000, "height": 900})

        def only_the_file(route):
            requests.append(route.request.url)
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                route.abort()

        page.route("**/*", only_the_file)
        page.goto(page_file.as_uri())
        page.wait_for_selector("svg.main-svg", timeout=30_000)
        drawn = page.locator(".chart .js-plotly-plot").count()
        bars = page.locator(".chart g.trace.bars").count()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "pitch.png"), full_page=True)
        browser.close()
    assert drawn == 3
    assert bars == 2  # the two bar charts drew their bars
    assert [u for u in requests if not u.startswith("file://")] == []


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium")
def test_pdf_is_a_real_pdf(pack):
    pdf = pitch.to_pdf(pack)
    assert pdf is not None and pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 4  # title + 4 sections


def test_no_pdf_without_chromium(monkeypatch, pack):
    monkeypatch.setattr(pdf, "chromium", lambda: None)
    assert pitch.to_pdf(pack) is None
