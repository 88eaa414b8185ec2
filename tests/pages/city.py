"""A small town for the page tests: every role's account and cylinders in every condition a page shows.

``populate(ledger)`` writes it through the service (as the API would) and
returns a ``Town``: party ids, tokens per role, personal data that must never
reach the public page, and cylinders by the story they tell.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import text

from ledger.domain import EventKind, NewEvent, Paper, PartyKind, PersonRole, Role
from ledger.service import Actor, Ledger, Registration

ADMIN = Actor(Role.ADMIN, None, "fixture")
LICENCE = Paper("LIC-2026-001", date(2031, 12, 31))
CERTIFICATE = Paper("CERT-2026-9", date(2031, 12, 31))


@dataclass
class Town:
    ledger: Ledger
    parties: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)
    cylinders: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # personal data: names, phones, addresses, refs
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def actor(self, role: str) -> Actor:
        return {
            "station": Actor(Role.COMPANY, self.parties["station"], "station"),
            "transporter": Actor(Role.TRANSPORTER, self.parties["transporter"], "transporter"),
            "shop": Actor(Role.SHOP, self.parties["shop"], "shop"),
            "inspection": Actor(Role.INSPECTION, self.parties["inspection"], "inspection"),
        }[role]

    def record(self, role: str, cylinder: str, kind: EventKind, hours_ago: float, **extra) -> list:
        actor = self.actor(role)
        event = NewEvent(cylinder, kind, self.now - timedelta(hours=hours_ago), actor.party, str(uuid.uuid4()),
                         **extra)
        with self.ledger.db.writing() as connection:
            return self.ledger.record_batch(connection, actor, [event])

    def register(self, *, made: date = date(2022, 3, 1), life: int = 8, inspected: date = date(2024, 3, 1),
                 due: date = date(2028, 3, 1), days_ago: int = 20) -> str:
        facts = Registration(self.parties["company"], f"SN-{uuid.uuid4().hex[:10]}", "浙江钢瓶厂", made, "YSP-15",
                             15.2, life, inspected, due, occurred_at=self.now - timedelta(days=days_ago))
        with self.ledger.db.writing() as connection:
            return self.ledger.register(connection, ADMIN, facts).event.cylinder

    def full_trip(self, code: str, end_user: str) -> None:
        """Filled, carried, confirmed at every handover, delivered to an end user: a legal life."""
        P = self.parties
        self.record("station", code, EventKind.FILL, 60, data={"net_kg": 14.5})
        self.record("station", code, EventKind.DISPATCH, 59, to=P["transporter"],
                    data={"vehicle": "浙A12345", "driver": self.people["driver"], "escort": self.people["escort"]})
        self.record("transporter", code, EventKind.RECEIVE, 58.9)
        self.record("transporter", code, EventKind.DISPATCH, 50, to=P["shop"],
                    data={"vehicle": "浙A12345", "driver": self.people["driver"], "escort": self.people["escort"]})
        self.record("shop", code, EventKind.RECEIVE, 49.9)
        self.record("shop", code, EventKind.DELIVER, 30, to=end_user, person=self.people["worker"],
                    data={"net_kg": 14.4})


def populate(ledger: Ledger) -> Town:
    town = Town(ledger)
    cast = (("company", PartyKind.GAS_COMPANY, "东方燃气有限公司", None),
            ("station", PartyKind.FILLING_STATION, "东方燃气城北充装站", "company"),
            ("transporter", PartyKind.TRANSPORTER, "顺达危货运输", None),
            ("shop", PartyKind.SHOP, "街角液化气供应站", None),
            ("shop2", PartyKind.SHOP, "河西液化气门店", None),
            ("inspection", PartyKind.INSPECTION_STATION, "市气瓶检验站", None),
            ("regulator", PartyKind.REGULATOR, "市燃气管理办公室", None))
    accounts = (("admin", Role.ADMIN, None), ("regulator", Role.REGULATOR, "regulator"),
                ("inspector", Role.INSPECTOR, "regulator"), ("company", Role.COMPANY, "station"),
                ("transporter", Role.TRANSPORTER, "transporter"), ("shop", Role.SHOP, "shop"),
                ("inspection", Role.INSPECTION, "inspection"))
    with ledger.db.writing() as c:
        for key, kind, name, parent in cast:
            region = "330106" if key == "shop2" else "330110"
            party = ledger.create_party(c, kind=kind, name=name, region=region, licence=LICENCE,
                                        parent=town.parties.get(parent) if parent else None)
            town.parties[key] = party.id
        for key, role, party in accounts:
            name = "钱检查" if key == "inspector" else f"{key} desk"  # the inspector cases are dispatched to
            town.tokens[key] = ledger.create_account(c, role=role, party=town.parties.get(party), name=name)
        for key, party, name, role in (("driver", "transporter", "王建国", PersonRole.DRIVER),
                                       ("escort", "transporter", "李押运", PersonRole.ESCORT),
                                       ("worker", "shop", "赵送气", PersonRole.DELIVERY_WORKER),
                                       ("officer", "regulator", "钱检查", PersonRole.INSPECTOR)):
            person = ledger.create_person(c, party=town.parties[party], name=name, role=role, certificate=CERTIFICATE)
            town.people[key] = person.id
            town.secrets += [name, person.id]
        shop = town.actor("shop")
        user = ledger.create_end_user(c, shop, kind="household", name="张晓梅", phone="13800001234",
                                      address="城北路 88 号 3 单元 501")
    town.secrets += [user, "张晓梅", "13800001234", "城北路 88 号"]
    town.people["end_user"] = user

    town.cylinders["clean"] = town.register()
    town.full_trip(town.cylinders["clean"], user)
    town.cylinders["overdue"] = town.register(made=date(2020, 3, 1), inspected=date(2020, 3, 1), due=date(2023, 3, 1))
    town.cylinders["old"] = town.register(made=date(2008, 3, 1), inspected=date(2022, 3, 1), due=date(2027, 3, 1))
    scrapped = town.cylinders["scrapped"] = town.register()
    town.record("inspection", scrapped, EventKind.RECEIVE, 40)
    town.record("inspection", scrapped, EventKind.SCRAP, 39)
    jump = town.cylinders["jump"] = town.register()
    town.record("shop", jump, EventKind.RECEIVE, 10)  # nobody handed it over: a custody jump
    tampered = town.cylinders["tampered"] = town.register()
    town.record("station", tampered, EventKind.FILL, 20, data={"net_kg": 14.5})
    tamper_fill(ledger, tampered)
    return town


def tamper_fill(ledger: Ledger, cylinder: str) -> None:
    """What an insider with database access would do: rewrite a stored fill weight behind the ledger."""
    with ledger.db.writing() as c:
        sqlite = c.dialect.name == "sqlite"
        if sqlite:
            triggers = c.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                         "AND tbl_name = 'events'").fetchall()
            for name, _ in triggers:
                c.exec_driver_sql(f'DROP TRIGGER "{name}"')
        else:
            c.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
        row = c.execute(text("SELECT id, data FROM events WHERE cylinder = :c AND kind = 'fill'"),
                        {"c": cylinder}).one()
        data = {**json.loads(row.data), "net_kg": 11.0}
        c.execute(text("UPDATE events SET data = :d WHERE id = :id"),
                  {"d": json.dumps(data, separators=(",", ":")), "id": row.id})
        if sqlite:
            for _, sql in triggers:
                c.exec_driver_sql(sql)
        else:
            c.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER USER")
