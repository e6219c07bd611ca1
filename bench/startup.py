"""Start-up speed: seconds from launching `streamlit run app.py` until Home's content is
visible in headless Chromium, and seconds to switch to the Business case page: until its
title shows, and until its first tab's figures are drawn (`case_figures_s`: the Training
cost metric and both charts; the plain page has no figures to compare with), and seconds
from launching the app until the Runs page, opened directly after a restart, shows its
first table of runs (`runs_page_first_table_s`; a store holding one run recorded by an
earlier process, so MLflow's import and the store's opening fall on this launch).

Reference, measured in the same run: a plain two-page Streamlit app (a title on each page)
started and switched the same way, so the ratios say what the dashboard itself adds on this
(shared, noisy) machine. Medians over --repeats launches. Last line: a JSON object.

    python3 bench/startup.py [--repeats 3] [--app path/to/app.py]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402
from tests.appserver import (  # noqa: E402
    free_port,
    launch_chromium,
    start_streamlit,
    stop,
    wait_until_serving,
)

HOME_TARGET_S = 3.0  # the foundation issue's target on a 2-core machine
RUNS_TABLE_TARGET_S = 3.0  # issue 24's target for the Runs page's first table
RECORD_ONE_RUN = (
    "from core import runs; from core.runs.types import RunRecord; "
    "runs.record('cnn', RunRecord(name='bench run', metrics={'test_accuracy': 0.9}))"
)

PLAIN_APP = """
import streamlit as st
page = st.navigation(
    [st.Page("home.py", title="Home"), st.Page("other.py", title="Other"), st.Page("runs.py")]
)
page.run()
"""


def write_plain_app(folder: Path) -> Path:
    """The reference app: st.navigation over two pages that only show a title."""
    (folder / "home.py").write_text('import streamlit as st\nst.title("Plain home")\n')
    (folder / "other.py").write_text('import streamlit as st\nst.title("Plain other")\n')
    (folder / "runs.py").write_text(  # the reference for the Runs page: a one-row table
        'import pandas as pd\nimport streamlit as st\nst.dataframe(pd.DataFrame({"Name": ["a"]}))\n'
    )
    (folder / "app.py").write_text(PLAIN_APP)
    return folder / "app.py"


def measure(
    browser, script: Path, home_title: str, link: str, other_title: str, figures: bool = False
) -> tuple:
    """(seconds from launch to Home's title visible, seconds to switch to the other page,
    and with `figures` seconds from the click until its first tab's figures are drawn: the
    Training cost metric and both plotly charts; else None)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    port = free_port()
    t0 = time.perf_counter()
    server = start_streamlit(port, script)
    try:
        wait_until_serving(port, server)  # a cheap HTTP poll; the page loads once it answers
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.get_by_role("heading", level=1, name=home_title)).to_be_visible(timeout=60_000)
        home_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", level=1, name=other_title)).to_be_visible(timeout=60_000)
        switch_s = time.perf_counter() - t1
        figures_s = None
        if figures:
            cost = page.get_by_test_id("stMetric").filter(has_text="Training cost")
            expect(cost).to_contain_text("$", timeout=60_000)
            drawn = (  # both charts, each with a drawn trace
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(p => p.querySelector('.trace')).length >= 2"
            )
            page.wait_for_function(drawn, timeout=60_000)
            figures_s = time.perf_counter() - t1
    finally:
        page.close()
        stop(server)
    return home_s, switch_s, figures_s


def store_with_one_run(folder: Path) -> None:
    """DASHBOARD_HOME=`folder` from now on, its store holding one run (another process)."""
    os.environ["DASHBOARD_HOME"] = str(folder)
    subprocess.run(
        [sys.executable, "-c", RECORD_ONE_RUN], cwd=ROOT, check=True, capture_output=True
    )


def measure_runs_page(browser, script: Path) -> float:
    """Seconds from launching the app until /runs, opened directly, shows its runs table."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    port = free_port()
    t0 = time.perf_counter()
    server = start_streamlit(port, script)
    try:
        wait_until_serving(port, server)
        page.goto(f"http://127.0.0.1:{port}/runs")
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
        return time.perf_counter() - t0
    finally:
        page.close()
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="launches of each app")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py", help="e.g. another checkout")
    args = parser.parse_args()
    app = (args.app.resolve(), "AI Prototyping Dashboard", "Business case", "Business case")
    runs = {"app": [], "plain": []}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = launch_chromium(p)
        plain = (write_plain_app(Path(tmp)), "Plain home", "Other", "Plain other")
        for i in range(args.repeats):  # interleaved, so drift hits both alike
            runs["app"].append(measure(browser, *app, figures=True))
            runs["plain"].append(measure(browser, *plain))
            print(f"launch {i + 1}: app {runs['app'][-1]}, plain {runs['plain'][-1]}")
        store_with_one_run(Path(tmp) / "home")
        table_s, plain_table_s = [], []
        for _ in range(args.repeats):
            table_s.append(measure_runs_page(browser, app[0]))
            plain_table_s.append(measure_runs_page(browser, plain[0]))
        print(f"runs page first table: {table_s}, plain table page: {plain_table_s}")
        browser.close()
    med = {k: [statistics.median(r[i] for r in v) for i in (0, 1)] for k, v in runs.items()}
    result = {
        "home_visible_s": round(med["app"][0], 3),
        "page_switch_s": round(med["app"][1], 3),
        "plain_home_visible_s": round(med["plain"][0], 3),
        "plain_page_switch_s": round(med["plain"][1], 3),
        "home_vs_plain_ratio": round(med["app"][0] / med["plain"][0], 3),
        "switch_vs_plain_ratio": round(med["app"][1] / med["plain"][1], 3),
        "case_figures_s": round(statistics.median(r[2] for r in runs["app"]), 3),
        "runs_page_first_table_s": round(statistics.median(table_s), 3),
        "plain_first_table_s": round(statistics.median(plain_table_s), 3),
        "runs_table_vs_plain_table_ratio": round(
            statistics.median(table_s) / statistics.median(plain_table_s), 3
        ),
        "runs_table_target_s": RUNS_TABLE_TARGET_S,
        "runs_table_within_target": statistics.median(table_s) <= RUNS_TABLE_TARGET_S,
        "home_target_s": HOME_TARGET_S,
        "home_within_target": med["app"][0] <= HOME_TARGET_S,
        "repeats": args.repeats,
    }
    print(json.dumps(cpu.stamp(result)))


if __name__ == "__main__":
    main()
