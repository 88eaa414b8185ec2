"""An end user reads their own deliveries at /me in headless Chromium on a 390 px phone with JavaScript
off: phone, a one-time code that the server's own webhook deliverer posts to a local receiver standing in
for the city's SMS gateway, then the history (docs/privacy.md). Skips without chromium and playwright."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.api.test_webhooks import SECRET, Receiver

from .city import Town, populate
from .conftest import close_ledger, open_ledger
from .served import Served
from .test_browser import ARGS, CHROMIUM, PHONE, shot
from .test_browser_citizen import fits_the_screen

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Town, str, Receiver]]:
    folder = tmp_path_factory.mktemp("own-browser")
    ledger, url = open_ledger("sqlite", folder)
    gateway = Receiver(failures=0)
    try:
        town = populate(ledger)
        hooks = folder / "hooks.conf"
        hooks.write_text(f"sms {gateway.url} {SECRET} end_user.code\n", encoding="utf-8")
        ledger.settings = replace(ledger.settings, webhooks_file=hooks)
        with Served(ledger) as base:
            yield town, base, gateway
    finally:
        gateway.close()
        close_ledger(ledger, "sqlite", url)


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def _text_message(gateway: Receiver, phone: str) -> dict:
    """The code the gateway was asked to send, once the server's deliverer has posted it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for headers, body in gateway.got:
            message = json.loads(body)
            if headers.get("x-ledger-event") == "end_user.code" and message["phone"] == phone:
                return message
        time.sleep(0.2)
    raise AssertionError("the gateway was never asked to send a code")


def test_an_end_user_opens_their_deliveries_with_a_texted_code_without_javascript(site, chromium) -> None:
    town, base, gateway = site
    context = chromium.new_context(**PHONE, java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(f"{base}/me")
        assert page.locator("h1").inner_text() == "我的用气记录"
        fits_the_screen(page)
        page.fill("#phone", "138 0000 1234")
        page.click("form[action='/me/code'] button[type=submit]")
        page.wait_for_url(f"{base}/me/code")
        assert "138****1234" in page.inner_text("main")
        fits_the_screen(page)
        shot(page, "own-code")

        message = _text_message(gateway, "13800001234")
        assert message["code"] in message["text"]
        page.fill("#code", message["code"])
        page.click("form[action='/me/history'] button[type=submit]")
        page.wait_for_url(f"{base}/me/history")
        shown = page.inner_text("main")
        assert town.cylinders["clean"] in shown and "配送入户" in shown
        assert "张晓梅" not in page.content() and "13800001234" not in shown
        fits_the_screen(page)
        shot(page, "own-history")

        again = page.request.post(f"{base}/me/history", form={"phone": "13800001234", "code": message["code"]})
        assert again.status == 403 and town.cylinders["clean"] not in again.text()  # a code opens once
    finally:
        context.close()
