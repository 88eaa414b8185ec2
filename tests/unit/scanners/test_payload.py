"""The label payload and the one scan parser: every way a scan can be wrong, named."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import tracecode
from ledger.errors import InvalidInput, ProofInvalid
from scanners.errors import ControlCharacters, ForgedLabel, ScanTooLong, TruncatedLabel, UnknownFormat
from scanners.payload import (
    SIGNATURE_LENGTH,
    Scan,
    ScanSource,
    label_url,
    parse_scan,
    sign_label,
    verify_label,
)

BASE = "https://gas.hz.example.gov.cn/trace"
LABEL_KEY = Ed25519PrivateKey.generate()
PUBLIC = LABEL_KEY.public_key()
CODE = tracecode.generate()


def url_of(code: str = CODE, key: Ed25519PrivateKey = LABEL_KEY) -> str:
    return label_url(BASE, code, key)


def test_label_url_has_the_contract_shape():
    url = url_of()
    signature = url.split("?s=")[1]
    assert url == f"{BASE}/c/{CODE}?s={signature}"
    assert len(signature) == SIGNATURE_LENGTH and "=" not in signature
    # The signature is Ed25519 over the ASCII bytes of the canonical code.
    raw = base64.urlsafe_b64decode(signature + "==")
    PUBLIC.verify(raw, CODE.encode("ascii"))


def test_sign_label_signs_the_canonical_form():
    assert sign_label(tracecode.printed(CODE).lower(), LABEL_KEY) == sign_label(CODE, LABEL_KEY)
    with pytest.raises(tracecode.TraceCodeError):
        sign_label("not a code", LABEL_KEY)


def test_a_genuine_label_verifies_offline():
    scan = parse_scan(url_of(), PUBLIC)
    assert scan == Scan(CODE, ScanSource.LABEL, verified=True, base=BASE)
    assert scan.printed == tracecode.printed(CODE)
    with pytest.raises(AttributeError):
        scan.code = "X"  # type: ignore[misc]


def test_without_a_key_a_label_is_read_but_not_verified():
    scan = parse_scan(url_of())
    assert scan.code == CODE and scan.verified is False


def test_any_base_url_is_read():
    for base in ("http://127.0.0.1:8000", "https://example.org/a/b/"):
        assert parse_scan(label_url(base, CODE, LABEL_KEY), PUBLIC).base == base.rstrip("/")


def test_scanner_line_endings_are_ignored():
    assert parse_scan(url_of() + "\r\n", PUBLIC).verified


def test_a_label_signed_by_another_key_is_forged():
    forger = Ed25519PrivateKey.generate()
    with pytest.raises(ForgedLabel, match="forged or altered"):
        parse_scan(url_of(key=forger), PUBLIC)


def test_an_altered_code_with_a_recomputed_check_is_forged():
    genuine = url_of()
    other = tracecode.generate()
    with pytest.raises(ForgedLabel, match="does not match"):
        parse_scan(genuine.replace(CODE, other), PUBLIC)


def test_an_altered_code_that_breaks_the_check_is_forged():
    swapped = CODE[:2] + ("1" if CODE[2] != "1" else "2") + CODE[3:]
    with pytest.raises(ForgedLabel, match="altered or misprinted"):
        parse_scan(url_of().replace(CODE, swapped))


def test_a_flipped_signature_character_is_forged():
    url = url_of()
    head, signature = url.split("?s=")
    flipped = ("B" if signature[10] != "B" else "C").join((signature[:10], signature[11:]))
    with pytest.raises(ForgedLabel):
        parse_scan(f"{head}?s={flipped}", PUBLIC)


def test_a_non_canonical_signature_spelling_is_refused():
    url = url_of()
    head, signature = url.split("?s=")
    # The last symbol of 86 carries 2 data bits; changing its 4 padding bits keeps the bytes.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = last.index(signature[-1])
    sibling = last[index | 1] if index % 2 == 0 else last[index & ~1]
    with pytest.raises(ForgedLabel, match="malformed"):
        verify_label(CODE, signature[:-1] + sibling, PUBLIC)


@pytest.mark.parametrize(
    ("keep", "says"),
    [
        (lambda url: url[: url.index("/c/") + 3], "code is cut short"),
        (lambda url: url[: url.index("/c/") + 9], "code is cut short"),
        (lambda url: url[: url.index("?")], "signature is missing"),
        (lambda url: url[: url.index("?s=") + 3], "signature is cut short"),
        (lambda url: url[:-1], "signature is cut short"),
        (lambda url: url[:-40], "signature is cut short"),
    ],
)
def test_a_truncated_url_is_named(keep, says):
    with pytest.raises(TruncatedLabel, match=says):
        parse_scan(keep(url_of()), PUBLIC)


def test_truncation_points_all_give_a_precise_answer():
    url = url_of()
    for end in range(1, len(url)):
        with pytest.raises((TruncatedLabel, UnknownFormat)):
            parse_scan(url[:end], PUBLIC)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("wxp://f2f0Ukz1gS2gT_3l7vLbqRrYbt7yQkq6aXJQ", "WeChat payment"),
        ("https://wx.tenpay.com/f2f?t=AQAAAGQb", "WeChat payment"),
        ("https://qr.alipay.com/fkx12345abcde", "Alipay"),
        ("https://id.gs1.org/01/09506000134352/21/ABC123", "GS1 product code"),
        ("(01)09506000134352(21)ABC123", "GS1 product code"),
        ("Meet at the shop at 5 pm, bring the empties", "plain text"),
        ("WIFI:S:shop;T:WPA;P:secret;;", "plain text"),
        ("https://example.com/products/42", "link to example.com"),
        ("ftp://gas.example/c/AAAA", "link to gas.example"),
    ],
)
def test_another_systems_code_is_recognised_as_not_ours(text, says):
    with pytest.raises(UnknownFormat, match=says):
        parse_scan(text, PUBLIC)


def test_huge_input_is_refused_before_parsing():
    with pytest.raises(ScanTooLong, match="512"):
        parse_scan(url_of() + "&x=" + "A" * 1000, PUBLIC)
    with pytest.raises(ScanTooLong):
        parse_scan("A" * 100_000)


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\u202e", "\u200b", "\u2028", "\x7f"])
def test_control_characters_are_refused(bad):
    with pytest.raises(ControlCharacters, match="control character"):
        parse_scan(url_of()[:40] + bad + url_of()[40:], PUBLIC)
    with pytest.raises(ControlCharacters):
        parse_scan(CODE[:5] + bad + CODE[5:])


def test_a_typed_code_is_accepted_in_any_spelling():
    for typed in (CODE, CODE.lower(), tracecode.printed(CODE), " ".join(CODE), tracecode.printed(CODE).lower()):
        assert parse_scan(typed) == Scan(CODE, ScanSource.TYPED, verified=False)


def test_a_typed_code_with_a_typo_is_refused_as_mistyped():
    typo = CODE[:6] + ("Z" if CODE[6] != "Z" else "0") + CODE[7:]
    with pytest.raises(tracecode.CheckCharacterMismatch, match="probably a mistyped character"):
        parse_scan(typo, PUBLIC)


def test_a_typed_code_of_the_wrong_length_says_so():
    with pytest.raises(tracecode.WrongLength, match="has 10"):
        parse_scan(tracecode.printed(CODE)[:-1])
    with pytest.raises(tracecode.IllegalCharacter, match="'#'"):
        parse_scan(CODE[:4] + "#" + CODE[5:])


def test_every_refusal_is_a_ledger_error():
    for error in (ControlCharacters, UnknownFormat, TruncatedLabel, ScanTooLong):
        assert issubclass(error, InvalidInput)
    assert issubclass(ForgedLabel, ProofInvalid)
    with pytest.raises(InvalidInput):
        parse_scan(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(UnknownFormat):
        parse_scan("   ")


def test_label_url_refuses_a_bad_base():
    for base in ("gas.example", "ftp://gas.example", "https://gas.example/?q=1", "https://" + "a" * 500 + ".cn"):
        with pytest.raises(InvalidInput):
            label_url(base, CODE, LABEL_KEY)
