"""Single events and batches enter through the one ingest use case, which alone begins their writes."""

from __future__ import annotations

from tests.write_path import watch_write_path

from .conftest import World, event_body

REVIEWER = "api.review"  # the process's reviewer works beside the requests, in its own transactions


def test_a_single_event_is_not_written_past_the_ingest_use_case(world: World, monkeypatch) -> None:
    watched = watch_write_path(monkeypatch)
    answer = world.client.post("/v1/events", json=event_body(world.cylinders[0]), headers=world.auth("station"))
    assert answer.status_code == 201
    (call,) = watched.calls
    assert call.judge and [s.items[0].idempotency_key for s in call.submissions] == [
        answer.json()["event"]["idempotency_key"]]
    assert [event.id for event in watched.created()] == [answer.json()["event"]["id"]]
    assert isinstance(answer.json()["findings"], list)  # judged after the commit, as the use case does
    assert watched.only_ingest_wrote(REVIEWER), watched.began_in(REVIEWER)


def test_a_batch_is_not_written_past_the_ingest_use_case(world: World, monkeypatch) -> None:
    watched = watch_write_path(monkeypatch)
    items = [event_body(world.cylinders[n]) for n in range(3)]
    answer = world.client.post("/v1/events/batch", json={"events": items}, headers=world.auth("station"))
    assert [r["status"] for r in answer.json()["results"]] == ["created"] * 3
    (call,) = watched.calls
    assert not call.judge  # left queued for the reviewer
    assert [event.id for event in watched.created()] == [r["event"]["id"] for r in answer.json()["results"]]
    assert watched.only_ingest_wrote(REVIEWER), watched.began_in(REVIEWER)
