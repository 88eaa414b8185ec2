"""The quality report on a hand-made truth and hand-made findings."""

from __future__ import annotations

import pytest

from tools.demo.quality import KindScore, Raised, from_table, render, score
from tests.demo.conftest import open_ledger

TRUTH = [
    {"kind": "overfill", "cylinder": "AAAAAAAAAA1", "outcome": "created"},
    {"kind": "overfill", "cylinder": "AAAAAAAAAA1", "outcome": "created"},  # two events, one cylinder
    {"kind": "overfill", "cylinder": "BBBBBBBBBB2", "outcome": "created"},
    {"kind": "vanished", "cylinder": "CCCCCCCCCC3", "outcome": "created"},
    {"kind": "event_after_scrap", "cylinder": "DDDDDDDDDD4", "outcome": "rejected"},
    {"kind": "unregistered_code", "cylinder": "EEEEEEEEEE5", "outcome": "rejected"},
]


def by_kind(scores: list[KindScore]) -> dict[str, KindScore]:
    return {s.kind: s for s in scores}


def test_recall_and_precision_count_distinct_cylinders():
    raised = [
        Raised("overfill", "AAAAAAAAAA1"), Raised("overfill", "AAAAAAAAAA1"),  # two findings, one cylinder
        Raised("overfill", "ZZZZZZZZZZ9"),  # a false alarm
        Raised("vanished", "BBBBBBBBBB2"),  # right cylinder, wrong kind
    ]
    scores = by_kind(score(TRUTH, raised))
    assert (scores["overfill"].planted, scores["overfill"].detected, scores["overfill"].raised) == (2, 1, 2)
    assert scores["overfill"].recall == 0.5 and scores["overfill"].precision == 0.5
    assert scores["vanished"].recall == 0.0 and scores["vanished"].precision == 0.0
    assert scores["custody_jump"].recall is None and scores["custody_jump"].precision is None


def test_an_event_the_ledger_refused_counts_as_prevented():
    scores = by_kind(score(TRUTH, []))
    assert scores["event_after_scrap"].prevented == 1 and scores["event_after_scrap"].recall == 1.0
    # an unregistered code is always refused; only a finding counts for it
    assert scores["unregistered_code"].prevented == 0 and scores["unregistered_code"].recall == 0.0


def test_an_unregistered_code_finding_matches_by_the_code_it_names():
    named = Raised("unregistered_code", None, "unregistered_code:EEEEEEEEEE5:S1", "S1 scanned EEEEEEEEEE5")
    stranger = Raised("unregistered_code", None, "unregistered_code:QQQQQQQQQQ7:S1", "S1 scanned QQQQQQQQQQ7")
    scores = by_kind(score(TRUTH, [named, stranger]))
    assert scores["unregistered_code"].recall == 1.0 and scores["unregistered_code"].precision == 0.5


def test_the_table_lists_every_kind_and_the_totals():
    text = render(score(TRUTH, [Raised("overfill", "AAAAAAAAAA1")]))
    lines = text.splitlines()
    assert lines[0].split() == ["kind", "planted", "found", "refused", "raised", "false", "recall", "precision"]
    assert lines[-1].split()[:3] == ["all", "kinds", "5"]  # distinct (kind, cylinder) pairs
    overfill = next(line for line in lines if line.startswith("overfill"))
    assert overfill.split() == ["overfill", "2", "1", "0", "1", "0", "50%", "100%"]


@pytest.fixture
def findings_db(tmp_path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'q.db'}", tmp_path)
    yield ledger
    ledger.db.dispose()


def test_findings_a_late_event_resolved_do_not_count(findings_db):
    rows = [("overfill:A:1", "overfill", "AAAAAAAAAA1", "open"), ("custody_jump:B:3", "custody_jump", "BBBBBBBBBB2", "resolved"),
            ("vanished:C:9", "vanished", "CCCCCCCCCC3", "closed")]
    with findings_db.db.writing() as c:
        for key, kind, cylinder, status in rows:
            c.exec_driver_sql(
                "INSERT INTO findings (key, kind, severity, cylinder, events, note, detected_at, status, updated_at) "
                "VALUES (?, ?, 'high', ?, '[]', 'n', '2026-05-01T00:00:00.000000Z', ?, '2026-05-01T00:00:00.000000Z')",
                (key, kind, cylinder, status))
    with findings_db.db.reading() as c:
        raised = from_table(c)
    assert [(f.kind, f.cylinder) for f in raised] == [("overfill", "AAAAAAAAAA1"), ("vanished", "CCCCCCCCCC3")]
