"""The home safety check (入户安检) on the driver's page in headless Chromium: answered item by item,
queued offline with the delivery, synced through the one ingest path, and a critical hazard held on
the phone until the worker says the gas was left anyway."""

from __future__ import annotations

import io

from PIL import Image

from ledger import tracecode
from ledger.domain import EventKind

from .test_browser import (  # noqa: F401 - the fixtures are used by name
    chromium, events_of, phone, playwright, pytestmark, shot, sign_in, site,
)


def _at_shop(town) -> str:
    """A cylinder filled, carried and received by the shop: ready to deliver."""
    code = town.register()
    P = town.parties
    trip = {"vehicle": "浙A12345", "driver": town.people["driver"], "escort": town.people["escort"]}
    town.record("station", code, EventKind.FILL, 6, data={"net_kg": 14.5})
    town.record("station", code, EventKind.DISPATCH, 5, to=P["transporter"], data=trip)
    town.record("transporter", code, EventKind.RECEIVE, 4.9)
    town.record("transporter", code, EventKind.DISPATCH, 3, to=P["shop"], data=trip)
    town.record("shop", code, EventKind.RECEIVE, 2.9)
    return code


def _answer(page, code: str, result: str) -> None:
    page.check(f"input[name='safety.{code}'][value='{result}']")


def _delivery_form(page, user: str) -> None:
    page.check("input[name=kind][value=deliver]")
    page.fill("#user", user)
    assert page.locator("#safety").is_visible()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 160, 90)).save(out, format="JPEG")
    return out.getvalue()


def test_a_failed_check_queued_offline_syncs_and_raises_an_unsafe_installation(site, phone):
    town, base = site
    code = _at_shop(town)
    page = sign_in(phone, base, town.tokens["shop"])
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    page.reload()  # through the service worker, so the page opens again with no network
    phone.set_offline(True)
    page.reload()
    _delivery_form(page, town.people["end_user"])
    assert "无燃气泄漏" in page.inner_text("#safety") and "Hose" not in page.inner_text("#safety")
    _answer(page, "gas_leak", "ok")
    _answer(page, "hose_condition", "fail")
    _answer(page, "regulator", "ok")
    _answer(page, "gas_alarm", "n/a")
    page.fill("#typed", tracecode.printed(code))
    page.click("#add-scan")
    item = page.locator("#queue li[data-key]").first
    assert "已存入本机" in item.inner_text() and "安检不合格 1 项" in page.inner_text("#scan-message")
    assert page.locator("#safety input:checked").count() == 0  # the next user gets a fresh check
    queued = page.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)"
                           ".find(k => k.startsWith('cylinder-ledger.queue'))))[0].event.data.safety_check")
    assert queued == {"items": {"gas_leak": "ok", "hose_condition": "fail", "regulator": "ok", "gas_alarm": "n/a"}}
    assert events_of(town, code, "deliver") == []
    shot(page, "driver-safety-offline")

    phone.set_offline(False)
    page.locator(f"#queue li.recorded[data-key='{item.get_attribute('data-key')}']").wait_for()
    assert "入户安检不合格" in item.inner_text()
    (delivery,) = events_of(town, code, "deliver")
    assert delivery.data["safety_check"]["items"]["hose_condition"] == "fail"
    notice = item.locator("a.notice")
    assert notice.inner_text() == "整改通知"
    with phone.expect_page() as opened:
        notice.click()
    text = opened.value.inner_text("body")
    assert "燃气安全隐患整改通知书" in text and "连接软管无老化" in text and "张晓梅" not in text
    shot(page, "driver-safety-synced")


def test_a_critical_hazard_holds_the_delivery_until_the_worker_records_it_anyway(site, phone):
    town, base = site
    code = _at_shop(town)
    page = sign_in(phone, base, town.tokens["shop"])
    _delivery_form(page, town.people["end_user"])
    page.set_input_files("#safety-photos", files=[{"name": "leak.jpg", "mimeType": "image/jpeg",
                                                   "buffer": _jpeg()}])
    page.locator("#safety-photo-status", has_text="照片已上传 1 张").wait_for()
    _answer(page, "gas_leak", "fail")
    page.fill("#typed", tracecode.printed(code))
    page.click("#add-scan")
    item = page.locator("#queue li.held").first
    assert "存在严重隐患" in item.inner_text() and "无燃气泄漏" in item.inner_text()
    page.wait_for_timeout(300)
    assert events_of(town, code, "deliver") == []  # held on the phone, never sent
    shot(page, "driver-safety-hazard")
    item.locator("button", has_text="仍然记录").click()
    page.locator("#queue li.recorded").first.wait_for()
    (delivery,) = events_of(town, code, "deliver")
    assert len(delivery.data["safety_check"]["photos"]) == 1
    text = page.locator("#queue li").first.inner_text()
    assert "存在严重隐患仍送气" in text and "入户安检不合格" in text
