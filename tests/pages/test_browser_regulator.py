"""The regulator's pages and the amber label page in headless Chromium at 390 px (a phone) and 1366 px (a desk).

Each page must fit its width (no sideways scrolling of the page itself; wide
tables scroll inside their box), show its findings in Chinese, and the label page
of a cylinder with an open custody case its amber verdict. Screenshots go to
test-artifacts/. Like tests/pages/test_browser.py they need Debian's chromium and
the playwright package, and skip without them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .city import Town, populate
from .conftest import close_ledger, open_ledger
from .served import Served
from .stories import add_stories
from .test_browser import ARGS, CHROMIUM, shot, sign_in

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")]
WIDTHS = {"phone": {"width": 390, "height": 844}, "desk": {"width": 1366, "height": 768}}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Town, str]]:
    ledger, url = open_ledger("sqlite", tmp_path_factory.mktemp("browser-regulator"))
    try:
        town = add_stories(populate(ledger))
        with Served(ledger) as base:
            yield town, base
    finally:
        close_ledger(ledger, "sqlite", url)


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=sorted(WIDTHS))
def screen(request, chromium):
    context = chromium.new_context(viewport=WIDTHS[request.param], locale="zh-CN",
                                   is_mobile=request.param == "phone", has_touch=request.param == "phone")
    context.set_default_timeout(10_000)
    yield request.param, context
    context.close()


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_case_list_and_a_case_fit_and_speak_chinese(site, screen):
    (town, base), (name, context) = site, screen
    page = sign_in(context, base, town.tokens["regulator"])
    page.goto(f"{base}/findings")
    assert fits(page) and page.locator("#status-hint").is_visible()
    assert "余杭区" in page.inner_text("main") and page.locator("#download-xlsx").is_visible()
    shot(page, f"findings-{name}")
    page.click("table tbody tr:first-child td:first-child a")
    assert fits(page) and "说明" in page.inner_text("main")
    shot(page, f"case-{name}")
    page.goto(f"{base}/dashboard")
    assert fits(page) and "已自动解除的问题不计入" in page.inner_text("#chart")
    shot(page, f"dashboard-{name}")
    page.goto(f"{base}/risk?reason=open_findings")
    assert fits(page)
    with page.expect_download() as download:
        page.click("#download-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")
    shot(page, f"risk-{name}")


def test_the_label_page_of_an_open_custody_case_is_amber(site, screen):
    (town, base), (name, context) = site, screen
    page = context.new_page()
    page.goto(f"{base}/c/{town.cylinders['jump']}")
    verdict = page.locator(".verdict.caution")
    assert verdict.is_visible() and "有待核查" in verdict.inner_text() and fits(page)
    colour = verdict.evaluate("node => getComputedStyle(node).backgroundColor")
    assert colour == "rgb(154, 91, 0)"  # --warn, white text on it reads at AA contrast
    shot(page, f"label-caution-{name}")
