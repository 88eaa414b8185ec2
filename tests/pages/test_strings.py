"""The one translation table: every key a page uses is there, in both languages, with the same blanks."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from api.pages.driver import SCRIPT_STRINGS
from api.pages.i18n import Translator
from api.pages.strings import STRINGS
from ledger.domain import EventKind, FindingKind, PartyKind, Role, State
from ledger.oversight import ACTIONS, REASONS

API = Path(__file__).resolve().parents[2] / "api"
# t("key") and t('key'), and PageError("key") / Forbidden("key") in the routers
LITERAL = re.compile(r"""(?:\bt|Error|Forbidden|Needed)\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


def used_keys() -> set[str]:
    keys = set()
    for path in [*API.joinpath("templates").glob("*.html"), *API.joinpath("pages").glob("*.py")]:
        keys |= set(LITERAL.findall(path.read_text(encoding="utf-8")))
    return {key for key in keys if not key.endswith(".")}  # prefixes joined to a value: the pages render those


def blanks(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_a_page_uses_is_in_the_table():
    missing = sorted(used_keys() - set(STRINGS))
    assert len(used_keys()) > 100 and not missing, missing
    assert not set(SCRIPT_STRINGS) - set(STRINGS)


@pytest.mark.parametrize("key", sorted(STRINGS))
def test_both_languages_say_it_with_the_same_blanks(key):
    chinese, english = STRINGS[key]
    assert chinese.strip() and english.strip()
    assert blanks(chinese) == blanks(english)


@pytest.mark.parametrize(("group", "values"), [
    ("state", [s.value for s in State]), ("kind", [k.value for k in EventKind]),
    ("finding", [k.value for k in FindingKind]), ("party", [k.value for k in PartyKind]),
    ("role", [r.value for r in Role]), ("reason", list(REASONS)), ("action", [*ACTIONS, "detect", "resolve"]),
    ("severity", ["critical", "high", "medium", "low"]),
    ("status", ["open", "dispatched", "handled", "closed", "resolved"]),
])
def test_every_value_the_ledger_names_has_a_chinese_name(group, values):
    t = Translator("zh")
    untranslated = [value for value in values if t.term(group, value) == value]
    assert not untranslated, untranslated


def test_notes_read_with_names_and_local_times():
    t = Translator("en")
    note = "SEQJBATT received the cylinder at 2026-05-01T12:00:00.000000Z; the last holder was F4ZXW30F"
    assert t.note(note, {"SEQJBATT": "Corner Gas"}) == \
        "Corner Gas received the cylinder at 2026-05-01 20:00; the last holder was F4ZXW30F"
