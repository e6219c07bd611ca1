"""The app on a phone, in Chromium at 390 px: tapping a page link in the sidebar closes the
sidebar (Streamlit keeps it open, covering the page asked for); on a desktop it stays open."""

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.appserver import launch_chromium, serving

pytestmark = pytest.mark.timeout(180)


def open_sidebar_and_tap(page, url: str, link: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", level=1).first).to_be_visible(timeout=30_000)
    if page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true":
        page.get_by_test_id("stExpandSidebarButton").click()
    expect(page.get_by_test_id("stSidebar")).to_have_attribute("data-collapsed", "false")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", level=1, name=link)).to_be_visible(timeout=30_000)


def test_a_page_link_tapped_on_a_phone_closes_the_sidebar_but_not_on_a_desktop():
    with sync_playwright() as p, serving() as url:
        browser = launch_chromium(p)
        try:
            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            open_sidebar_and_tap(phone, url, "Business case")
            expect(phone.get_by_test_id("stSidebar")).to_have_attribute(
                "data-collapsed", "true", timeout=10_000
            )
            desktop = browser.new_page(viewport={"width": 1400, "height": 900})
            open_sidebar_and_tap(desktop, url, "Runs")
            desktop.wait_for_timeout(500)
            assert desktop.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "false"
        finally:
            browser.close()
