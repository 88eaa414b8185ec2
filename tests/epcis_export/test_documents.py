"""The EPCIS documents the ledger writes: each validates against GS1's JSON Schema, each event's eventID
is what GS1's reference generator computes, the CLI streams in flat memory, and a cylinder's document
is open to exactly the accounts its trace is open to."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from epcis_event_hash_generator.hash_generator import epcis_hashes_from_events
from epcis_event_hash_generator.json_to_py import event_list_from_epcis_document_json

from ledger.domain import EventKind, format_time
from ledger.epcis.ids import cylinder_of
from ledger.epcis.mapping import CONTEXT, EXT_NS, from_epcis
from ledger.service.epcis import write_document

from tests.conftest import opened_end_users

from .conftest import schema_errors

ROOT = Path(__file__).resolve().parents[2]


def run_export(village, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **village.env(), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "tools.cli", "export-epcis", "--out", str(out), *args],
                          env=env, cwd=village.folder, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(village, tmp_path_factory) -> dict:
    """The whole village, exported by the command a user runs."""
    out = tmp_path_factory.mktemp("export") / "village.jsonld"
    done = run_export(village, out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{len(village.events())} events written to {out}"
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_whole_export_validates_and_holds_every_event_once(village, exported):
    assert schema_errors(exported) == []
    events = exported["epcisBody"]["eventList"]
    stored = village.events()
    assert [e["cl:log_index"] for e in events] == [e.id for e in stored]
    assert Counter(e["cl:kind"] for e in events) == Counter(e.kind.value for e in stored)
    assert {e["cl:kind"] for e in events} >= {k.value for k in EventKind} - {"report"}
    assert exported["@context"] == CONTEXT and exported["cl:checkpoint_size"] > 0
    assert exported["cl:checkpoint"].startswith("test.cylinder-ledger/log\n")


@pytest.mark.slow
def test_every_event_id_equals_the_reference_generators(exported):
    events = exported["epcisBody"]["eventList"]
    reference = epcis_hashes_from_events(event_list_from_epcis_document_json(exported), "sha256")
    assert reference == [e["eventID"] for e in events]
    assert len(set(reference)) == len(events)


def test_every_exported_event_maps_back_to_its_kind_and_cylinder(exported):
    for obj in exported["epcisBody"]["eventList"]:
        mapped = from_epcis(obj, context=exported["@context"])
        if obj["cl:kind"] == "register":
            assert mapped.field == "bizStep"  # registration has its own door
            continue
        assert mapped.kind.value == obj["cl:kind"], mapped
        assert mapped.cylinders == (obj["epcList"][0].rsplit(":", 1)[1],)


def test_no_personal_data_leaves_the_ledger(village, exported):
    text = json.dumps(exported, ensure_ascii=False)
    with village.ledger.db.reading() as connection:
        people = [name for (name,) in connection.exec_driver_sql("SELECT name FROM people")]
        users = [(name, phone) for _, name, phone, _ in opened_end_users(village.ledger, connection)]
    assert people and users
    for name in people:
        assert name not in text
    for name, phone in users:
        assert name not in text and phone not in text


@pytest.mark.slow
def test_since_and_until_select_by_recording_time(village, tmp_path):
    stored = village.events()
    times = sorted({e.recorded_at for e in stored})
    since, until = times[len(times) // 3], times[2 * len(times) // 3]
    out = tmp_path / "window.jsonld"
    done = run_export(village, out, "--since", format_time(since), "--until", format_time(until))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert schema_errors(document) == []
    expected = [e.id for e in stored if since <= e.recorded_at < until]
    assert expected and [e["cl:log_index"] for e in document["epcisBody"]["eventList"]] == expected


@pytest.mark.parametrize("args, message", [
    (("--since", "yesterday"), "--since is not an RFC 3339 time"),
    (("--since", "2026-05-02T00:00:00Z", "--until", "2026-05-01T00:00:00Z"), "--since must be before --until"),
    (("--until", "2026-05-01T00:00:00"), "--until must carry a UTC offset"),
])
def test_bad_windows_are_refused_and_write_nothing(village, tmp_path, args, message):
    out = tmp_path / "refused.jsonld"
    done = run_export(village, out, *args)
    assert done.returncode == 2 and message in " ".join(done.stderr.split())  # rich wraps at 80 columns
    assert list(tmp_path.iterdir()) == []


def _peak(village, until) -> tuple[int, int]:
    """(events written, peak bytes allocated) of one export to a sink, ``until`` bounding it; rows are read
    100 at a time, so both sizes measured span many chunks."""
    sink = open(os.devnull, "w", encoding="utf-8")
    with village.ledger.db.reading() as connection:
        tracemalloc.start()
        try:
            written = write_document(connection, sink, until=until, chunk=100)
            return written, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            sink.close()


@pytest.mark.slow
def test_the_export_streams_in_flat_memory(village):
    times = sorted(e.recorded_at for e in village.events())
    everything = times[-1] + timedelta(seconds=1)
    _peak(village, everything)  # warm what both runs share (caches of times and codes)
    small, small_peak = _peak(village, times[len(times) // 4])
    large, large_peak = _peak(village, everything)
    assert large >= 3 * small > 300
    buffer = io.StringIO()
    with village.ledger.db.reading() as connection:
        write_document(connection, buffer)
    # Four times the events, about the same peak: one chunk of rows at a time, never the document.
    assert large_peak < small_peak * 1.25 + 64 * 1024, (small, small_peak, large, large_peak)
    assert large_peak < len(buffer.getvalue()) / 4


def test_a_cylinders_document_is_its_whole_life(village):
    stored = village.events()
    by_cylinder: dict[str, list] = {}
    for event in stored:
        by_cylinder.setdefault(event.cylinder, []).append(event)
    # the cylinders with the longest and the most varied lives
    chosen = sorted(by_cylinder, key=lambda c: (-len({e.kind for e in by_cylinder[c]}), -len(by_cylinder[c])))[:8]
    for code in chosen:
        answer = village.client.get(f"/v1/cylinders/{code.lower()}/epcis", headers=village.auth("regulator"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/ld+json"
        assert answer.headers["gs1-epcis-version"] == "2.0.0"
        document = answer.json()
        assert schema_errors(document) == []
        events = document["epcisBody"]["eventList"]
        assert [(e["cl:seq"], e["cl:event_hash"]) for e in events] == [
            (e.seq, e.hash.hex()) for e in by_cylinder[code]]
        assert all(e["epcList"] == [f"urn:x-cylinder-ledger:cyl:{code}"] for e in events)
        assert epcis_hashes_from_events(event_list_from_epcis_document_json(document)) == [e["eventID"] for e in events]


def test_the_document_is_open_to_whoever_may_trace(village):
    code = village.events()[0].cylinder
    for path in (f"/v1/cylinders/{code}", "/v1/cylinders/ZZZZZZZZZZZ", "/v1/cylinders/no such"):
        for account in [*village.tokens, None]:
            headers = village.auth(account) if account else {}
            trace = village.client.get(f"{path}/trace", headers=headers)
            epcis = village.client.get(f"{path}/epcis", headers=headers)
            assert epcis.status_code == trace.status_code, (path, account, epcis.text)
            if epcis.status_code != 200:
                assert epcis.headers["content-type"] == "application/problem+json"
    bad = village.client.get(f"/v1/cylinders/{code}/epcis", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_a_database_without_a_ledger_is_refused(tmp_path):
    empty = tmp_path / "empty.db"
    out = tmp_path / "out.jsonld"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tools.cli", "export-epcis", "--out", str(out),
                           "--db", f"sqlite:///{empty}"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "run `ledger init` first" in " ".join(done.stderr.split())
    assert not out.exists() and not out.with_name("out.jsonld.partial").exists()


def test_a_company_with_a_gs1_prefix_has_its_cylinders_named_by_grai(village, monkeypatch, tmp_path):
    stored = village.events()
    with village.ledger.db.reading() as connection:
        owner = village.ledger.cylinder(connection, stored[0].cylinder).owner
        owned = {code for code in {e.cylinder for e in stored}
                 if village.ledger.cylinder(connection, code).owner == owner}
    monkeypatch.setenv("LEDGER_EPCIS_COMPANY_PREFIXES", f"0614141={owner}")

    code = sorted(owned)[0]
    document = village.client.get(f"/v1/cylinders/{code}/epcis", headers=village.auth("regulator")).json()
    assert schema_errors(document) == []
    epcs = {e["epcList"][0] for e in document["epcisBody"]["eventList"]}
    assert epcs == {f"urn:epc:id:grai:0614141.00000.{code}"}
    assert cylinder_of(epcs.pop()) == code  # and capture reads it back as the same cylinder

    out = tmp_path / "all.jsonld"
    with village.ledger.db.reading() as connection, out.open("w", encoding="utf-8") as file:
        write_document(connection, file, chunk=7)
    exported = json.loads(out.read_text(encoding="utf-8"))["epcisBody"]["eventList"]
    assert len(exported) == len(stored)
    for event, mapped in zip(stored, exported):
        grai = f"urn:epc:id:grai:0614141.00000.{event.cylinder}"
        assert mapped["epcList"] == [grai if event.cylinder in owned else f"urn:x-cylinder-ledger:cyl:{event.cylinder}"]
