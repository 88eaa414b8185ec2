"""The screens in headless Chromium at 390 px (a phone) and 1366 px (a laptop): width used, columns reachable,
a menu that folds, chart labels of a readable size.

Like tests/pages/test_browser.py these need Debian's chromium and the playwright
package, and skip without them. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import pytest

from .test_browser import shot, sign_in
from .test_browser_regulator import chromium, fits, screen, site  # noqa: F401  (fixtures)

ESSENTIAL = ["#", "类型", "严重程度", "状态", "气瓶", "责任单位", "区县", "发现时间"]


def reachable(page, header) -> bool:
    """Scrolled into view inside its box, the header lies wholly on the screen."""
    header.scroll_into_view_if_needed()
    box = header.bounding_box()
    width = page.evaluate("window.innerWidth")
    return box is not None and box["x"] >= -1 and box["x"] + box["width"] <= width + 1


def test_every_column_of_the_case_list_is_reachable(site, screen):
    (town, base), (name, context) = site, screen
    page = sign_in(context, base, town.tokens["regulator"])
    page.goto(f"{base}/findings?status=all")
    headers = page.locator(".table-scroll table thead th")
    assert headers.count() == len(ESSENTIAL) and fits(page)
    assert all(want in got for want, got in zip(ESSENTIAL, headers.all_inner_texts())), headers.all_inner_texts()
    for i in range(headers.count()):
        assert reachable(page, headers.nth(i)), (name, headers.nth(i).inner_text())
    main = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
    box = page.locator(".table-scroll").first
    if name == "desk":
        assert main > 1100  # not held to 1024 px on a laptop
        assert box.evaluate("b => b.scrollWidth <= b.clientWidth + 1")  # all eight columns at once
    else:
        assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the table scrolls, the page does not
    shot(page, f"screens-findings-{name}")


def test_the_menu_folds_on_a_phone_and_lies_open_on_a_laptop(site, screen):
    (town, base), (name, context) = site, screen
    page = sign_in(context, base, town.tokens["inspector"])
    page.goto(f"{base}/dashboard")
    bar = page.locator("header.bar").bounding_box()
    assert bar["height"] <= 64, bar  # one line, however many pages the role has
    if name == "phone":
        assert not page.locator("nav.wide").is_visible()
        page.click("details.menu > summary")
        link = page.locator("details.menu nav a[href='/risk']")
        assert link.is_visible()
        shot(page, "screens-menu-open-phone")
        link.click()
    else:
        assert not page.locator("details.menu").is_visible()
        page.click("nav.wide a[href='/risk']")
    page.wait_for_url(f"{base}/risk")
    assert fits(page)


def test_chart_labels_read_at_a_normal_size(site, screen):
    (town, base), (name, context) = site, screen
    page = sign_in(context, base, town.tokens["regulator"])
    page.goto(f"{base}/dashboard")
    sizes = page.evaluate("""() => [...document.querySelectorAll('svg.chart text')].map(t => {
        const svg = t.ownerSVGElement;
        return svg.getBoundingClientRect().width / svg.viewBox.baseVal.width * Number(t.getAttribute('font-size'));
    })""")
    assert sizes and all(9.5 <= size <= 17 for size in sizes), (name, sizes)
    shot(page, f"screens-chart-{name}")


@pytest.mark.parametrize("path", ["/risk?reason=open_findings", "/cases/mine"])
def test_other_tables_scroll_in_their_box_and_the_page_fits(site, screen, path):
    (town, base), (name, context) = site, screen
    page = sign_in(context, base, town.tokens["inspector"])
    page.goto(f"{base}{path}")
    assert fits(page)
    headers = page.locator(".table-scroll table thead th")
    for i in range(headers.count()):
        assert reachable(page, headers.nth(i)), (path, name, headers.nth(i).inner_text())
