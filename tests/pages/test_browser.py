"""The pages in headless Chromium on a phone-sized screen, used as their people use them.

Each test saves screenshots under test-artifacts/. They need Debian's chromium
and the playwright package (never ``playwright install``); without them they skip.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import tracecode
from scanners.labels import label_png
from scanners.payload import label_url

from .city import Town, populate
from .conftest import close_ledger, open_ledger
from .served import Served
from .test_public import swapped

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")]

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Town, str]]:
    ledger, url = open_ledger("sqlite", tmp_path_factory.mktemp("browser"))
    try:
        town = populate(ledger)
        with Served(ledger) as base:
            yield town, base
    finally:
        close_ledger(ledger, "sqlite", url)


@pytest.fixture(scope="module")
def playwright() -> Iterator:
    with playwright_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright) -> Iterator:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def phone(chromium):
    context = chromium.new_context(**PHONE)
    context.set_default_timeout(10_000)
    yield context
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_in(context, base: str, token: str):
    page = context.new_page()
    page.goto(f"{base}/signin")
    page.fill("#token", token)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/(dashboard|trace|driver)$"))
    return page


def test_a_citizen_reads_the_label_page_and_switches_to_english(site, phone):
    town, base = site
    page = phone.new_page()
    page.goto(f"{base}/c/{town.cylinders['clean']}")
    assert page.locator(".verdict.go").is_visible()
    shot(page, "public-in-date")
    page.goto(f"{base}/c/{town.cylinders['overdue']}")
    assert "已超过定期检验日期" in page.locator(".verdict.stop").inner_text()
    shot(page, "public-do-not-use")
    page.click("a.lang")
    assert "Its periodic inspection is overdue" in page.locator(".verdict.stop").inner_text()
    page.goto(f"{base}/c/{town.cylinders['old']}")  # the cookie keeps English
    assert "past its design service life" in page.locator(".verdict.stop").inner_text()
    page.goto(f"{base}/c/{swapped(town.cylinders['clean'])}?lang=zh")
    assert "编码好像输错了" in page.inner_text("h1")
    shot(page, "public-typo")


def test_an_inspector_looks_up_a_cylinder_checks_its_proof_and_reports(site, phone):
    town, base = site
    page = sign_in(phone, base, town.tokens["inspector"])
    code = town.cylinders["clean"]
    page.fill("#code", tracecode.printed(code).lower())
    page.click("#lookup button[type=submit]")
    page.wait_for_url(f"{base}/trace/{code}")
    assert "街角液化气供应站" in page.locator("#custody .now").inner_text()
    assert "完整" in page.inner_text("#chain")
    shot(page, "trace")
    page.click("text=校验证明")
    assert "7 条记录逐条校验通过" in page.inner_text(".notice")
    shot(page, "trace-proof")
    page.go_back()
    page.fill("#note", "在无证经营点发现，已暂扣")
    page.click("#report button[type=submit]")
    assert "已记录到账本" in page.inner_text("#report .notice")
    assert "在无证经营点发现" in page.inner_text("#custody")


def test_a_regulator_filters_a_risk_list_and_downloads_it(site, phone):
    town, base = site
    page = sign_in(phone, base, town.tokens["regulator"])
    assert "未关闭问题按类型" in page.inner_text("#by-kind")
    assert page.locator("svg.chart g").count() == 30
    shot(page, "dashboard")
    page.goto(f"{base}/risk")
    page.select_option("#reason", "past_design_life")
    page.click("#risk-filter button[type=submit]")
    page.wait_for_url(re.compile(r".*reason=past_design_life.*"))
    rows = page.locator("#risk-list tbody tr")
    assert rows.count() == 1 and town.cylinders["old"] in rows.inner_text()
    shot(page, "risk-list")
    with page.expect_download() as download:
        page.click("#download-csv")
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert town.cylinders["old"] in content and content.startswith("气瓶编码,")  # Chinese headers (docs/regulator.md)


def test_a_case_is_dispatched_handled_and_closed(site, chromium):
    town, base = site
    regulator = chromium.new_context(**PHONE)
    inspector = chromium.new_context(**PHONE)
    try:
        page = sign_in(regulator, base, town.tokens["regulator"])
        page.goto(f"{base}/findings?kind=custody_jump")
        page.locator("tbody a").first.click()
        case_url = page.url
        with town.ledger.db.reading() as c:
            assignee = town.ledger.authenticate(c, town.tokens["inspector"]).account
        page.select_option("#assignee-dispatch", str(assignee))  # picked from the list, never typed
        page.fill("#note-dispatch", "请到现场核查来源")
        page.click("#form-dispatch button[type=submit]")
        assert "已派发" in page.inner_text("#case-status")
        shot(page, "case-dispatched")

        field = sign_in(inspector, base, town.tokens["inspector"])
        field.goto(case_url)
        field.fill("#note-handle", "已核查，责令整改")
        field.click("#form-handle button[type=submit]")
        assert "已处置" in field.inner_text("#case-status")

        page.goto(case_url)
        page.click("summary:has-text('办结反馈')")
        page.fill("#note-close", "整改到位")
        page.click("#form-close button[type=submit]")
        assert "已办结" in page.inner_text("#case-status")
        assert [line.split()[0] for line in page.locator("#history li").all_inner_texts()] == \
            ["发现", "派发", "处置", "办结"]
        shot(page, "case-closed")
    finally:
        regulator.close()
        inspector.close()


def events_of(town: Town, code: str, kind: str) -> list:
    with town.ledger.db.reading() as c:
        return [e for e in town.ledger.history(c, code) if e.kind.value == kind]


def test_a_driver_queues_a_scan_offline_and_it_syncs_once_back_online(site, phone):
    town, base = site
    page = sign_in(phone, base, town.tokens["shop"])
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    page.reload()  # now through the service worker, which keeps the page for the basement
    cached = page.evaluate("caches.open('cylinder-ledger-driver-v1').then(c => c.keys())"
                           ".then(keys => keys.map(r => new URL(r.url).pathname))")
    assert "/driver" in cached and "/static/pages/driver.js" in cached
    phone.set_offline(True)
    page.reload()  # opened with no network at all
    assert page.inner_text("h1") == "扫码交接"
    code = town.cylinders["clean"]
    page.check("input[name=kind][value=collect]")
    page.fill("#typed", tracecode.printed(code))
    page.click("#add-scan")
    item = page.locator("#queue li[data-key]").first
    assert "已存入本机" in item.inner_text() and "离线 · 1 条待同步" in page.inner_text("#net")
    assert events_of(town, code, "collect") == []
    stored = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('cylinder-ledger.queue'))")
    assert len(stored) == 1
    shot(page, "driver-offline")

    phone.set_offline(False)
    page.locator("#queue li.recorded").wait_for()
    assert "已入账" in item.inner_text() and "全部已同步" in page.inner_text("#net")
    key = item.get_attribute("data-key")
    page.click("#sync-now")  # sending again records nothing twice
    page.reload()
    assert "已入账" in page.locator("#queue li").first.inner_text()
    (collect,) = events_of(town, code, "collect")
    assert collect.idempotency_key == key
    shot(page, "driver-synced")


def test_a_driver_sees_at_once_that_a_cylinder_must_not_be_delivered(site, phone):
    town, base = site
    page = sign_in(phone, base, town.tokens["shop"])
    page.check("input[name=kind][value=deliver]")
    page.fill("#user", town.people["end_user"])
    code = town.cylinders["overdue"]
    page.fill("#typed", code)
    page.click("#add-scan")
    page.locator("#queue li.held").wait_for()
    item = page.locator("#queue li").first
    assert "不得配送：超过检验日期" in item.inner_text() and "未入账" in item.inner_text()
    page.fill("#typed", "7K3Q-9XZ2-ABZ")  # a typo: the check character catches it before it is queued
    page.click("#add-scan")
    assert "校验位不对" in page.inner_text("#scan-message")
    shot(page, "driver-do-not-deliver")
    page.wait_for_timeout(300)
    assert events_of(town, code, "deliver") == []  # held on the phone, never sent
    item.locator("button", has_text="删除").click()
    assert page.locator("#queue li").count() == 0


def test_the_browsers_check_character_agrees_with_the_ledgers(site, phone):
    town, base = site
    page = phone.new_page()
    page.goto(f"{base}/signin")
    page.add_script_tag(url=f"{base}/static/pages/tracecode.js")
    rng = random.Random(7)
    samples = [tracecode.generate() for _ in range(40)]
    for code in list(samples):
        i = rng.randrange(11)
        samples.append(code[:i] + rng.choice(tracecode.ALPHABET.replace(code[i], "")) + code[i + 1:])
        j = rng.randrange(10)
        samples.append(code[:j] + code[j + 1] + code[j] + code[j + 2:])
    answers = page.evaluate("codes => codes.map(c => !TraceCode.normalize(c).error)", samples)
    assert answers == [tracecode.is_valid(code) for code in samples]


def camera_feed(town: Town, code: str, folder: Path) -> Path:
    """An MJPEG 'camera' that films the cylinder's label, for Chromium's fake capture device."""
    from PIL import Image

    url = label_url("https://trace.example", code, town.ledger.label_key)
    label = Image.open(io.BytesIO(label_png(url, code, "东方燃气有限公司", dpi=200))).convert("RGB")
    frame = Image.new("RGB", (640, 480), (120, 120, 120))
    frame.paste(label, ((640 - label.width) // 2, (480 - label.height) // 2))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=90)
    path = folder / "label.mjpeg"
    path.write_bytes(out.getvalue() * 30)
    return path


def test_the_camera_reads_a_label_and_opens_its_story(site, playwright, tmp_path):
    town, base = site
    code = town.cylinders["scrapped"]
    feed = camera_feed(town, code, tmp_path)
    args = [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={feed}"]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        context = browser.new_context(**PHONE, permissions=["camera"])
        context.set_default_timeout(20_000)
        page = sign_in(context, base, town.tokens["inspector"])
        page.click("#camera-start")
        page.wait_for_url(re.compile(rf".*/trace/{code}\?s=.*"))
        assert "标签签名有效" in page.inner_text(".signature")
        assert "已报废" in page.inner_text("main")
        shot(page, "trace-from-camera")
    finally:
        browser.close()
