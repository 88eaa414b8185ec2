"""The ledger's judge comes in through its constructor; without one the ledger still answers everything,
and only the checkpoint publisher writes while a bundle is read."""

from __future__ import annotations

from datetime import timedelta

from ledger.errors import PermissionDenied
from ledger.rules import RulesConfig
from ledger.service import Ledger
from ledger.supervision import Supervisor
from tests.conftest import NOW, build_town, fill, register
from tests.write_path import watch_write_path


def test_a_ledger_without_rules_still_answers_the_three_questions(ledger):
    bare = Ledger(ledger.settings, ledger.db, rules=False)
    town = build_town(bare)
    (code,) = register(bare, town)
    bare.ingest_one(town.at_station, [fill(code, town, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    with bare.db.reading() as c:
        trace = bare.trace(c, code)
        risk = bare.risk_cylinders(c, reason="overdue_inspection")
    assert trace["chain"]["status"] == "intact" and trace["chain"]["length"] == 2
    assert trace["origin"]["last_fill"]["station"]["id"] == town.station and trace["findings"] == []
    assert risk["items"] == []


class Refusing(Supervisor):
    """The custody rules, refusing every event."""

    def authorize(self, connection, actor, item) -> None:
        raise PermissionDenied("refused by the judge this ledger was built with")


def test_the_judge_a_ledger_is_built_with_is_the_one_that_decides(ledger):
    judged = Ledger(ledger.settings, ledger.db, judge=Refusing(RulesConfig(vanished_days=5)))
    town = build_town(judged)
    (code,) = register(judged, town)
    (outcome,) = judged.ingest_one(town.at_station, [fill(code, town, NOW + timedelta(hours=1))],
                                   NOW + timedelta(hours=2))
    assert outcome.status == "rejected" and isinstance(outcome.error, PermissionDenied)
    assert "built with" in outcome.error.message
    assert judged.rules_config.vanished_days == 5


def test_a_bundle_writes_nothing_but_the_checkpoint_its_publisher_signs(ledger, monkeypatch):
    town = build_town(ledger)
    (code,) = register(ledger, town)
    watched = watch_write_path(monkeypatch)
    ledger.bundle(code)
    assert watched.began_in() == {"ledger.publisher"}  # the log grew: one checkpoint signed
    watched.writers.clear()
    ledger.bundle(code)
    assert watched.writers == []  # covered already: a bundle only reads
