"""Another city's segment of a chain, verified with that city's key alone (ledger.crossing), and the peers file."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.bundle import FORMAT
from ledger.canonical import canonical_json, event_bytes, event_hash
from ledger.crossing import holder_log, verify_segment
from ledger.domain import Event, EventKind, format_time
from ledger.errors import InvalidInput, SegmentRefused
from ledger.peers import parse_peers
from ledger.proofs import leaf_hash, node_hash
from ledger.signednote import NoteSigner, sign_checkpoint
from ledger.wire import event_json

A, B = "hangzhou.test/log", "shaoxing.test/log"
START = datetime(2026, 5, 1, 8, tzinfo=timezone.utc)
REGISTER = {"owner": "G1", "serial": "S-1", "manufacturer": "Zhejiang Steel", "manufactured_on": "2022-03-01",
            "model": "YSP-15", "tare_kg": 15.2, "design_life_years": 8, "last_inspected_on": "2024-03-01",
            "next_inspection_due": "2028-03-01"}


def _root(leaves: list[bytes]) -> bytes:  # RFC 9162 §2.1.1
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_root(leaves[:k]), _root(leaves[k:]))


def _path(index: int, leaves: list[bytes]) -> list[bytes]:  # RFC 9162 §2.1.3.1
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return _path(index, leaves[:k]) + [_root(leaves[k:])]
    return _path(index - k, leaves[k:]) + [_root(leaves[:k])]


def _chain(steps: list[tuple[str, str, str | None, dict]], first_seq: int = 0, prev: bytes | None = None) -> list[Event]:
    events = []
    for offset, (kind, party, to, data) in enumerate(steps):
        seq, at = first_seq + offset, START + timedelta(minutes=10 * (first_seq + offset))
        digest = event_hash(event_bytes(
            cylinder="7K3Q9XZ2ABM", seq=seq, kind=kind, occurred_at=format_time(at), recorded_at=format_time(at),
            party=party, person=None, to=to, location_json="null", data_json=canonical_json(data),
            idempotency_key=f"key-{seq:08d}", prev_hash_hex=None if prev is None else prev.hex()))
        events.append(Event("7K3Q9XZ2ABM", seq, EventKind(kind), at, at, party, None, to, None, data,
                            f"key-{seq:08d}", prev, digest, seq, seq))
        prev = digest
    return events


def _bundle(signer: NoteSigner, events: list[Event]) -> dict:
    leaves = [leaf_hash(e.hash) for e in events]
    checkpoint = sign_checkpoint(signer, signer.verifier.name, len(leaves), _root(leaves))
    return {"format": FORMAT, "cylinder": "7K3Q9XZ2ABM", "checkpoint": checkpoint.note,
            "events": [{**event_json(e), "id": i, "log_index": i} for i, e in enumerate(events)],
            "proofs": [{"log_index": i, "tree_size": len(leaves), "audit_path": [n.hex() for n in _path(i, leaves)]}
                       for i in range(len(leaves))]}


HANDED = [("register", "G1", None, REGISTER), ("fill", "F1", None, {"net_kg": 14.5}),
          ("dispatch", "F1", "T2", {"to_log": B})]


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(A, Ed25519PrivateKey.generate())


def test_a_handed_off_segment_verifies_with_the_senders_key(signer):
    segment = verify_segment(_bundle(signer, _chain(HANDED)), signer.verifier, "7K3Q9XZ2ABM", {})
    assert [row[1] for row in segment.rows] == [0, 1, 2] and {row[2] for row in segment.rows} == {A}
    assert segment.head.kind is EventKind.DISPATCH and segment.head.data == {"to_log": B}
    assert holder_log(segment.head, A, B) == B  # the chain now belongs to the receiver's log


def test_an_altered_event_a_wrong_key_or_a_gap_is_refused(signer):
    events = _chain(HANDED)
    bundle = _bundle(signer, events)
    bundle["events"][1]["data"] = {"net_kg": 9.5}
    with pytest.raises(SegmentRefused, match="altered"):
        verify_segment(bundle, signer.verifier, "7K3Q9XZ2ABM", {})
    other = NoteSigner(A, Ed25519PrivateKey.generate())
    with pytest.raises(SegmentRefused, match="does not verify"):
        verify_segment(_bundle(signer, events), other.verifier, "7K3Q9XZ2ABM", {})
    with pytest.raises(SegmentRefused, match="neither"):  # seq 0 is missing and nobody holds it
        verify_segment(_bundle(signer, events[1:]), signer.verifier, "7K3Q9XZ2ABM", {})


def test_a_segment_once_kept_is_never_rewritten(signer):
    events = _chain(HANDED)
    kept = {e.seq: e.hash for e in events}
    back = _chain([("receive", "F1", None, {"from_log": B})], first_seq=5, prev=hashlib.sha256(b"x").digest())
    forged = [*_chain(HANDED[:2]), *_chain([("dispatch", "F1", "T9", {"to_log": B})], 2, events[1].hash)]
    with pytest.raises(SegmentRefused, match="never rewritten"):
        verify_segment(_bundle(signer, forged), signer.verifier, "7K3Q9XZ2ABM", kept)
    with pytest.raises(SegmentRefused, match="neither"):  # seq 4 lives nowhere this ledger knows
        verify_segment(_bundle(signer, [*events, *back]), signer.verifier, "7K3Q9XZ2ABM", kept)


def test_the_log_that_may_extend_a_chain():
    fill, handoff = _chain(HANDED)[1:]
    assert holder_log(fill, A, A) == A
    assert holder_log(handoff, A, A) == B
    assert holder_log(fill, B, A) == B  # a kept event of another log that hands nothing over


def test_the_peers_file_is_checked_line_by_line():
    vkey = NoteSigner(B, Ed25519PrivateKey.generate()).verifier.vkey()
    peers = parse_peers(f"# the cities\nshaoxing https://sx.example {vkey}\n")
    assert peers.named("shaoxing").origin == B and peers.of_log(B).url == "https://sx.example"
    for text, message in ((f"shaoxing ftp://sx {vkey}", "http"), ("shaoxing https://sx", "expected"),
                          (f"a https://a {vkey}\nb https://b {vkey}", "twice")):
        with pytest.raises(InvalidInput, match=message):
            parse_peers(text)
    with pytest.raises(InvalidInput, match="own log"):
        parse_peers(f"shaoxing https://sx {vkey}", own_origin=B)
