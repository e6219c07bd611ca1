"""The pitch pack: sections, escaping, plotly.js once, drawn by Chromium offline, and a PDF."""

from __future__ import annotations

import datetime as dt
import html
import re
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
    head = runs.HEADLINES.get(tool, runs.Headline(label="Result", metrics=(), unit=""))
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


def business_detail(edit=None) -> runs.RunDetail:
    """A case recorded by the calculator's own run_record (its table read back as JSON),
    with `edit(rows)` applied to the table first."""
    import json

    from core.economics import case as cases
    from core.economics import exports

    case = cases.Case(  # a company past its pilot (the page opens on a seed-stage one)
        serve=cases.ServeInputs(requests_per_day=50_000),
        startup=cases.StartupInputs(
            users=5_000.0, price_per_user=20.0, pilot_users=0.0, other_monthly=50_000.0,
            monthly_growth=0.05,
        ),
    )  # fmt: skip
    rec = exports.run_record(case, cases.evaluate(case))
    rows = json.loads(json.dumps(rec.tables["inputs_and_results"]))  # as the store keeps it
    if edit:
        edit(rows)
    metrics = {k: min(v, 1.798e308) for k, v in rec.metrics.items()}  # MLflow's stand-in
    return detail("business", rec.name, metrics=metrics, tables={"inputs_and_results": rows})


TURNS = [
    {"role": "user", "content": f"Hi {EVIL}"},
    {"role": "assistant", "content": "Hello & welcome"},
    {"role": "user", "content": "Tell me about wine."},
    {"role": "assistant", "content": "and-s a distical task babble"},
]


@pytest.fixture(scope="module")
def pack() -> str:
    cnn = detail(
        "cnn",
        f"digits {EVIL}",
        metrics={
            "test_accuracy": 0.991,
            "wall_seconds": 4.2,
            "images_per_s": 900.0,
            "parameters": 37386,
        },
        params={"data.name": "digits"},
        history={"train_loss": [(1, 0.9), (2, 0.4), (3, 0.2)]},
        tables={
            "per_class": [{"Class": EVIL, "Precision": 0.98}],
            "confusion": [{"true": "0", "0": 170, "1": 3}, {"true": "1", "0": 2, "1": 185}],
        },
        figures={"confusion": bar_json("Confusion")},
    )
    gpt2 = detail(
        "gpt2",
        "my-gpt2",
        metrics={"steps": 300},
        params={"vocab_size": "1024", "width": "128", "context": "128", "layers": "2"},
        history={"train_loss": [(50, 5.0), (300, 4.4)], "val_loss": [(50, 5.1), (300, 4.56)]},
    )
    chat = detail(
        "chat",
        "chat with /home/founder/.dashboard/models/my-gpt2",
        metrics={"tokens_per_s": 16.1, "usd_per_1k_tokens": 0.00042, "ttft_s": 0.2},
        params={"model": "/home/founder/.dashboard/models/my-gpt2", "parameters": "544256"},
        tables={"transcript": TURNS},
    )
    race = detail(
        "optimizers",
        "rosenbrock race",
        metrics={"best_final_loss": 1e-6},
        tables={"results": [{"Optimizer": "Adam", "Final loss": 1e-6}]},
        figures={"paths": bar_json("Paths")},
    )
    return pitch.build(
        [cnn, gpt2, chat, race],
        business_detail(),
        product=f"Acme {EVIL}",
        hardware="a CPU, 2 threads",
        date=dt.date(2026, 11, 25),
        summary="We make wine advice.",
        turns={chat.summary.id: [2, 3]},
    )


def visible_text(page: str) -> str:
    """The page's text as a reader sees it (scripts and styles left out)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_page_one_tells_the_story_with_units(pack):
    first = visible_text(pack.split("</section>")[0])
    assert "We make wine advice." in first
    assert "99.1 % accuracy on 360 held-out test images" in first
    assert "Trained an image classifier of 37.4k parameters on digits" in first
    assert "my-gpt2 (0.54M parameters)" in first
    assert "16.1 tokens/s on a CPU, 2 threads" in first
    assert "$0.42 per 1M tokens on a CPU, 2 threads" in first
    assert "Cost to train" in first and "a month at 50k requests a day on H100-SXM" in first
    assert "Break-even against GPT-6 Luna" in first
    assert "25 November 2026" in first


def test_never_runway_is_said_in_words(pack):
    text = visible_text(pack)
    assert "does not run out at these numbers" in text
    assert "e+308" not in text and "inf" not in text.split()


def test_zero_user_case_reads_as_a_pre_revenue_company():
    def no_users(rows):
        for r in rows:
            if r["name"] == "users":
                r["value"] = 0
            if r["name"] in ("monthly revenue",):
                r["value"] = 0.0
            if r["name"] == "months to profitability":
                r["value"] = float("inf")
            if r["name"] == "gross margin":
                r["value"] = float("nan")

    page = pitch.build(
        [], business_detail(no_users), product="X", hardware="Y", date=dt.date(2026, 1, 1)
    )
    text = visible_text(page)
    assert "Paying users 0" in " ".join(text.split())
    assert "not within the case's horizon at these numbers" in text
    assert "Gross margin not applicable" in " ".join(text.split())
    assert "nan" not in text.split()


def test_a_pre_revenue_case_saved_by_the_calculator_reads_with_its_pilot_and_runway():
    import json

    from core.economics import case as cases
    from core.economics import exports

    case = cases.Case(startup=cases.StartupInputs(users=0.0))  # the defaults, nobody paying
    rec = exports.run_record(case, cases.evaluate(case))
    rows = json.loads(json.dumps(rec.tables["inputs_and_results"]))
    run = detail("business", rec.name, metrics=rec.metrics, tables={"inputs_and_results": rows})
    text = " ".join(visible_text(pitch.build([], run, product="X", hardware="Y",
                                             date=dt.date(2026, 1, 1))).split())  # fmt: skip
    assert "Paying users 0" in text
    assert f"Pilot users (free) {case.startup.pilot_users:,.0f}" in text
    assert re.search(r"Runway \d+(\.\d)? months", text), text[:3000]


def test_chat_quotes_the_chosen_turns_with_the_models_size(pack):
    text = " ".join(visible_text(pack).split())
    assert "Chat with my-gpt2 (0.54M parameters)" in text
    assert "Tell me about wine." in text and "distical" in text
    assert "Hello & welcome" not in text  # not chosen


def test_no_paths_hosts_run_ids_or_raw_keys_outside_the_appendix(pack):
    body, appendix = pack.split("<h2>Methods</h2>")
    text = visible_text(body)
    assert "/home/founder" not in pack and ".dashboard" not in text
    assert "testhost" not in pack
    assert "cnn0123456789" not in text and "cnn0123456789" in appendix  # a reference only
    keys = {"test_accuracy", "wall_seconds", "images_per_s", "usd_per_1k_tokens", "ttft_s"}
    keys |= {"train_loss", "val_loss", "months_to_profit", "usd_per_m_tokens", "runway_months"}
    assert [k for k in keys if k in text] == []
    assert re.findall(r"\b[a-z]+_[a-z_]+\b", text) == []


def test_pack_escapes_text_from_users_and_models(pack):
    assert EVIL not in pack
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in pack


def test_plotly_js_is_embedded_exactly_once(pack):
    plotly_js = plotly.offline.get_plotlyjs()
    assert pack.count(plotly_js[:200]) == 1
    assert pack.count('class="chart"') == 3  # confusion, GPT-2 losses, optimizer paths


def test_labels_never_show_snake_case():
    assert pitch.words.label_of("val_loss_mean").label == "Validation loss mean"
    assert pitch.words.figure("runway_months", 1.798e308) == (
        "Runway",
        "does not run out at these numbers",
    )
    assert "_" not in pitch.words.label_of("int8_latency_ms").label


def test_pack_without_case_or_chat_leaves_their_sections_out():
    only = pitch.build(
        [detail("gpt2", "own text", metrics={"steps": 10})],
        None,
        product="X",
        hardware="Y",
        date=dt.date(2026, 1, 1),
    )
    assert "<h2>Our own language model</h2>" in only
    assert "Business case" not in only and "Chat demo" not in only
    assert "What compression saves" not in only


def test_compress_runs_get_their_section_in_words():
    rows = [
        {"variant": "original", "size_mb": 2.4, "latency_ms": 5.0, "quality_vs_original": 1.0},
        {"variant": "int8", "size_mb": 0.7, "latency_ms": 3.0, "quality_vs_original": 0.99},
    ]
    run = detail(
        "compress", "my-gpt2 compressed", metrics={"size_mb": 0.7}, tables={"variants": rows}
    )
    page = pitch.build([run], None, product="X", hardware="Y", date=dt.date(2026, 1, 1))
    text = " ".join(visible_text(page).split())
    assert "<h2>What compression saves</h2>" in page
    assert "Size MB" in text and "Quality vs original" in text and "int8" in text
    assert "size_mb" not in text
    first = " ".join(visible_text(page.split("</section>")[0]).split())
    assert "int8 is 3.43x smaller than the original, quality 0.99" in first


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium")
def test_pack_draws_its_charts_in_chromium_with_no_network(pack, tmp_path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    page_file = tmp_path / "pitch.html"
    page_file.write_text(pack, encoding="utf-8")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

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
        page.screenshot(path=str(ARTIFACTS / "pitch-1400.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(500)
        wide = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(ARTIFACTS / "pitch-390.png"), full_page=True)
        browser.close()
    assert drawn == 3
    assert bars == 2  # the two bar charts drew their bars
    assert wide <= 390  # nothing wider than a phone
    assert [u for u in requests if not u.startswith("file://")] == []


@pytest.mark.skipif(chromium_path() is None, reason="needs Debian's chromium")
@pytest.mark.parametrize("paper, box", [("A4", b"594.9"), ("Letter", b"612 792")])
def test_pdf_is_a_real_pdf_on_the_paper_asked_for(pack, paper, box):
    pdf = pitch.to_pdf(pack, paper=paper)
    assert b"/MediaBox [0 0 " + box in pdf
    assert pdf is not None and pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 6  # story + 6 sections


def test_no_pdf_without_chromium(monkeypatch, pack):
    monkeypatch.setattr(pdf, "chromium", lambda: None)
    assert pitch.to_pdf(pack) is None


def test_shared_chart_layout_puts_titles_below_the_toolbar():
    from core import plots

    fig = plots.layout(go.Figure(), "Loss by epoch", 300)
    assert fig.layout.title.text == "Loss by epoch"
    assert fig.layout.title.yref == "container" and fig.layout.title.yanchor == "top"
    assert fig.layout.title.pad.t >= plots.TOOLBAR_PX  # the modebar's band stays clear
    assert fig.layout.margin.t >= plots.TOOLBAR_PX + 40  # and the title line above the plot


def test_curve_ticks_are_level_and_few_at_a4_width():
    curves = go.Figure(go.Scatter(x=list(range(1, 51)), y=list(range(50))))
    curves.update_xaxes(tickangle=-45)
    div = pitch.markup.Charts().div(curves)
    assert '"tickangle":0' in div and f'"nticks":{pitch.markup.X_TICKS}' in div
    matrix = pitch.markup.Charts().div(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]])))
    assert '"nticks"' not in matrix  # every class of a confusion matrix keeps its tick
