"""The driver page's sync and the field-report page record through the one ingest use case."""

from __future__ import annotations

from tests.write_path import watch_write_path

from .city import Town
from .conftest import sign_in
from .test_driver import scan, sync

REVIEWER = "api.review"  # the process's reviewer works beside the requests, in its own transactions


def test_the_driver_pages_sync_is_not_written_past_the_ingest_use_case(town: Town, client, monkeypatch):
    csrf = sign_in(client, town.tokens["shop"])
    watched = watch_write_path(monkeypatch)
    results = sync(client, csrf, [scan(town.cylinders["overdue"], "collect")]).json()["results"]
    assert [r["status"] for r in results] == ["created"]
    (call,) = watched.calls
    assert call.judge  # the driver must see the findings at once
    assert [event.id for event in watched.created()] == [results[0]["event"]["id"]]
    assert any(f["kind"] == "custody_jump" for f in results[0]["findings"])
    assert watched.only_ingest_wrote(REVIEWER), watched.began_in(REVIEWER)


def test_a_field_report_is_not_written_past_the_ingest_use_case(town: Town, client, monkeypatch):
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["clean"]
    watched = watch_write_path(monkeypatch)
    answer = client.post(f"/trace/{code}/report", data={"note": "标签破损，已拍照", "csrf": csrf})
    assert answer.status_code == 303
    (call,) = watched.calls
    assert call.judge and [event.kind.value for event in watched.created()] == ["report"]
    assert watched.created()[0].cylinder == code
    assert watched.only_ingest_wrote(REVIEWER), watched.began_in(REVIEWER)
