"""Numbers in the hashed encoding: every double has exactly one text, the one ECMAScript writes.

The writer (``ledger.canonical``) and the bundle verifier (``ledger.wire.jcs``) format
numbers on separate paths; both must give RFC 8785 §3.2.2.3's text for every finite
double, and agree with the reference data of RFC 8785's author.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.bundle import FORMAT, load_bundle, verify_bundle
from ledger.canonical import canonical_json, event_bytes, event_hash, number_text
from ledger.errors import InvalidInput, ProofInvalid
from ledger.proofs import leaf_hash
from ledger.signednote import NoteSigner, sign_checkpoint
from ledger.wire import jcs

# RFC 8785 reference test data from cyberphone/json-canonicalization, testdata/ (golden/jcs/SOURCE.md).
JCS_TESTDATA = Path(__file__).parent / "golden" / "jcs"
JCS_CASES = sorted(path.name for path in (JCS_TESTDATA / "input").glob("*.json"))


def writer_text(value: float) -> str:
    return canonical_json([value])[1:-1]


def verifier_text(value: float) -> str:
    return jcs(value).decode("ascii")


@pytest.mark.parametrize("name", JCS_CASES)
def test_the_rfc8785_reference_data_canonicalises_byte_for_byte(name):
    value = json.loads((JCS_TESTDATA / "input" / name).read_text(encoding="utf-8"))
    expected = (JCS_TESTDATA / "output" / name).read_bytes()
    assert canonical_json(value).encode("utf-8") == expected
    assert jcs(value) == expected


# ECMA-262 Number::toString applied by hand; each row is a boundary of one of its cases.
ECMASCRIPT = [
    (0.0, "0"), (-0.0, "0"), (15.0, "15"), (14.5, "14.5"), (-1.5, "-1.5"),
    (2.0**53 - 1, "9007199254740991"), (2.0**53, "9007199254740992"),
    (2.0**53 + 2, "9007199254740994"), (-(2.0**53 + 2), "-9007199254740994"),
    (9999999999999998.0, "9999999999999998"), (1e16, "10000000000000000"),
    (1.2345678901234568e20, "123456789012345680000"), (1e20, "100000000000000000000"),
    (999999999999999900000.0, "999999999999999900000"), (1e21, "1e+21"), (1.5e21, "1.5e+21"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (0.000001, "0.000001"), (1.5e-6, "0.0000015"),
    (9.999999999999997e-7, "9.999999999999997e-7"), (1e-7, "1e-7"),
    (2.2250738585072014e-308, "2.2250738585072014e-308"), (2.225073858507201e-308, "2.225073858507201e-308"),
    (5e-324, "5e-324"), (-5e-324, "-5e-324"), (0.1, "0.1"), (333333333.3333333, "333333333.3333333"),
]


@pytest.mark.parametrize("value, text", ECMASCRIPT, ids=[t for _, t in ECMASCRIPT])
def test_an_integral_double_beyond_2_53_is_written_as_ecmascript_writes_it(value, text):
    assert number_text(value) == text
    assert writer_text(value) == text
    assert verifier_text(value) == text


def _ecmascript_shape(text: str) -> bool:
    mantissa, _, exponent = text.lstrip("-").partition("e")
    if exponent:
        return exponent[0] in "+-" and exponent[1:].isdigit() and not exponent[1:].startswith("0")
    return not mantissa.endswith(".") and not (("." in mantissa) and mantissa.endswith("0"))


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False)
       | st.floats(min_value=-2.2250738585072014e-308, max_value=2.2250738585072014e-308)
       | st.integers(2**53, 2**80).map(float) | st.integers(-(2**80), -(2**53)).map(float)
       | st.integers(0, 2**64 - 1).map(lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0])
       .filter(math.isfinite))
@example(9007199254740994.0)
@example(1e16)
@example(-0.0)
def test_the_writer_and_the_bundle_verifier_agree_on_every_double(value):
    text = writer_text(value)
    assert text == verifier_text(value) == number_text(value)
    assert float(text) == value and _ecmascript_shape(text)


@pytest.mark.parametrize("integer", [2**53, -(2**53), 10**16, 2**63])
def test_python_integers_beyond_2_53_are_still_refused(integer):
    with pytest.raises(InvalidInput, match="beyond"):
        canonical_json({"x": integer})


# A one-event log signed by a throwaway key: what a server hands out for a cylinder
# whose register event carries ``data``, read back from its stored canonical text.
def one_event_bundle(data: dict) -> tuple[dict, NoteSigner]:
    signer = NoteSigner("test.cylinder-ledger/log", Ed25519PrivateKey.generate())
    event = {"id": 0, "cylinder": "7K3Q9XZ2AB4", "seq": 0, "kind": "register",
             "occurred_at": "2026-03-01T00:00:00.000000Z", "recorded_at": "2026-03-01T00:00:01.000000Z",
             "party": "F9XK2M4P", "person": None, "to": None, "location": None,
             "idempotency_key": "reg-0001", "prev_hash": None, "log_index": 0}
    stored = canonical_json(data)
    digest = event_hash(event_bytes(
        cylinder=event["cylinder"], seq=0, kind="register", occurred_at=event["occurred_at"],
        recorded_at=event["recorded_at"], party=event["party"], person=None, to=None, location_json="null",
        data_json=stored, idempotency_key=event["idempotency_key"], prev_hash_hex=None))
    event.update(data=json.loads(stored), hash=digest.hex())
    checkpoint = sign_checkpoint(signer, signer.name, 1, leaf_hash(digest))
    bundle = {"format": FORMAT, "cylinder": event["cylinder"], "checkpoint": checkpoint.note,
              "events": [event], "proofs": [{"log_index": 0, "tree_size": 1, "audit_path": []}]}
    return load_bundle(json.dumps(bundle).encode()), signer


@pytest.mark.parametrize("number", [9007199254740994.0, 1e16, 1.2345678901234568e20, 999999999999999900000.0,
                                    1e21, 5e-324, -0.0, 1e-7])
def test_a_bundle_holding_a_large_integral_number_is_not_reported_altered(number):
    bundle, signer = one_event_bundle({"tare_kg": 15.0, "meter": number})
    assert verify_bundle(bundle, signer.verifier).events == 1


def test_a_number_changed_in_a_bundle_is_still_caught():
    bundle, signer = one_event_bundle({"meter": 9007199254740994.0})
    bundle["events"][0]["data"]["meter"] = 9007199254740996
    with pytest.raises(ProofInvalid, match="was altered"):
        verify_bundle(bundle, signer.verifier)
