"""The provincial hub's dashboard and a cross-city trace in headless Chromium at 390 px and 1366 px: the page
fits the screen, its tables scroll in their own boxes, and it reads in Chinese.

Like tests/pages/test_browser.py these need Debian's chromium and the playwright package, and skip without
them. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from .served import free_port
from .test_browser import CHROMIUM, shot
from .test_browser_regulator import chromium, fits, screen  # noqa: F401  (fixtures)
from .test_hub_pages import province

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def hub_site(tmp_path_factory) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-hub') / 'hub.db'}"
    with province(url) as (app, token):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="hub-uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the hub did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", token
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_the_hub_dashboard_and_a_broken_trace_fit_and_speak_chinese(hub_site, screen):
    (base, token), (name, context) = hub_site, screen
    page = context.new_page()
    page.goto(f"{base}/")
    page.fill("#token", token)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/")
    text = page.inner_text("main")
    assert fits(page) and "各城市账本" in text and "枢纽停止跟随" in text and "杭州燃气有限公司" in text
    box = page.locator("#cities .table-scroll")
    if name == "phone":
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the table scrolls, the page does not
    else:
        assert box.evaluate("b => b.scrollWidth <= b.clientWidth + 1")  # every column at once
    shot(page, f"hub-dashboard-{name}")
    page.fill("#code", "BROKEN00001")
    page.click("#trace-lookup button")
    page.wait_for_url(f"{base}/trace?code=BROKEN00001")
    text = page.inner_text("main")
    assert fits(page) and "链断裂" in text and "第 2 段 · 绍兴" in text
    assert page.locator("#issues li").count() == 6
    shot(page, f"hub-trace-{name}")
