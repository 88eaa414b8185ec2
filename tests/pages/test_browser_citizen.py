"""A citizen reports a problem and follows it in headless Chromium on a 390 px phone, with and without
JavaScript (docs/citizens.md). Screenshots go to test-artifacts/; without Debian's chromium and the
playwright package the tests skip, as the other browser tests do."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from ledger import citizen
from ledger.domain import Role
from ledger.service import Actor

from .city import Town, populate
from .conftest import close_ledger, open_ledger
from .served import Served
from .test_browser import ARGS, CHROMIUM, PHONE, shot

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Town, str]]:
    ledger, url = open_ledger("sqlite", tmp_path_factory.mktemp("citizen-browser"))
    try:
        town = populate(ledger)
        # every report of this module comes from 127.0.0.1
        ledger.__dict__["report_limits"] = citizen.parse_limits("address=1000/1h,cylinder=1000/1d,fold=7d")
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


def phone_context(chromium, javascript: bool = True):
    context = chromium.new_context(**PHONE, java_script_enabled=javascript)
    context.set_default_timeout(10_000)
    return context


def fits_the_screen(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"


def photo_file(tmp_path) -> str:
    path = tmp_path / "cylinder.png"
    image = Image.new("RGB", (64, 48), (180, 60, 20))
    out = io.BytesIO()
    image.save(out, format="PNG")
    path.write_bytes(out.getvalue())
    return str(path)


def test_a_citizen_reports_a_damaged_cylinder_from_its_label_at_390px(site, chromium, tmp_path):
    town, base = site
    context = phone_context(chromium)
    page = context.new_page()
    page.goto(f"{base}/c/{town.cylinders['clean']}")
    page.click("#report a.button")
    page.wait_for_url(f"{base}/report?cylinder={town.cylinders['clean']}")
    assert page.input_value("#cylinder").replace("-", "") == town.cylinders["clean"]
    fits_the_screen(page)
    shot(page, "citizen-report-form")
    page.check("input[name=category][value=damaged_cylinder]")
    page.fill("#text", "瓶身底部锈穿了，阀门处有嘶嘶声")
    page.set_input_files("#photos", photo_file(tmp_path))
    page.fill("#contact", "王女士 13700001111")
    page.click("#report-form button[type=submit]")
    code = page.inner_text("#tracking-code")
    assert len(code) == 19
    fits_the_screen(page)
    shot(page, "citizen-report-sent")
    with page.expect_navigation():
        page.click("a[href^='/track?code=']")
    assert "已受理" in page.inner_text("#track-status")
    assert "13700001111" not in page.content()
    context.close()


def test_the_report_form_and_tracking_work_without_javascript(site, chromium):
    town, base = site
    context = phone_context(chromium, javascript=False)
    page = context.new_page()
    page.goto(f"{base}/report")
    page.check("input[name=category][value=illegal_refilling]")
    page.fill("#text", "菜市场后门有人用大瓶往小瓶倒气")
    page.click("#report-form button[type=submit]")
    code = page.inner_text("#tracking-code")
    page.goto(f"{base}/track")
    page.fill("#code", code.lower())
    page.click("#track-form button[type=submit]")
    assert "已受理" in page.inner_text("#track-status")
    fits_the_screen(page)
    context.close()


def test_the_tracking_page_shows_each_step_and_the_outcome_in_large_type(site, chromium):
    town, base = site
    ledger = town.ledger
    with ledger.db.writing() as c:
        code = ledger.submit_report(c, category="gas_smell_at_shop", text="供应站里气味很重", address="10.1.1.1")
        case = ledger.findings(c, kind="citizen_report", status="open")["items"][0]
    context = phone_context(chromium)
    page = context.new_page()
    page.goto(f"{base}/track")
    page.click("a.size")  # 大字模式
    assert page.evaluate("document.documentElement.classList.contains('large')")
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "22px"
    page.fill("#code", citizen.printed(code))
    page.click("#track-form button[type=submit]")
    assert "已受理" in page.inner_text("#track-status")
    regulator = Actor(Role.REGULATOR, town.parties["regulator"], "regulator")
    with ledger.db.writing() as c:
        inspector = ledger.inspectors(c)[0]["account"]
        ledger.finding_action(c, regulator, case["id"], action="dispatch", note="派检查员", assignee=inspector)
    page.reload()
    assert "已派检查员核查" in page.inner_text("#track-status")
    with ledger.db.writing() as c:
        ledger.finding_action(c, regulator, case["id"], action="close", note="已责令该供应站停业整改。")
    page.reload()
    assert "已办结" in page.inner_text("#track-status")
    assert page.inner_text("#track-outcome") == "已责令该供应站停业整改。"
    assert [item.split("\n")[0] for item in page.locator("#track-history li").all_inner_texts()] == [
        "已受理", "已派检查员核查", "已办结"]
    fits_the_screen(page)
    shot(page, "citizen-tracking-large")
    page.goto(f"{base}/c/{town.cylinders['clean']}")  # large type is remembered on the label page
    assert page.evaluate("document.documentElement.classList.contains('large')")
    fits_the_screen(page)
    shot(page, "public-label-large")
    context.close()
