"""The stamp key: every spelling of one manufacturer and serial is one key; different stamps stay apart."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidInput
from ledger.stamp import shown, stamp_key

MAKER, SERIAL = "Zhejiang Steel", "17315-0001364"
KEY = stamp_key(MAKER, SERIAL)


@pytest.mark.parametrize("manufacturer, serial", [
    (MAKER, "17315\u200b-0001364"),  # a zero-width space
    (MAKER, "\ufeff17315-0001364"),  # a BOM
    (MAKER, "17315-0001364\u2060\u200d\u200c"),  # word joiner, zero-width joiner and non-joiner
    (MAKER, "17315\u202e-0001364\u202c"),  # a bidi override and its end
    (MAKER, "１７３１５－０００１３６４"),  # full-width digits and hyphen
    (MAKER, "17315\u2010" "0001364"), (MAKER, "17315\u2013" "0001364"), (MAKER, "17315\u22120001364"),  # dashes
    (MAKER, " 17315 - 0001364\t"), (MAKER, "17315\u00a0-\u30000001364"),  # white space of any kind
    ("zhejiang steel", SERIAL), ("ZHEJIANG  STEEL", SERIAL), ("ZhejiangSteel", SERIAL),
    ("Ｚｈｅｊｉａｎｇ Ｓｔｅｅｌ", SERIAL), ("Zhejiang\u200bSteel", SERIAL),
])
def test_every_spelling_of_one_stamp_has_its_key(manufacturer, serial):
    assert stamp_key(manufacturer, serial) == KEY


def test_letters_on_a_stamp_have_no_case():
    assert stamp_key(MAKER, "zj-ab01") == stamp_key(MAKER, "ZJ-AB01") == stamp_key(MAKER, "Ｚｊ-ａB01")


@pytest.mark.parametrize("manufacturer, serial", [
    (MAKER, "17315-0001365"), (MAKER, "173150001364"), ("Zhejiang Steels", SERIAL), ("Jiangsu Steel", SERIAL),
])
def test_different_stamps_keep_different_keys(manufacturer, serial):
    assert stamp_key(manufacturer, serial) != KEY


def test_the_two_parts_cannot_trade_characters():
    assert stamp_key("Zhejiang Steel1", "7315-0001364") != KEY


def test_a_lookalike_letter_of_another_script_is_not_folded():
    assert stamp_key(MAKER, "ZJ-AB01") != stamp_key(MAKER, "ZJ-\u0410B01")  # Cyrillic A: a documented limit


def test_the_shown_spelling_is_nfkc_with_single_spaces():
    assert shown(" １７３１５－０００１３６４ ", "serial", 64) == SERIAL
    assert shown("Zhejiang \u3000 Steel", "manufacturer", 200) == MAKER


@pytest.mark.parametrize("value", ["17315\u200b-0001364", "\ufeff17315", "17315\x00", "173\u202e15", ""])
def test_the_shown_spelling_refuses_what_a_reader_cannot_see(value):
    with pytest.raises(InvalidInput) as refused:
        shown(value, "serial", 64)
    assert refused.value.field == "serial"


def test_a_compatibility_form_that_expands_past_the_limit_is_refused():
    with pytest.raises(InvalidInput, match="once normalised"):
        shown("\ufdfa" * 4, "serial", 64)  # 4 characters typed, 72 once normalised
