"""Issue 26 in Chromium: a Business case edit survives a visit to Home (by its link and by
the browser's Back) and a refresh."""

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.appserver import launch_chromium, serving


@pytest.fixture(scope="module")
def page():
    with serving() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = context.new_page()
        tab.base_url = url
        yield tab
        browser.close()


def test_an_edit_survives_home_back_and_a_refresh(page):
    page.goto(f"{page.base_url}/business_case")
    cost = page.get_by_test_id("stMetric").filter(has_text="Training cost")
    expect(cost).to_contain_text("$253", timeout=60_000)
    field = page.get_by_role("spinbutton", name="Parameters (billions)")
    field.fill("7")
    field.press("Enter")
    expect(cost).to_contain_text("$1.77k", timeout=30_000)  # 7B params on 20B tokens
    page.get_by_test_id("stSidebar").get_by_role("link", name="Home").click()
    expect(page.get_by_text("Start here")).to_be_visible(timeout=30_000)
    page.go_back()  # Back, to the Business case
    expect(cost).to_contain_text("$1.77k", timeout=30_000)
    expect(field).to_have_value("7.00")
    page.get_by_test_id("stSidebar").get_by_role("link", name="Home").click()
    expect(page.get_by_text("Start here")).to_be_visible(timeout=30_000)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Business case").click()
    expect(cost).to_contain_text("$1.77k", timeout=30_000)
    page.reload()  # a new session: the URL brings the inputs back
    expect(cost).to_contain_text("$1.77k", timeout=60_000)
    expect(field).to_have_value("7.00")


def test_on_a_phone_an_edit_survives_leaving_back_and_a_refresh(page):
    """The same at a phone's 390 px, where the sidebar is folded away: the founder leaves
    for Home by the address, comes Back, then refreshes."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(f"{page.base_url}/business_case")
        cost = page.get_by_test_id("stMetric").filter(has_text="Training cost")
        expect(cost).to_contain_text("$253", timeout=60_000)
        field = page.get_by_role("spinbutton", name="Parameters (billions)")
        field.fill("13")
        field.press("Enter")
        expect(cost).to_contain_text("$3.29k", timeout=30_000)  # 13B params on 20B tokens
        page.goto(page.base_url)
        expect(page.get_by_text("Start here")).to_be_visible(timeout=30_000)
        page.go_back()
        expect(cost).to_contain_text("$3.29k", timeout=30_000)
        expect(field).to_have_value("13.00")
        page.reload()
        expect(cost).to_contain_text("$3.29k", timeout=60_000)
        expect(field).to_have_value("13.00")
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
