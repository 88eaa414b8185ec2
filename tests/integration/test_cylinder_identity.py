"""One physical cylinder, one row: the database holds the normalised stamp unique, on SQLite and PostgreSQL.

The racing registrations, the storage layer's own guard, and the migration that
adds the key to a database registered before it.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ledger.domain import EventKind, NewEvent, Paper, PartyKind, Role
from ledger.errors import Conflict
from ledger.service import Actor, Registration
from ledger.stamp import stamp_key
from ledger.storage import citus
from ledger.storage import registry as reg
from ledger.storage.db import _MIGRATIONS
from tests.conftest import ADMIN, NOW, build_town

MAKER, SERIAL = "Zhejiang Steel", "17315-0001364"


def _registration(owner: str, serial: str = SERIAL, manufacturer: str = MAKER) -> Registration:
    return Registration(owner, serial, manufacturer, date(2022, 3, 1), "YSP-15", 15.2, 8, date(2024, 3, 1),
                        date(2028, 3, 1), occurred_at=NOW)


def _cylinders(ledger) -> list[tuple[str, str, str]]:
    with ledger.db.reading() as c:
        return [tuple(row) for row in c.exec_driver_sql("SELECT id, manufacturer, serial FROM cylinders ORDER BY id")]


def _waiting_on_a_lock(ledger) -> bool:
    with ledger.db.reading() as c:
        return c.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND datname = current_database()").scalar_one() > 0


def test_two_racing_registrations_of_one_stamp_make_one_cylinder(ledger):
    """The second writer checks before the first commits: on PostgreSQL it reaches its insert while the
    first holds its row uncommitted, and the unique stamp makes it wait and then skip; on SQLite it waits
    for the write turn and finds the row. Either way it is told the first one's code."""
    town = build_town(ledger)
    inside, outcome = threading.Event(), {}

    def first() -> None:
        with ledger.db.writing() as c:
            outcome["first"] = ledger.register(c, ADMIN, _registration(town.company), now=NOW).event.cylinder
            inside.set()
            deadline = time.monotonic() + 10
            while not ledger.db.is_sqlite and not _waiting_on_a_lock(ledger) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)

    def second() -> None:
        inside.wait(10)
        try:
            with ledger.db.writing() as c:
                outcome["second"] = ledger.register(c, ADMIN, _registration(town.company, "１７３１５-0001364"), now=NOW)
        except Conflict as exc:
            outcome["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(outcome["second"], Conflict), outcome["second"]
    assert outcome["first"] in outcome["second"].message
    assert [row[0] for row in _cylinders(ledger)] == [outcome["first"]]


def test_the_storage_layer_leaves_out_a_row_whose_stamp_is_registered(ledger):
    town = build_town(ledger)
    with ledger.db.writing() as c:
        code = ledger.register(c, ADMIN, _registration(town.company), now=NOW).event.cylinder
        row = {column: value for column, value in reg.get_cylinder(c, code)._mapping.items()}
        twin = {**row, "id": "TWIN0000001", "serial": "１７３１５-0001364", "stamp_key": stamp_key(MAKER, "１７３１５-0001364")}
        assert reg.insert_cylinders(c, [twin]) == set()
    assert [row[0] for row in _cylinders(ledger)] == [code]


@pytest.mark.parametrize("key", ["same", "missing"])
def test_the_database_itself_refuses_a_second_row_of_one_stamp_or_a_row_without_one(ledger, key):
    town = build_town(ledger)
    with ledger.db.writing() as c:
        code = ledger.register(c, ADMIN, _registration(town.company), now=NOW).event.cylinder
        row = dict(reg.get_cylinder(c, code)._mapping)
    twin = {**row, "id": "TWIN0000001", "serial": "17315 0001364", "stamp_key": row["stamp_key"] if key == "same" else None}
    with pytest.raises(sa.exc.IntegrityError):
        with ledger.db.writing() as c:
            c.execute(sa.insert(sa.table("cylinders", *map(sa.column, twin))), twin)
    assert [row[0] for row in _cylinders(ledger)] == [code]


def test_a_cylinder_scrapped_in_a_batch_not_yet_reviewed_is_named_scrapped(ledger):
    """The projection's state lags a batch until the reviewer runs; the refusal reads the chain."""
    town = build_town(ledger)
    with ledger.db.writing() as c:
        code = ledger.register(c, ADMIN, _registration(town.company), now=NOW).event.cylinder
        lab = ledger.create_party(c, kind=PartyKind.INSPECTION_STATION, name="City Lab", region="330110",
                                  licence=Paper("LAB-1", date(2030, 12, 31)), now=NOW)
        scrap = NewEvent(code, EventKind.SCRAP, NOW + timedelta(hours=1), lab.id, "k-scrap-identity")
        outcome, = ledger.record_batch(c, Actor(Role.INSPECTION, lab.id, "lab"), [scrap],
                                       now=NOW + timedelta(hours=2), defer_review=True)
    assert outcome.status == "created"
    with pytest.raises(Conflict, match=f"{code}.*scrapped"):
        with ledger.db.writing() as c:
            ledger.register(c, ADMIN, _registration(town.company, "17315-0001364"), now=NOW + timedelta(hours=3))


# --- the migration --------------------------------------------------------------------------------


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _at_revision(ledger, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with ledger.db.writer.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.fixture
def before_the_key(ledger):
    """A database at revision 0003 (no stamp key) holding one gas company; the ``ledger`` fixture migrated
    a throwaway database to the head, so this starts from another one."""
    with ledger.db.reading() as c:
        if citus.distributed(c):
            pytest.skip("a cluster starts at the newest revision: ledger init distributes a migrated schema")
    ledger.db.dispose()
    with ledger.db.writer.begin() as c:
        if ledger.db.is_sqlite:
            every = sa.MetaData()
            every.reflect(c)
            every.drop_all(c)
        else:
            c.exec_driver_sql("DROP SCHEMA public CASCADE")
            c.exec_driver_sql("CREATE SCHEMA public")
    _at_revision(ledger, "0003")
    with ledger.db.writer.begin() as c:
        c.exec_driver_sql("INSERT INTO parties (id, kind, name, region, created_at) "
                          "VALUES ('G0000001', 'gas_company', 'Hangzhou Gas', '330110', '2026-01-01T00:00:00.000000Z')")
    return ledger


def _old_row(ledger, code: str, manufacturer: str, serial: str) -> None:
    with ledger.db.writer.begin() as c:
        c.execute(sa.text(
            "INSERT INTO cylinders (id, owner, serial, manufacturer, model, manufactured_on, tare_kg, design_life_years, "
            "registered_at, region, next_inspection_due, holder, state, state_since, last_event_at, chain_length) "
            "VALUES (:id, 'G0000001', :serial, :manufacturer, 'YSP-15', :made, 15.2, 8, :at, '330110', :due, "
            "'G0000001', 'at_station', :at, :at, 1)"),
            {"id": code, "serial": serial, "manufacturer": manufacturer, "made": date(2022, 3, 1),
             "due": date(2028, 3, 1), "at": "2026-01-01T00:00:00.000000Z"})


def test_a_cylinder_registered_before_the_key_with_a_zero_width_serial_is_found_by_its_clean_spelling(before_the_key):
    ledger = before_the_key
    _old_row(ledger, "OLD00000001", MAKER, "17315\u200b-0001364")
    assert ledger.db.migrate() == _head()
    with pytest.raises(Conflict, match="OLD00000001"):
        with ledger.db.writing() as c:
            ledger.register(c, ADMIN, _registration("G0000001"), now=NOW)
    assert [row[0] for row in _cylinders(ledger)] == ["OLD00000001"]


def test_the_migration_refuses_a_database_that_already_registered_one_cylinder_twice(before_the_key):
    ledger = before_the_key
    _old_row(ledger, "OLD00000001", MAKER, SERIAL)
    _old_row(ledger, "OLD00000002", "ZHEJIANG STEEL", "\ufeff１７３１５-0001364")
    _old_row(ledger, "OLD00000003", MAKER, "17315-0001365")
    with pytest.raises(Conflict) as refused:
        ledger.db.migrate()
    message = refused.value.message
    assert "OLD00000001" in message and "OLD00000002" in message and "OLD00000003" not in message
    assert "Nothing was changed" in message
    with ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "0003"
        assert "stamp_key" not in {column["name"] for column in sa.inspect(c).get_columns("cylinders")}


def test_a_twice_registered_cylinder_settled_as_documented_lets_the_migration_through(before_the_key):
    ledger = before_the_key
    _old_row(ledger, "OLD00000001", MAKER, SERIAL)
    _old_row(ledger, "OLD00000002", MAKER, "１７３１５-0001364")
    with pytest.raises(Conflict):
        ledger.db.migrate()
    with ledger.db.writer.begin() as c:  # docs/design.md "One cylinder, one trace code"
        c.exec_driver_sql("UPDATE cylinders SET serial = serial || ' (duplicate of OLD00000001)' WHERE id = 'OLD00000002'")
    assert ledger.db.migrate() == _head()
    with pytest.raises(Conflict, match="OLD00000001"):
        with ledger.db.writing() as c:
            ledger.register(c, ADMIN, _registration("G0000001"), now=NOW)


def test_ledger_init_exits_2_naming_the_cylinders_registered_twice(before_the_key, tmp_path, monkeypatch):
    """The refusal reaches the operator as a sentence and an exit code, not a traceback."""
    from typer.testing import CliRunner

    from tools.cli import app

    ledger = before_the_key
    _old_row(ledger, "OLD00000001", MAKER, SERIAL)
    _old_row(ledger, "OLD00000002", "zhejiang steel", SERIAL)
    monkeypatch.setenv("LEDGER_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("LEDGER_LABEL_KEY_FILE", str(tmp_path / "label.key"))
    url = ledger.db.url.render_as_string(hide_password=False)
    done = CliRunner().invoke(app, ["init", "--db", url])
    said = " ".join((done.output + getattr(done, "stderr", "")).split())
    assert done.exit_code == 2, said
    assert "OLD00000001" in said and "OLD00000002" in said and "Nothing was changed" in said
