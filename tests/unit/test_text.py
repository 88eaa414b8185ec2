"""Readable text: what a reader cannot see or trust is refused, naming the field and the character."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidInput
from ledger.text import readable

HIDDEN = {
    "nul": "\x00", "bell": "\x07", "escape": "\x1b", "delete": "\x7f", "c1_next_line": "\x85",
    "zero_width_space": "\u200b", "zero_width_joiner": "\u200d", "left_to_right_mark": "\u200e",
    "right_to_left_override": "\u202e", "left_to_right_embedding": "\u202a", "first_strong_isolate": "\u2068",
    "pop_directional_isolate": "\u2069", "bom": "\ufeff", "soft_hyphen": "\u00ad", "word_joiner": "\u2060",
    "line_separator": "\u2028", "paragraph_separator": "\u2029", "private_use": "\ue000",
    "unpaired_surrogate": "\ud800", "unassigned": "\u0378",
}


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_hidden_character_inside_a_name_is_refused_and_named(char):
    with pytest.raises(InvalidInput) as refused:
        readable(f"17315{char}-0001364", "serial")
    assert refused.value.field == "serial"
    assert f"U+{ord(char):04X}" in refused.value.message


def test_a_note_may_span_lines_but_a_name_may_not():
    assert readable("第一行\n\t第二行", "note", multiline=True, max_length=2000) == "第一行\n\t第二行"
    with pytest.raises(InvalidInput):
        readable("第一行\n第二行", "name")
    with pytest.raises(InvalidInput):
        readable("line\r\nfeed", "note", multiline=True)


@pytest.mark.parametrize("value", ["", "   ", None, 17, ["a"]])
def test_empty_or_non_text_is_refused(value):
    with pytest.raises(InvalidInput):
        readable(value, "name")


def test_ordinary_chinese_and_latin_text_passes_trimmed():
    assert readable("  杭州燃气集团 Hangzhou Gas · 浙A·12345 ", "name") == "杭州燃气集团 Hangzhou Gas · 浙A·12345"


def test_length_is_bounded_after_trimming():
    assert readable(" " + "x" * 10 + " ", "plate", max_length=10) == "x" * 10
    with pytest.raises(InvalidInput):
        readable("x" * 11, "plate", max_length=10)
