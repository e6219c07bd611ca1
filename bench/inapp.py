"""What the in-app browser benches share: start the app in a temporary home, open one tab,
time a click until its result is on screen --repeats times in that tab, and time the same
work on the library's code path between the clicks (the same run, a noisy machine).

A click is timed on the page's own clock: from the click event to the first frame drawn with
the result in it (`click_until_shown`). Playwright's own wait for the same result is reported
beside it (`playwright_s`): it polls, and on this 2-core machine its answer came 0.04-0.17 s
after the frame."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.appserver import chromium_path, launch_chromium, serving  # noqa: E402

WATCH_JS = """(targets) => {
  // a result on screen before the click (the last run's) does not count: its elements are
  // remembered, and it counts again only once it has gone
  const matches = (selector, text) =>
    [...document.querySelectorAll(selector)].filter((e) => e.textContent.includes(text));
  const old = new WeakSet(Object.entries(targets).flatMap(([s, t]) => matches(s, t)));
  const t = (window.__benchTiming = { gone: false, click: null, shown: null });
  const present = () => Object.entries(targets).every(([selector, text]) =>
    matches(selector, text).some((e) => t.gone || !old.has(e)));
  document.addEventListener("click", (e) => { if (t.click === null) t.click = e.timeStamp; },
    { capture: true, once: true });
  const watch = new MutationObserver(() => {
    if (!t.gone && Object.entries(targets).some(([s, x]) => matches(s, x).length === 0)) {
      t.gone = true;
    }
    if (t.click !== null && t.shown === null && present()) {
      watch.disconnect();
      requestAnimationFrame(() => setTimeout(() => { t.shown = performance.now(); }, 0));
    }
  });
  watch.observe(document.body, { subtree: true, childList: true, characterData: true });
}"""
CHART = ".scatterlayer .trace"  # a plotly chart's lines, there once it has drawn them


@dataclass
class Click:
    shown_s: float  # page clock: the click event to the first frame with the result drawn
    playwright_s: float  # Playwright's wait for the same result, from before its click


def click_until_shown(page, button, targets: dict[str, str], timeout_s: float = 600) -> Click:
    """Click `button` and wait until, for each CSS selector -> text in `targets`, a new
    element matching the selector and containing the text is on screen (a chart: its
    `CHART` elements). Raises SystemExit with what was seen if that does not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(WATCH_JS, targets)
    t0 = time.perf_counter()
    button.click()
    try:
        page.wait_for_function("window.__benchTiming.shown !== null", timeout=timeout_s * 1000)
    except PlaywrightTimeout as err:
        seen = page.evaluate("window.__benchTiming")
        raise SystemExit(f"no result {timeout_s} s after the click: {targets} ({seen})") from err
    waited = time.perf_counter() - t0
    timing = page.evaluate("window.__benchTiming")
    return Click((timing["shown"] - timing["click"]) / 1000, waited)


def open_tab_with(browser, url: str, path: str, tab: str, field: str, value, timeout_s=300):
    """A browser tab on the app's page `path`, its tab `tab` chosen and the number input
    `field` set to `value`; returned once its render settled."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/{path}")
    page.get_by_role("tab", name=tab).click(timeout=timeout_s * 1000)
    box = page.get_by_role("spinbutton", name=field)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(1000)
    return page


def seconds_in_worker(work: Callable[[], object]) -> float:
    """Seconds `work()` takes in a worker thread, as the app's jobs run it (on this machine
    a training in a thread took 8-30 % longer than in the main thread: measured in the main
    thread, the reference would count that against the app)."""
    out: dict = {}

    def timed() -> None:
        t0 = time.perf_counter()
        work()
        out["s"] = time.perf_counter() - t0

    worker = threading.Thread(target=timed)
    worker.start()
    worker.join()
    return out["s"]


def app_home(prefix: str = "bench-app-") -> tempfile.TemporaryDirectory:
    """A temporary home for the app a bench starts (the server inherits it, so bench runs
    stay apart from the user's runs), with no team store or model folder from outside;
    exits at once when there is no Chromium to drive. Keep the returned object alive."""
    if chromium_path() is None:
        raise SystemExit("No Chromium: apt-get install -y chromium")
    home = tempfile.TemporaryDirectory(prefix=prefix)
    os.environ["DASHBOARD_HOME"] = home.name
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("DASHBOARD_MODELS", None)
    return home


def clicks_against_reference(
    open_tab: Callable,
    click: Callable,
    reference: Callable[[], float],
    repeats: int,
    click_key: str = "click_s",
) -> dict:
    """open_tab(browser, url) -> page; click(page) -> Click; reference() -> seconds.
    The first click (the server's imports and first run) is reported apart. Returns the
    medians (`click_key`, bench_seconds), their ratio, Playwright's own waits, the first
    click and the spreads."""
    from playwright.sync_api import sync_playwright

    home = app_home()  # noqa: F841 - removed when this returns
    clicks, plain = [], []
    with serving() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = open_tab(browser, url)
        first = click(page)
        for r in range(repeats):
            clicks.append(click(page))
            plain.append(reference())
            print(
                f"repeat {r + 1}: click {clicks[-1].shown_s:.2f} s (Playwright "
                f"{clicks[-1].playwright_s:.2f} s), bench {plain[-1]:.2f} s",
                flush=True,
            )
        browser.close()
    shown = [c.shown_s for c in clicks]
    click_s, bench_s = statistics.median(shown), statistics.median(plain)
    return {
        click_key: round(click_s, 2),
        "bench_seconds": round(bench_s, 2),
        "ratio": round(click_s / bench_s, 3),
        "playwright_s": round(statistics.median(c.playwright_s for c in clicks), 2),
        "first_click_s": round(first.shown_s, 2),
        "click_spread": [round(min(shown), 2), round(max(shown), 2)],
        "bench_spread": [round(min(plain), 2), round(max(plain), 2)],
        "repeats": repeats,
    }
