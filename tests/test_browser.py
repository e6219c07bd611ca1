"""The whole app in a real browser: `streamlit run` on a free port, every page opened in
headless Chromium through Playwright, the way a person clicks through it.

Screenshots of every page land in tests/artifacts/.
"""

import contextlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

import ui
from tests.appserver import launch_chromium, serving

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PAGES = [("Home", "AI Prototyping Dashboard", "")] + [
    (t.title, t.title, Path(t.path).stem) for t in ui.TOOLS
]


@pytest.fixture(scope="module")
def base_url():
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def assert_page_shown(page, title: str) -> None:
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def pick_option(page, picker, text: str, tries: int = 3) -> None:
    """Open `picker` and choose its option containing `text`. A rerun that lands while the
    list is open (the first page after a server start reruns through app.py) closes it, so
    open it again, a bounded number of times."""
    option = page.get_by_role("option").filter(has_text=text)
    for _ in range(tries):
        picker.click()
        try:
            option.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"No option {text!r} in the picker after {tries} tries")


def test_every_page_through_the_sidebar(page, base_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(base_url)
    for label, title, slug in PAGES:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=label).click()
        assert_page_shown(page, title)
        # the path is the page's own (the chat adds its session id as ?chat=)
        assert page.url.split("?")[0].rstrip("/") == f"{base_url}/{slug}".rstrip("/")
        page.wait_for_timeout(300)  # let late elements settle before the picture
        page.screenshot(path=ARTIFACTS / f"{slug or 'home'}.png", full_page=True)


@pytest.mark.parametrize(("label", "title", "slug"), PAGES[1:])
def test_direct_links_open_each_tool(page, base_url, label, title, slug):
    page.goto(f"{base_url}/{slug}")
    assert_page_shown(page, title)


def test_home_cards_link_to_the_tools(page, base_url):
    page.goto(base_url)
    assert_page_shown(page, "AI Prototyping Dashboard")
    page.get_by_role("link", name="Open Business case").click()
    assert_page_shown(page, "Business case")


def test_sidebar_badge_survives_reruns_and_frees_memory(page, base_url):
    page.goto(base_url)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("threads")).to_be_visible(timeout=30_000)
    sidebar.get_by_role("button", name="Free cached models and data").click()
    expect(page.get_by_text("Freed ")).to_be_visible(timeout=15_000)
    expect(sidebar.get_by_text("Resident: nothing cached yet")).to_be_visible()
    expect(sidebar.get_by_text("threads")).to_be_visible()


def test_deep_link_right_after_the_server_starts(browser):
    """The first visit after a restart goes straight to a tool page: it must still run
    through app.py (sidebar badge, tool navigation), not as Streamlit's legacy pages/ app."""
    viewport = {"width": 1400, "height": 900}
    with contextlib.closing(browser.new_context(viewport=viewport)) as context, serving() as url:
        page = context.new_page()
        page.goto(f"{url}/business_case")
        assert_page_shown(page, "Business case")
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("threads")).to_be_visible(timeout=30_000)
        expect(sidebar.get_by_role("link", name="Train a CNN")).to_be_visible()


def test_business_case_recalculates_as_you_type(page, base_url):
    page.goto(f"{base_url}/business_case")
    assert_page_shown(page, "Business case")
    cost = page.get_by_test_id("stMetric").filter(has_text="Training cost")
    expect(cost).to_contain_text("$253", timeout=30_000)
    field = page.get_by_role("spinbutton", name="Parameters (billions)")
    field.fill("7")
    field.press("Enter")
    page.get_by_role("spinbutton", name="Tokens (billions)").fill("140")
    page.get_by_role("spinbutton", name="Tokens (billions)").press("Enter")
    # 6 x 7e9 x 140e9 FLOPs / (989e12 x 0.4 x 3600) x $3 = $12.4k
    expect(cost).to_contain_text("$12.4k", timeout=30_000)
    page.get_by_role("tab", name="Serve vs API").click()
    serving = page.get_by_test_id("stMetric").filter(has_text="Monthly serving cost")
    expect(serving).to_contain_text("$2.19k")
    page.screenshot(path=ARTIFACTS / "business_case_serve.png", full_page=True)


def test_train_a_cnn_on_digits_in_the_browser(page, base_url):
    page.goto(f"{base_url}/train_cnn")
    assert_page_shown(page, "Train a CNN")
    page.get_by_role("spinbutton", name="Epochs", exact=True).fill("3")
    page.get_by_role("spinbutton", name="Epochs", exact=True).press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Train", exact=True).click()
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Test accuracy")
    expect(accuracy).to_contain_text("%", timeout=120_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Best epoch")).to_contain_text("of 3")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.get_by_role("tab", name="Mistakes").click()
    page.screenshot(path=ARTIFACTS / "train_cnn_results.png", full_page=True)


def test_optimizer_paths_can_be_played(page, base_url):
    page.goto(f"{base_url}/compare_optimizers")
    assert_page_shown(page, "Compare optimizers")
    expect(page.get_by_text("Play", exact=True)).to_be_visible(timeout=60_000)
    surface = page.locator(".imagelayer image")
    expect(surface).to_have_count(1)
    page.get_by_text("Play", exact=True).click()
    page.wait_for_timeout(1500)  # mid-animation: the surface is still drawn under the paths
    expect(surface).to_have_count(1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "compare_optimizers_played.png", full_page=True)


def test_a_model_race_in_the_browser_and_the_other_tab_keeps_its_settings(page, base_url):
    """Only the open tab runs: a 2-D setting survives a race on the other tab, and the race's
    results show one loss chart whose x axis the user picks."""
    page.goto(f"{base_url}/compare_optimizers")
    assert_page_shown(page, "Compare optimizers")
    steps = page.get_by_role("slider", name="Steps")
    expect(steps).to_be_visible(timeout=60_000)
    steps.focus()
    page.keyboard.press("ArrowLeft")  # 500 -> 490 steps
    expect(steps).to_have_value("490", timeout=30_000)
    page.get_by_role("tab", name="On a real model (digits)").click()
    for field, value in (("Seeds per optimizer", "1"), ("Epochs per run", "1")):
        box = page.get_by_role("spinbutton", name=field)
        box.fill(value)
        box.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_text(re.compile(r"\d+ runs in [\d.]+ s"))).to_be_visible(timeout=180_000)
    curves = page.locator(".st-key-optim_model_curves")
    expect(curves).to_be_visible()
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=30_000)  # run over
    page.get_by_role("radio", name="training seconds").click()
    # the new chart has a new element id (plotly's spec is part of it), so Streamlit keeps
    # the old one on screen, greyed, until the rerun ends; then only the new one is left
    expect(curves.and_(page.locator("[data-stale='false']"))).to_contain_text("training seconds")
    expect(curves).to_have_count(1, timeout=60_000)
    expect(curves).to_contain_text("training seconds")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "compare_optimizers_model.png", full_page=True)
    page.get_by_role("tab", name="On 2-D surfaces").click()
    expect(page.get_by_role("slider", name="Steps")).to_have_value("490", timeout=30_000)


def test_chat_with_a_local_model_in_the_browser(browser, tmp_path, monkeypatch):
    from tests.helpers import save_tiny_gpt2

    save_tiny_gpt2(tmp_path / "tiny", "the fox and the dog. " * 100, positions=128)
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))  # the chat kept for a refresh
    viewport = {"width": 1400, "height": 1200}
    with contextlib.closing(browser.new_context(viewport=viewport)) as context, serving() as url:
        page = context.new_page()
        page.goto(f"{url}/chat_gpt2")
        assert_page_shown(page, "Chat with GPT-2")
        picker = page.get_by_test_id("stSelectbox").filter(has_text="Model").first
        pick_option(page, picker, "tiny - ")  # name - size, date
        expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile("^tiny - "))
        page.wait_for_timeout(1000)  # let the rerun the pick caused finish before Load
        page.get_by_role("button", name="Load").click()
        expect(page.get_by_text("128-token window")).to_be_visible(timeout=60_000)
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("<b>not bold</b> **nor this**")
        box.press("Enter")
        stats = page.get_by_text(re.compile(r"prompt \+ \d+ new tokens - first token"))
        expect(stats.first).to_be_visible(timeout=60_000)
        # user text is shown literally: no HTML, no markdown
        expect(page.get_by_text("<b>not bold</b> **nor this**")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        page.screenshot(path=ARTIFACTS / "chat_gpt2_reply.png", full_page=True)
        assert re.search(r"[?&]chat=[0-9a-f]{16}", page.url)  # the chat's session id
        page.reload()  # a refresh: a new browser session restores the chat and its model
        expect(page.get_by_text("<b>not bold</b> **nor this**")).to_be_visible(timeout=60_000)
        expect(stats.first).to_be_visible()
        expect(page.get_by_text("128-token window")).to_be_visible(timeout=60_000)


def test_a_training_run_survives_a_reload_and_a_server_restart(browser, tmp_path, monkeypatch):
    """The job belongs to the server: a reload mid-run finds it running (its id is in the
    URL), it ends recorded, and after a restart of the server the Runs page still has it."""
    import re

    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))  # the servers below share this store
    viewport = {"width": 1400, "height": 1000}
    with contextlib.closing(browser.new_context(viewport=viewport)) as context:
        with serving() as url:
            page = context.new_page()
            page.goto(f"{url}/train_cnn")
            assert_page_shown(page, "Train a CNN")
            page.get_by_text("Regularisation, augmentation, early stopping").click()
            patience = page.get_by_role("spinbutton", name="Early-stop patience (epochs, 0 = off)")
            patience.fill("0")
            patience.press("Enter")
            epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
            epochs.fill("500")
            epochs.press("Enter")
            page.wait_for_timeout(800)
            page.get_by_role("button", name="Train", exact=True).click()
            expect(page.get_by_role("button", name="Stop")).to_be_enabled(timeout=60_000)
            page.wait_for_url(re.compile(r"cnn_job="), timeout=30_000)
            done = re.compile(r"[Ee]poch ([3-9]|\d\d+)")  # two epochs finished: a model to keep
            expect(page.get_by_text(done)).to_be_visible(timeout=120_000)
            page.reload()  # a refresh: a new browser session
            assert_page_shown(page, "Train a CNN")
            stop = page.get_by_role("button", name="Stop")
            expect(stop).to_be_enabled(timeout=60_000)  # the running job, found again
            stop.click()
            accuracy = page.get_by_test_id("stMetric").filter(has_text="Test accuracy")
            expect(accuracy).to_contain_text("%", timeout=120_000)
            recorded = page.get_by_text(re.compile(r"Recorded as run"))
            expect(recorded).to_be_visible(timeout=120_000)
            run_id = re.search(r"run `?([0-9a-f]{32})", recorded.inner_text()).group(1)
        with serving() as url:  # the server restarted: the run is still in the store
            page = context.new_page()
            page.goto(f"{url}/runs?run={run_id}")
            assert_page_shown(page, "Runs")
            page.get_by_role("tab", name="Open a run").click()
            expect(page.get_by_text(f"run {run_id}")).to_be_visible(timeout=60_000)
            status = re.compile(rf"(finished|killed) - .* run {run_id}")  # Stop: MLflow's KILLED
            expect(page.get_by_text(status)).to_be_visible()
            page.screenshot(path=ARTIFACTS / "runs_after_restart.png", full_page=True)


def test_compress_a_cnn_and_carry_the_saving_to_the_case(browser, tmp_path, monkeypatch):
    """A founder's path: Compress with the page's defaults (a digits CNN trained now), the
    table, chart and verdict on screen, then Use in Business case and the Serve tab prices
    the saving; at 1400 px and at a phone's 390 px."""
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    viewport = {"width": 1400, "height": 1000}
    with contextlib.closing(browser.new_context(viewport=viewport)) as context, serving() as url:
        page = context.new_page()
        page.goto(f"{url}/compress")
        assert_page_shown(page, "Compress a model")
        page.wait_for_timeout(1000)  # the first run after a server start reruns once
        page.get_by_role("button", name="Compress and measure").click()
        expect(page.get_by_role("button", name="Use in Business case")).to_be_visible(
            timeout=300_000
        )
        expect(page.get_by_text(re.compile(r"^Measured on .*threads"))).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart")).to_have_count(1)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        page.screenshot(path=ARTIFACTS / "compress_results-1400.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 900})
        page.wait_for_timeout(500)
        page.screenshot(path=ARTIFACTS / "compress_results-390.png", full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.get_by_role("button", name="Use in Business case").click()
        expect(page.get_by_text("Kept for the Business case")).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Open the Business case").click()
        assert_page_shown(page, "Business case")
        page.get_by_role("tab", name="Serve vs API").click()
        expect(page.get_by_role("combobox", name="Compression")).to_be_visible(timeout=30_000)
        from ui.case.serve_tab import NO_SAVING

        compression = page.get_by_role("combobox", name="Compression")
        expect(compression).to_have_value(re.compile(r"\S"))  # it has drawn a value
        expect(compression).not_to_have_value(NO_SAVING)  # the saving just kept is applied
        page.screenshot(path=ARTIFACTS / "compress_in_case.png", full_page=True)
