"""What the ledger answers for a recorded event is typed: a misspelt status or finding kind cannot be built."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ledger.domain import EventKind, FindingKind, NewEvent, Role, Severity
from ledger.outcomes import Outcome, RaisedFinding, Status
from ledger.service import Actor
from tests.conftest import NOW, build_town, register


def test_a_misspelt_status_or_finding_kind_fails_where_it_is_made_not_in_a_client():
    with pytest.raises(ValueError):
        Outcome("creatd")
    with pytest.raises(ValueError):
        RaisedFinding(1, "custody_jmup", Severity.HIGH, None, "a typo")
    with pytest.raises(ValueError):
        RaisedFinding(1, FindingKind.CUSTODY_JUMP, "severe", None, "not a severity")
    # the values are the API's words, so the JSON does not change
    assert Outcome("duplicate").status is Status.DUPLICATE and f"{Status.DUPLICATE}" == "duplicate"
    assert [s.value for s in Status] == ["created", "duplicate", "rejected"]


def test_a_recorded_event_answers_with_a_status_and_findings_of_their_own_types(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    jump = NewEvent(a, EventKind.RECEIVE, NOW + timedelta(hours=1), town.shop, str(uuid.uuid4()))
    with ledger.db.writing() as c:
        (outcome,) = ledger.record_batch(c, Actor(Role.SHOP, town.shop, "shop"), [jump], now=NOW + timedelta(hours=2))
        (again,) = ledger.record_batch(c, Actor(Role.SHOP, town.shop, "shop"), [jump], now=NOW + timedelta(hours=2))
    assert outcome.status is Status.CREATED and again.status is Status.DUPLICATE
    (finding,) = outcome.findings
    assert isinstance(finding, RaisedFinding)
    assert finding.kind is FindingKind.CUSTODY_JUMP and finding.severity is Severity.HIGH and finding.id > 0
    assert finding.as_dict() == {"id": finding.id, "kind": "custody_jump", "severity": "high",
                                 "party": finding.party, "note": finding.note}
