"""The demo generator records its devices' scans through the one ingest use case."""

from __future__ import annotations

from tests.write_path import watch_write_path

from tests.demo.conftest import TOWN, build_town


def test_no_demo_scan_is_written_past_the_ingest_use_case(tmp_path, monkeypatch):
    watched = watch_write_path(monkeypatch)
    built = build_town(tmp_path, TOWN.with_(anomaly_rate=0.0))
    try:
        with built.ledger.db.reading() as c:
            scans = {event_id for (event_id,) in c.exec_driver_sql("SELECT id FROM events WHERE kind <> 'register'")}
        assert scans and {event.id for event in watched.created()} == scans
        assert all(call.judge for call in watched.calls)  # judged as each device's batch arrives
        assert "ledger.ingest" in watched.began_in()
    finally:
        built.ledger.db.dispose()
