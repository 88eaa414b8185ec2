"""Every page, for every role, reads in Chinese only, and the stylesheet keeps wide tables reachable.

Each page is rendered through the app as its reader opens it; the text a person
sees (no tags, scripts, styles, or form values) may hold ASCII words of three
letters or more only from a short allow-list of codes and units (docs/pages.md
"Screens"). The CSS checks are structural: the main column is not capped at
1024 px, and every table sits in its own horizontal scroll container.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import BACKENDS

from .city import Town, populate
from .conftest import close_ledger, open_ledger, sign_in
from .stories import add_stories
from .test_public import swapped

ROOT = Path(__file__).resolve().parents[2]
CSS = (ROOT / "api/static/pages/site.css").read_text(encoding="utf-8")
TEMPLATES = ROOT / "api/templates"

# ASCII words a Chinese page may show, each for a reason:
ALLOWED = {
    "English",  # the language switch names its language in that language
    "CSV", "XLSX", "JSON",  # file formats on the download buttons
    "JPEG", "PNG",  # the photo formats a citizen's report takes
    "YSP",  # the cylinder model printed on the cylinder (GB 5842 型号 YSP-15)
    "LIC", "CERT",  # licence and certificate numbers as issued
    "SHA", "hash", "seq",  # the chain's own terms on the proof page, as the bundle names them
    "GS1", "EPCIS", "GRAI", "API", "PDF",  # standards and formats, named as their owners spell them
}
WORD = re.compile(r"[A-Za-z]{3,}")
# not read as prose: scripts and styles, the tab title, typed text, the chart (its numbers and dates), and
# <pre> blocks, which hold a command to type verbatim and the signed checkpoint as the log serves it
HIDDEN = {"script", "style", "template", "title", "svg", "textarea", "pre"}


class Visible(HTMLParser):
    """The text of a page as a person reads it: <title> and scripts out, alt and placeholder text in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in HIDDEN:
            self.depth += 1
        attributes = dict(attrs)
        for name in ("alt", "placeholder", "aria-label"):
            if attributes.get(name):
                self.parts.append(attributes[name])

    def handle_endtag(self, tag):
        if tag in HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def seen(html: str) -> str:
    body = html[html.index("<body"):]
    parser = Visible()
    parser.feed(body)
    return " ".join(" ".join(parser.parts).split())


def english(text: str, town: Town) -> set[str]:
    for value in [*town.cylinders.values(), *town.parties.values(), *town.people.values()]:
        text = text.replace(value, " ")  # codes and ids are shown as codes
    text = re.sub(r"\b[A-Z0-9]{4}-?[A-Z0-9]{4}-?[A-Z0-9]{3}\b", " ", text)  # trace codes, typed or printed
    text = re.sub(r"\bSN-[0-9a-f]{10}\b", " ", text)  # serial numbers
    text = re.sub(r"\b[0-9a-f]{12}…|\b[0-9a-f]{64}\b", " ", text)  # hashes, shortened or whole
    # a finding stored before evidence was kept shows its stored note (tests/pages/stories.py)
    text = re.sub(r"no event for \d+ days while in_transit with someone, from [\d: -]+ up to now", " ", text)
    return {w for w in WORD.findall(text) if w not in ALLOWED}


@pytest.fixture(scope="module", params=BACKENDS)
def town(request, tmp_path_factory) -> Iterator[Town]:
    ledger, url = open_ledger(request.param, tmp_path_factory.mktemp("screens"))
    try:
        yield add_stories(populate(ledger))
    finally:
        close_ledger(ledger, request.param, url)


def finding_ids(town: Town) -> list[int]:
    with town.ledger.db.reading() as c:
        return [f["id"] for f in town.ledger.findings(c, limit=200)["items"] if f["id"] != town.legacy_finding]


def check(client, town: Town, path: str, status: int = 200) -> None:
    answer = client.get(path)
    assert answer.status_code == status, (path, answer.status_code)
    assert 'lang="zh-CN"' in answer.text[:200], path
    words = english(seen(answer.text), town)
    assert not words, (path, sorted(words))


def test_the_public_pages_speak_chinese(town: Town, client):
    for story in ("clean", "overdue", "old", "scrapped", "jump", "tampered"):
        check(client, town, f"/c/{town.cylinders[story]}")
    check(client, town, f"/c/{swapped(town.cylinders['clean'])}", 404)  # a typo
    check(client, town, f"/c/{town.cylinders['stranger']}", 404)  # never registered
    check(client, town, "/c/0000", 404)  # malformed
    check(client, town, "/")
    check(client, town, "/lookup?code=zzz", 422)
    check(client, town, "/signin")


@pytest.mark.parametrize("role", ["admin", "regulator", "inspector"])
def test_the_oversight_pages_speak_chinese(town: Town, client, role):
    sign_in(client, town.tokens[role])
    for path in ("/trace", "/dashboard", "/risk", "/risk?reason=past_design_life", "/findings",
                 "/findings?status=all", f"/findings?party={town.parties['transporter']}"):
        check(client, town, path)
    for story in ("clean", "short", "no_escort", "silent", "tampered", "late", "scrapped"):
        check(client, town, f"/trace/{town.cylinders[story]}")
    check(client, town, f"/trace/{town.cylinders['clean']}/proof")
    for finding in finding_ids(town):
        check(client, town, f"/findings/{finding}")
    check(client, town, "/findings/999999", 404)
    check(client, town, "/driver", 403)
    if role == "inspector":
        check(client, town, "/cases/mine")


@pytest.mark.parametrize("role", ["company", "transporter", "shop", "inspection"])
def test_the_holders_pages_speak_chinese(town: Town, client, role):
    sign_in(client, town.tokens[role])
    check(client, town, "/driver")
    check(client, town, "/trace")
    check(client, town, f"/trace/{town.cylinders['clean']}")
    check(client, town, "/dashboard", 403)
    check(client, town, "/findings", 403)


def test_the_scan_sees_english_when_it_is_there(town: Town, client):
    assert english(seen(client.get("/signin?lang=en").text), town)  # the same page in English is caught
    client.cookies.clear()


def test_an_english_error_page_still_gives_the_ledgers_reason(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    zh = client.get("/findings/999999")
    en = client.get("/findings/999999?lang=en")
    client.cookies.clear()
    assert zh.status_code == en.status_code == 404
    assert 'class="detail"' not in zh.text and 'class="detail"' in en.text


def test_the_main_column_is_not_capped_at_1024px():
    main = re.search(r"(?m)^main\s*\{([^}]*)\}", CSS)
    assert main, "site.css has no rule for main"
    cap = re.search(r"max-width:\s*([^;]+);", main.group(1))
    assert cap is None or cap.group(1).strip() not in {"64rem", "1024px"}, cap.group(1)
    assert "1024px" not in CSS and "max-width: 64rem" not in CSS


def test_every_table_sits_in_its_own_scroll_container():
    assert re.search(r"\.table-scroll\s*\{[^}]*overflow-x:\s*auto", CSS)
    tables = 0
    for template in TEMPLATES.glob("*.html"):
        html = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<table\b", html):
            tables += 1
            before = html[:match.start()]
            opened = before.rfind('class="table-scroll"')
            assert opened != -1 and "</div>" not in before[opened:], f"{template.name}: a table outside .table-scroll"
    assert tables >= 4


def test_the_menu_folds_into_a_disclosure_on_a_phone():
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    assert re.search(r'<details class="menu"', base) and "<summary" in base
    wide = re.search(r"@media \(min-width: 48rem\) \{(.*?)\n\}", CSS, re.S)
    assert wide and re.search(r"details\.menu\s*\{\s*display:\s*none", wide.group(1))  # a desk shows the row
    assert re.search(r"nav\.wide\s*\{\s*display:\s*flex", wide.group(1))


def test_chart_labels_stay_between_10_and_17_css_pixels():
    from api.pages import chart

    cap = re.search(r"\.chart\s*\{[^}]*max-width:\s*([\d.]+)rem", CSS)
    assert cap and float(cap.group(1)) == chart.MAX_WIDTH_REM
    widest, narrowest = chart.MAX_WIDTH_REM * 16, 390 - 2 * 12 - 2 * 16  # a 390 px phone less main and card padding
    assert 10 <= chart.FONT * narrowest / chart.WIDTH and chart.FONT * widest / chart.WIDTH <= 17
    svg = chart.stacked_bars([], {})
    assert svg.font == chart.FONT
    drawn = (TEMPLATES / "_chart.html").read_text(encoding="utf-8")
    assert 'font-size="12"' not in drawn and drawn.count('font-size="{{ chart.font }}"') == 2
