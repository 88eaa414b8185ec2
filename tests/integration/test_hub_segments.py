"""A cylinder's chain in two cities' logs, as the hub holds it: hand-made logs in the hand-off format
(docs/regions.md: ``data.to_log`` on the hand-off, ``data.from_log`` and the ``prev_hash`` link on the next
segment's first event), verified and stored by the mirror, traced and bundled by the hub, and the bundle
checked offline with both cities' keys."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.domain import format_time
from ledger.errors import ChainBroken, ProofInvalid
from ledger.proofs import leaf_hash
from ledger.segments import segment_verdicts, verify_segments
from ledger.service import hub, mirror
from ledger.service.hub import CityView
from ledger.service.mirror import Frontier, MirrorRefused
from ledger.signednote import NoteSigner, NoteVerifier, sign_checkpoint
from ledger.storage import Database
from ledger.wire import hash_of_json
from tests.conftest import BACKENDS, NOW, create_database, drop_database

A, B = "hangzhou.test/log", "shaoxing.test/log"
REGISTER = {"serial": "SN-1", "manufacturer": "Zhejiang Steel", "model": "YSP-15", "manufactured_on": "2022-03-01",
            "tare_kg": 15.2, "design_life_years": 8, "last_inspected_on": "2024-03-01",
            "next_inspection_due": "2028-03-01", "owner": "COMPANY1"}


class HandLog:
    """A log written by hand: entries in the wire form, a frontier for its root, a key to sign checkpoints."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        key = Ed25519PrivateKey.generate()
        self.signer = NoteSigner(origin, key)
        self.verifier = NoteVerifier(origin, key.public_key())
        self.entries: list[dict] = []
        self.frontier = Frontier()

    def add(self, cylinder: str, seq: int, kind: str, prev: dict | None, data: dict, party: str = "COMPANY1") -> dict:
        entry = {"id": len(self.entries), "log_index": len(self.entries), "cylinder": cylinder, "seq": seq,
                 "kind": kind, "occurred_at": format_time(NOW + timedelta(hours=seq)),
                 "recorded_at": format_time(NOW + timedelta(hours=seq, seconds=1)), "party": party, "person": None, "to": None,
                 "location": None, "data": data, "idempotency_key": str(uuid.uuid4()),
                 "prev_hash": None if prev is None else prev["hash"]}
        entry["hash"] = hash_of_json(entry).hex()
        self.entries.append(entry)
        self.frontier.push(leaf_hash(bytes.fromhex(entry["hash"])))
        return entry

    def checkpoint(self):
        return sign_checkpoint(self.signer, self.origin, self.frontier.size, self.frontier.root())


def mirror_into(database: Database, log: HandLog) -> None:
    """What `ledger mirror follow` does with what the log serves: verify, then store."""
    checkpoint = log.checkpoint()
    with database.reading() as c:
        held, frontier = mirror.held_state(c, log.verifier)
    entries = log.entries[0 if held is None else held.size:]
    with database.reading() as c:
        update = mirror.verify_entries(c, held, frontier, checkpoint, entries)
    with database.writing() as c:
        mirror.store(c, update, log.verifier, f"http://{log.origin}")


@pytest.fixture(params=BACKENDS)
def mirrors(request, tmp_path):
    made = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        url = create_database(request.param, folder)
        database = Database(url)
        database.migrate()
        made.append((url, database))
    yield [database for _, database in made]
    for url, database in made:
        database.dispose()
        drop_database(url)


def test_a_chain_across_two_logs_is_traced_and_bundled_and_verifies_offline(mirrors, tmp_path):
    a, b = HandLog(A), HandLog(B)
    code = "CROSSCITY01"
    e0 = a.add(code, 0, "register", None, REGISTER)
    e1 = a.add(code, 1, "fill", e0, {"net_kg": 14.5})
    e2 = a.add(code, 2, "dispatch", e1, {"to_log": B})
    other = a.add("HOMECYL0001", 0, "register", None, {**REGISTER, "serial": "SN-2"})
    e3 = b.add(code, 3, "receive", e2, {"from_log": A}, party="SHOP2")
    e4 = b.add(code, 4, "deliver", e3, {}, party="SHOP2")
    e5 = b.add(code, 5, "return", e4, {"to_log": A}, party="SHOP2")
    mirror_into(mirrors[0], a)
    mirror_into(mirrors[1], b)
    e6 = a.add(code, 6, "receive", e5, {"from_log": B})  # back home: continues the chain after B's segment
    a.add("HOMECYL0001", 1, "fill", other, {"net_kg": 14.5})
    mirror_into(mirrors[0], a)  # the mirror takes a segment's first event whose link is in another log

    cities = [CityView("杭州", "http://a", A, "330100", None, mirrors[0]),
              CityView("绍兴", "http://b", B, "330600", None, mirrors[1])]
    trace = hub.trace(cities, code)
    assert trace["intact"], trace["problems"]
    assert [(s["city"], s["first_seq"], s["last_seq"]) for s in trace["segments"]] == \
        [("杭州", 0, 2), ("绍兴", 3, 5), ("杭州", 6, 6)]
    assert trace["held_in"] == "杭州" and trace["segments"][2]["events"][0]["hash"] == e6["hash"]

    bundle = hub.bundle(cities, code)
    done = verify_segments(bundle, [a.verifier, b.verifier])
    assert (done.events, done.logs, done.head) == (7, (A, B, A), e6["hash"])
    with pytest.raises(ProofInvalid, match="no key of it"):
        verify_segments(bundle, [a.verifier])
    dropped = copy.deepcopy(bundle)  # B's segment left out: the chain breaks where it was
    del dropped["segments"][1]
    with pytest.raises(ProofInvalid, match="same log"):
        verify_segments(dropped, [a.verifier, b.verifier])
    forged = copy.deepcopy(bundle)  # the hand-off rewritten to name another log
    forged["segments"][0]["events"][2]["data"]["to_log"] = "ningbo.test/log"
    with pytest.raises(ChainBroken):
        verify_segments(forged, [a.verifier, b.verifier])
    # each segment judged on its own, as the proof page shows it: a defect shows in its segment only
    judged = segment_verdicts(bundle, [a.verifier, b.verifier])
    assert [(v.origin, v.failure, v.checkpoint.origin) for v in judged] == [(A, None, A), (B, None, B), (A, None, A)]
    unknown = segment_verdicts(bundle, [a.verifier])
    assert [(v.origin, v.failure is None, v.checkpoint is None) for v in unknown] == [
        (A, True, False), (B, False, True), (A, True, False)]
    assert "no key of it" in unknown[1].failure.message
    altered = copy.deepcopy(bundle)
    altered["segments"][1]["events"][1]["occurred_at"] = format_time(NOW)
    judged = segment_verdicts(altered, [a.verifier, b.verifier])
    assert [v.failure is None for v in judged] == [True, False, True] and "was altered" in judged[1].failure.message

    # A segment whose first event does not link to the hand-off is reported by the hub's trace.
    c = HandLog("ningbo.test/log")
    c.add(code, 7, "receive", e4, {"from_log": A}, party="SHOP3")  # links to seq 4, not 6
    third = Database(f"sqlite:///{tmp_path / 'c.db'}")
    third.migrate()
    try:
        mirror_into(third, c)
        broken = hub.trace(cities + [CityView("宁波", "http://c", c.origin, "330200", None, third)], code)
    finally:
        third.dispose()
    assert not broken["intact"]
    assert any("does not link to seq 6" in p for p in broken["problems"])
    assert any("does not hand the cylinder to ningbo.test/log" in p for p in broken["problems"])
    assert {"unlinked", "not_handed"} <= {issue["kind"] for issue in broken["issues"]}  # the same, as kinds


def test_the_mirror_refuses_an_arriving_event_behind_its_chain(mirrors):
    a = HandLog(A)
    e0 = a.add("CROSSCITY02", 0, "register", None, REGISTER)
    a.add("CROSSCITY02", 1, "fill", e0, {"net_kg": 14.5})
    mirror_into(mirrors[0], a)
    a.add("CROSSCITY02", 1, "receive", e0, {"from_log": B})  # seq 1 again, said to come from B
    with pytest.raises(MirrorRefused, match="behind its chain"):
        mirror_into(mirrors[0], a)
