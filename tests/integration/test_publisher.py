"""The checkpoint publisher: when it signs, and what it does with witnesses that answer, fail or lie."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from ledger.cosigning import verify_cosignatures
from ledger.errors import ProofInvalid
from ledger.service import Ledger
from ledger.signednote import open_checkpoint
from tests.conftest import NOW, build_town, fill, register
from tests.witnessing import LyingWitness, WitnessServer

INTERVAL = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW + timedelta(days=400)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def publishing(ledger: Ledger, tmp_path, *witnesses, interval: float = INTERVAL) -> tuple[Ledger, Clock]:
    """A ledger on the same database whose publisher has ``witnesses`` and a clock the test moves."""
    listed = tmp_path / f"witnesses-{uuid.uuid4().hex[:6]}"
    listed.write_text("# name url key\n" + "".join(w.line() for w in witnesses))
    origin = f"test.cylinder-ledger/{uuid.uuid4().hex[:8]}"  # one log per test, as each witness sees it
    settings = replace(ledger.settings, log_origin=origin, checkpoint_interval=interval, witnesses_file=listed)
    published = Ledger(settings, ledger.db)
    for witness in witnesses:
        if isinstance(witness, WitnessServer):
            witness.add_log(origin, published.verifier.vkey())
    clock = Clock()
    published.publisher.clock = clock
    return published, clock


def count(ledger: Ledger, table: str) -> int:
    with ledger.db.reading() as c:
        return c.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def states(ledger: Ledger) -> dict[str, tuple]:
    with ledger.db.reading() as c:
        rows = c.execute(text("SELECT witness, cosigned_size, failures, retry_at, last_error FROM witness_states"))
        return {row[0]: tuple(row[1:]) for row in rows}


def grow(ledger: Ledger, town, codes: list[str], n: int = 1) -> None:
    with ledger.db.writing() as c:
        for k in range(n):
            ledger.record(c, town.at_station, fill(codes[0], town, NOW + timedelta(hours=1 + k)))


@pytest.fixture(scope="module")
def witness(tmp_path_factory):
    with WitnessServer(tmp_path_factory.mktemp("witness"), "alpha") as server:
        yield server


def test_nothing_is_signed_while_the_log_does_not_grow(ledger, tmp_path) -> None:
    published, clock = publishing(ledger, tmp_path)
    assert published.publisher.publish_due() is None  # an empty log: nothing to sign
    town = build_town(published)
    register(published, town, 2)
    first = published.publisher.publish_due()
    assert first is not None and first.size == 2
    for _ in range(3):
        clock.advance(INTERVAL * 5)
        assert published.publisher.publish_due() is None
    assert count(published, "checkpoints") == 1


def test_at_most_one_checkpoint_an_interval(ledger, tmp_path) -> None:
    published, clock = publishing(ledger, tmp_path, interval=10)
    town = build_town(published)
    codes = register(published, town)
    assert published.publisher.publish_due().size == 1
    grow(published, town, codes)
    clock.advance(9.9)
    assert published.publisher.publish_due() is None  # grown, but the newest is not an interval old
    published.publisher.clock = lambda: clock.now  # the other processes' view is the database's: same answer
    assert published.publisher.publish_due() is None
    clock.advance(0.1)
    assert published.publisher.publish_due().size == 2
    assert count(published, "checkpoints") == 2


def test_a_down_witness_neither_stops_publishing_nor_the_others_and_is_retried_with_backoff(
        ledger, tmp_path, witness, caplog) -> None:
    class Down:
        def line(self) -> str:  # a port nothing listens on, and any key: nothing ever answers
            return f"down http://127.0.0.1:{_closed_port()} {_other_vkey()}\n"

    published, clock = publishing(ledger, tmp_path, witness, Down())
    town = build_town(published)
    codes = register(published, town, 3)
    caplog.set_level(logging.WARNING, "ledger.publisher")
    with httpx.Client(timeout=5) as client:
        first = published.publisher.run_once(client)
        assert first.size == 3
        note = published.published().note
        assert states(published)["down"][:2] == (0, 1) and "did not answer" in states(published)["down"][3]
        assert states(published)["alpha"][:2] == (3, 0)
        (cosigned,) = verify_cosignatures(note, [witness.key], 1)
        assert cosigned.name == witness.key.name
        assert any("witness down failed (1 in a row)" in r.getMessage() for r in caplog.records)

        clock.advance(0.5)  # resting: not asked again yet, and the log still publishes
        grow(published, town, codes, 2)
        clock.advance(0.5)
        second = published.publisher.publish_due()
        assert second.size == 5
        tried = published.publisher.collect(client)
        assert tried["alpha"] == "cosigned" and tried["down"].startswith("failed")
        assert states(published)["down"][1] == 2  # its back-off now twice as long
        assert published.publisher.collect(client) == {}
        clock.advance(2.0)
        assert set(published.publisher.collect(client)) == {"down"}
    # The second checkpoint was cosigned from the first: the witness checked the consistency proof.
    assert states(published)["alpha"][0] == 5
    verify_cosignatures(published.published().note, [witness.key])


def test_a_cosignature_that_does_not_verify_is_not_stored(ledger, tmp_path) -> None:
    with LyingWitness() as liar:
        published, _clock = publishing(ledger, tmp_path, liar)
        town = build_town(published)
        register(published, town)
        with httpx.Client(timeout=5) as client:
            published.publisher.run_once(client)
        assert len(liar.requests) == 1 and liar.requests[0].startswith("old 0\n\n")
    assert count(published, "cosignatures") == 0
    assert "does not verify" in states(published)["liar"][3]
    note = published.published().note
    open_checkpoint(published.verifier, note)
    with pytest.raises(ProofInvalid, match="none from witness.test/liar"):
        verify_cosignatures(note, [liar.key])


def test_a_witness_that_knows_a_larger_size_is_asked_again_with_a_proof_from_it(ledger, tmp_path, witness) -> None:
    published, clock = publishing(ledger, tmp_path, witness)
    town = build_town(published)
    codes = register(published, town, 2)
    with httpx.Client(timeout=5) as client:
        published.publisher.run_once(client)
        assert states(published)["alpha"][0] == 2
        with published.db.writing() as c:  # the log forgot what the witness cosigned (a restored backup)
            c.execute(text("UPDATE witness_states SET cosigned_size = 0"))
        grow(published, town, codes, 3)
        clock.advance(INTERVAL)
        assert published.publisher.run_once(client).size == 5  # old 0 -> 409 "2" -> old 2 with a proof
    assert states(published)["alpha"][:2] == (5, 0)
    (cosignature,) = verify_cosignatures(published.published().note, [witness.key])
    assert cosignature.timestamp > 0


def _closed_port() -> int:
    from tests.api.served import free_port

    return free_port()  # bound and released: nothing listens there


def _other_vkey() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.cosigning import WitnessKey

    return WitnessKey("witness.test/down", Ed25519PrivateKey.generate().public_key()).vkey()


def test_the_running_publisher_signs_nothing_over_a_changed_log_and_says_so_once(ledger, tmp_path, caplog) -> None:
    from ledger.storage.tampering import suspend_triggers

    published, clock = publishing(ledger, tmp_path, interval=0.2)
    town = build_town(published)
    codes = register(published, town, 2)
    assert published.publisher.publish_due().size == 2
    with published.db.writing() as c:  # an event's hash rewritten behind the ledger's back
        restore = suspend_triggers(c)
        c.execute(text("UPDATE events SET hash = :h WHERE id = 0"), {"h": bytes(32)})
        restore()
    grow(published, town, codes)
    clock.advance(1)
    caplog.set_level(logging.INFO, "ledger.publisher")
    published.publisher.start()
    try:
        import time

        time.sleep(1.5)  # several rounds
    finally:
        published.publisher.stop()
    assert count(published, "checkpoints") == 1
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refusals) == 1 and refusals[0].exc_info is None
    assert "does not reproduce the signed checkpoint at size 2" in refusals[0].getMessage()
    assert "ledger verify" in refusals[0].getMessage()
