"""Findings of every common kind, written through the service into a page test town.

``add_stories(town)`` adds cylinders whose stories raise them: a trip with no
escort, an overfill, a short delivery, fills overdue and past design life, a
cylinder silent for weeks in transit, a handover a late record explained, a scan of a
code never issued, and one
finding stored as rows were before evidence was kept (English note, no evidence).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ledger import tracecode
from ledger.domain import EventKind
from ledger.storage import findings as store

from .city import Town

K = EventKind
OLD_NOTE = "no event for 41 days while in_transit with someone, from 2026-01-01T00:00:00Z up to now"


def add_stories(town: Town) -> Town:
    P, people = town.parties, town.people
    crew = {"vehicle": "浙A12345", "driver": people["driver"], "escort": people["escort"]}

    escort = town.cylinders["no_escort"] = town.register()
    town.record("station", escort, K.FILL, 30, data={"net_kg": 14.5})
    town.record("station", escort, K.DISPATCH, 29, to=P["transporter"],
                data={"vehicle": "浙A12345", "driver": people["driver"]})
    town.record("transporter", escort, K.RECEIVE, 28.9)

    over = town.cylinders["overfill"] = town.register()
    town.record("station", over, K.FILL, 30, data={"net_kg": 16.5})

    short = town.cylinders["short"] = town.register()
    town.record("station", short, K.FILL, 60, data={"net_kg": 14.5})
    town.record("station", short, K.DISPATCH, 59, to=P["shop"], data=crew)
    town.record("shop", short, K.RECEIVE, 58.9)
    town.record("shop", short, K.DELIVER, 30, to=people["end_user"], person=people["worker"], data={"net_kg": 12.0})

    town.record("station", town.cylinders["overdue"], K.FILL, 5, data={"net_kg": 14.5})
    town.record("station", town.cylinders["old"], K.FILL, 5, data={"net_kg": 14.5})

    silent = town.cylinders["silent"] = town.register(days_ago=60)
    town.record("station", silent, K.FILL, 59 * 24, data={"net_kg": 14.5})
    town.record("station", silent, K.DISPATCH, 58 * 24, to=P["transporter"], data=crew)
    town.record("transporter", silent, K.RECEIVE, 58 * 24 - 0.1)

    late = town.cylinders["late"] = town.register()
    town.record("station", late, K.FILL, 101, data={"net_kg": 14.5})
    town.record("station", late, K.DISPATCH, 100, to=P["transporter"], data=crew)  # unconfirmed past 24 h
    town.record("transporter", late, K.RECEIVE, 99)  # synced only now: explains the open handover

    stranger = town.cylinders["stranger"] = tracecode.generate()  # a code nobody registered: 黑气瓶
    town.record("shop", stranger, K.RECEIVE, 1)

    with town.ledger.db.writing() as c:  # a finding as stored before evidence was kept
        at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        finding = store.insert_finding(
            c, key=f"vanished:{town.cylinders['clean']}:legacy", kind="vanished", severity="medium",
            cylinder=town.cylinders["clean"], party=P["transporter"], region="330110", events=[], note=OLD_NOTE,
            detected_at=at, status="open", assignee=None, resolved_by=None, updated_at=at)
        store.add_action(c, finding, "detect", "open", "ledger", OLD_NOTE, at)
    town.legacy_finding = finding  # type: ignore[attr-defined]
    return town
