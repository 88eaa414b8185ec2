"""A receive keeps the segment it verified even when the follower kept the first part of it meanwhile.

The receive of a cylinder coming back from another city fetches and verifies that city's segment before its
write transaction; the city's announcement of the same events may have the follower keep some of them in
between. The chain then ends at one of the verified events, not where the receive found it: what follows that
event is kept, and the receive is recorded, instead of a conflict the client would have to send again."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.crossing import verify_segment
from ledger.domain import EventKind, NewEvent
from ledger.errors import SegmentRefused
from ledger.signednote import NoteSigner
from ledger.storage import foreign as foreign_rows
from tests.unit.test_crossing import B, REGISTER, _bundle, _chain

CYLINDER = "7K3Q9XZ2ABM"
STEPS = [("register", "G1", None, REGISTER), ("fill", "F1", None, {"net_kg": 14.5}),
         ("dispatch", "F1", "T2", {}), ("receive", "S3", None, {}), ("deliver", "S3", "U4", {})]
NOW = datetime(2026, 5, 2, tzinfo=timezone.utc)
RECEIVE = NewEvent(CYLINDER, EventKind.RECEIVE, NOW, "S9", "k-receive")


def _segment(signer: NoteSigner, events, known: int):
    """The segment a city verifies of the first ``known`` events' log, all of them new to it."""
    return verify_segment(_bundle(signer, events[:known]), signer.verifier, CYLINDER, {})


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(B, Ed25519PrivateKey.generate())


def test_the_rest_of_a_verified_segment_is_kept_after_the_part_the_follower_kept(ledger, signer):
    events = _chain(STEPS)
    whole = _segment(signer, events, 5)
    with ledger.db.writing() as c:
        chain: dict = {}
        ledger._keep(c, RECEIVE, (_segment(signer, events, 2),), chain, NOW)  # the follower: seqs 0 and 1
        assert chain[CYLINDER] == (1, events[1].hash)
        ledger._keep(c, RECEIVE, (whole,), chain, NOW)  # the receive verified 0 to 4 before that
        assert chain[CYLINDER] == (4, events[4].hash)
        assert [row[1] for row in foreign_rows.rows_of(c, [CYLINDER])] == [0, 1, 2, 3, 4]


def test_a_chain_that_ends_elsewhere_is_still_refused(ledger, signer):
    events = _chain(STEPS)
    with ledger.db.writing() as c:
        chain: dict = {}
        ledger._keep(c, RECEIVE, (_segment(signer, events, 2),), chain, NOW)
        chain[CYLINDER] = (1, b"\x01" * 32)  # not an event of the segment: the chain went its own way here
        with pytest.raises(SegmentRefused, match="changed here while"):
            ledger._keep(c, RECEIVE, (_segment(signer, events, 5),), chain, NOW)
