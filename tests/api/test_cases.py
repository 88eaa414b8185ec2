"""The case loop reaching inspectors on time (docs/cases.md): dispatch from the list, the inbox,
deadlines and escalation, handling with photos, through HTTP on both databases."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from sqlalchemy import text

from ledger import cases
from ledger.domain import PartyKind, Role, parse_time
from ledger.service import Actor
from ledger.sweeper import Sweeper

from .conftest import World, event_body

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def overfill(world: World, cylinder: str) -> int:
    answer = world.client.post("/v1/events", json=event_body(cylinder, data={"net_kg": 16.9}),
                               headers=world.auth("station"))
    assert answer.status_code == 201
    return next(f["id"] for f in answer.json()["findings"] if f["kind"] == "overfill")


def dispatch(world: World, finding: int, assignee, as_: str = "regulator"):
    return world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth(as_),
                             json={"action": "dispatch", "assignee": assignee, "note": "go and look"})


def account(world: World, role: Role, party: str, name: str) -> tuple[int, str]:
    with world.ledger.db.writing() as connection:
        token = world.ledger.create_account(connection, role=role, party=world.parties[party], name=name)
        return world.ledger.authenticate(connection, token).account, token


def history(world: World, finding: int) -> list[str]:
    answer = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()
    return [step["action"] for step in answer["history"]]


# -- 1. dispatch from a list ---------------------------------------------------------------------


def test_the_list_puts_the_findings_district_first_and_dispatch_refuses_a_non_inspector(world: World) -> None:
    with world.ledger.db.writing() as c:  # a regulator of another district, with an inspector named first
        far = world.ledger.create_party(c, kind=PartyKind.REGULATOR, name="Far Regulator", region="110101").id
        world.ledger.create_account(c, role=Role.INSPECTOR, party=far, name="aaa far inspector")
    finding = overfill(world, world.cylinders[0])
    region = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()["region"]
    assert region == "330110"
    with world.ledger.db.reading() as c:
        listed = world.ledger.inspectors(c, region)
        by_name = world.ledger.inspectors(c)
    assert [i["name"] for i in listed] == ["inspector", "aaa far inspector"]  # local first
    assert [i["name"] for i in by_name] == ["aaa far inspector", "inspector"]  # no district: by name
    for refused in (world.account_id("regulator"), world.account_id("station"), world.account_id("admin"), 4242):
        answer = dispatch(world, finding, refused)
        assert answer.status_code == 422 and "assignee" in answer.text, refused
    assert history(world, finding) == ["detect"]
    assert dispatch(world, finding, world.account_id("inspector")).status_code == 200


# -- 2. my cases ---------------------------------------------------------------------------------


def test_the_inbox_lists_exactly_the_inspectors_open_cases(world: World) -> None:
    other, other_token = account(world, Role.INSPECTOR, "regulator", "Inspector Zhou")
    mine_open, mine_handled, mine_closed, theirs, undispatched = (overfill(world, world.cylinders[i % 3])
                                                                  for i in range(5))
    me = world.account_id("inspector")
    for finding, to in ((mine_open, me), (mine_handled, me), (mine_closed, me), (theirs, other)):
        assert dispatch(world, finding, to).status_code == 200
    handled = world.client.post(f"/v1/findings/{mine_handled}/actions", headers=world.auth("inspector"),
                                json={"action": "handle", "note": "station warned"})
    assert handled.status_code == 200
    closed = world.client.post(f"/v1/findings/{mine_closed}/actions", headers=world.auth("regulator"),
                               json={"action": "close", "note": "done"})
    assert closed.status_code == 200
    inbox = world.client.get("/v1/me/cases", headers=world.auth("inspector"))
    assert inbox.status_code == 200
    assert sorted(f["id"] for f in inbox.json()) == sorted([mine_open, mine_handled])
    assert all(f["due_at"] for f in inbox.json())
    theirs_inbox = world.client.get("/v1/me/cases", headers={"Authorization": f"Bearer {other_token}"}).json()
    assert [f["id"] for f in theirs_inbox] == [theirs]
    assert world.client.get("/v1/me/cases", headers=world.auth("regulator")).status_code == 403
    assert world.client.get("/v1/me/cases", headers=world.auth("shop")).status_code == 403
    assert undispatched not in {f["id"] for f in inbox.json()}


# -- 3. deadlines and escalation ------------------------------------------------------------------


def test_deadlines_parse_with_defaults_and_refuse_nonsense() -> None:
    assert cases.parse_deadlines("critical=24h,high=72h,medium=7d,low=14d") == {
        "critical": timedelta(hours=24), "high": timedelta(hours=72), "medium": timedelta(days=7),
        "low": timedelta(days=14)}
    assert cases.parse_deadlines("critical=90m")["critical"] == timedelta(minutes=90)
    assert cases.parse_deadlines("critical=90m")["low"] == timedelta(days=14)  # the rest keep the defaults
    for bad in ("critical=24", "urgent=1h", "high=0h", "high=-1d", "high=1w"):
        with pytest.raises(ValueError, match="LEDGER_CASE_DEADLINES"):
            cases.parse_deadlines(bad)


def test_an_overdue_case_is_escalated_once(world: World) -> None:
    world.ledger.settings = replace(world.ledger.settings, case_deadlines="critical=2h,high=6h,medium=1d,low=2d")
    world.ledger.__dict__.pop("case_deadlines", None)
    finding = overfill(world, world.cylinders[0])
    desk = Actor(Role.REGULATOR, world.parties["regulator"], "regulator desk")
    with world.ledger.db.writing() as c:
        dispatched = world.ledger.finding_action(c, desk, finding, action="dispatch", note="go",
                                                 assignee=world.account_id("inspector"), now=T0)
    deadline = {"critical": timedelta(hours=2), "high": timedelta(hours=6), "medium": timedelta(days=1),
                "low": timedelta(days=2)}[dispatched["severity"]]
    assert parse_time(dispatched["due_at"]) == T0 + deadline and dispatched["escalated_at"] is None
    read = world.client.get(f"/v1/findings/{finding}", headers=world.auth("inspector")).json()
    assert read["due_at"] == dispatched["due_at"]

    sweeper = Sweeper(world.ledger)
    assert sweeper.run(now=T0 + deadline - timedelta(seconds=1)).escalated == 0
    assert sweeper.run(now=T0 + deadline + timedelta(seconds=1)).escalated == 1
    assert sweeper.run(now=T0 + deadline + timedelta(hours=5)).escalated == 0  # never twice
    assert Sweeper(world.ledger).escalate(T0 + deadline + timedelta(days=3)) == 0  # nor by another process
    after = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()
    assert [s["action"] for s in after["history"]] == ["detect", "dispatch", "escalate"]
    step = after["history"][-1]
    assert step["actor"] == "ledger" and "督办" in step["note"] and step["assignee"] == str(world.account_id("inspector"))
    assert parse_time(after["escalated_at"]) == T0 + deadline + timedelta(seconds=1)
    assert after["status"] == "dispatched"


def test_a_handled_case_is_not_escalated(world: World) -> None:
    finding = overfill(world, world.cylinders[1])
    assert dispatch(world, finding, world.account_id("inspector")).status_code == 200
    handle = world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth("inspector"),
                               json={"action": "handle", "note": "scale recalibrated"})
    assert handle.status_code == 200
    assert Sweeper(world.ledger).run(now=datetime.now(timezone.utc) + timedelta(days=60)).escalated == 0
    assert history(world, finding) == ["detect", "dispatch", "handle"]


# -- 4. handling with photos ----------------------------------------------------------------------

GPS = 0x8825


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make: an EXIF tag that stays
    gps = exif.get_ifd(GPS)
    gps[1], gps[2], gps[3], gps[4] = "N", (30.0, 15.0, 7.0), "E", (120.0, 9.0, 1.0)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS)  # the fixture really carries a position
    return data


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 10)).save(out, "PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()


def handle(world: World, finding: int, files, as_: str = "inspector", note: str = "已到场核查"):
    return world.client.post(f"/v1/findings/{finding}/handle", headers=world.auth(as_), data={"note": note},
                             files=[("photos", f) for f in files])


def stored_photos(world: World) -> int:
    with world.ledger.db.reading() as c:
        return c.execute(text("SELECT COUNT(*) FROM case_photos")).scalar_one()


def test_handling_with_photos_keeps_them_beside_the_chain_without_gps(world: World) -> None:
    finding = overfill(world, world.cylinders[2])
    assert dispatch(world, finding, world.account_id("inspector")).status_code == 200
    refused = [
        [("a.gif", gif(), "image/gif")],
        [("a.txt", b"just some words", "text/plain")],
        [("fake.jpg", b"\xff\xd8\xff" + b"\0" * 100, "image/jpeg")],  # the magic, then no image
        [("big.jpg", b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), "image/jpeg")],  # over 5 MB
        [(f"{i}.png", png(), "image/png") for i in range(4)],  # four
        [("ok.png", png(), "image/png"), ("a.gif", gif(), "image/gif")],  # one bad spoils the lot
    ]
    for files in refused:
        answer = handle(world, finding, files)
        assert 400 <= answer.status_code < 500 and "photo" in answer.text, (files[0][0], answer.text)
        assert stored_photos(world) == 0 and history(world, finding) == ["detect", "dispatch"]

    answer = handle(world, finding, [("scene.jpg", jpeg_with_gps(), "image/jpeg"), ("plate.png", png(), "image/png")])
    assert answer.status_code == 200, answer.text
    step = answer.json()["history"][-1]
    assert step["action"] == "handle" and len(step["photos"]) == 2 and answer.json()["status"] == "handled"
    jpeg_sha, png_sha = step["photos"]
    got = world.client.get(f"/v1/findings/{finding}/photos/{jpeg_sha}", headers=world.auth("regulator"))
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(got.content).hexdigest() == jpeg_sha  # the history names exactly what is kept
    exif = Image.open(io.BytesIO(got.content)).getexif()
    assert GPS not in exif and not exif.get_ifd(GPS) and exif[0x010F] == "TestCam"
    as_png = world.client.get(f"/v1/findings/{finding}/photos/{png_sha}", headers=world.auth("inspector"))
    assert as_png.headers["content-type"] == "image/png" and hashlib.sha256(as_png.content).hexdigest() == png_sha
    for other in ("shop", "station", "admin"):
        assert world.client.get(f"/v1/findings/{finding}/photos/{jpeg_sha}",
                                headers=world.auth(other)).status_code == 403, other
    assert world.client.get(f"/v1/findings/{finding}/photos/{'0' * 64}",
                            headers=world.auth("regulator")).status_code == 404
    assert stored_photos(world) == 2


def test_the_gps_policy_can_keep_the_position(world: World) -> None:
    world.ledger.settings = replace(world.ledger.settings, photo_gps="keep")
    finding = overfill(world, world.cylinders[0])
    assert dispatch(world, finding, world.account_id("inspector")).status_code == 200
    original = jpeg_with_gps()
    answer = handle(world, finding, [("scene.jpg", original, "image/jpeg")])
    assert answer.json()["history"][-1]["photos"] == [hashlib.sha256(original).hexdigest()]


def test_a_photo_comes_with_a_handling_of_a_case_sent_to_this_inspector_only(world: World) -> None:
    finding = overfill(world, world.cylinders[0])
    other, token = account(world, Role.INSPECTOR, "regulator", "Inspector Zhou")
    assert dispatch(world, finding, world.account_id("inspector")).status_code == 200
    answer = world.client.post(f"/v1/findings/{finding}/handle", headers={"Authorization": f"Bearer {token}"},
                               data={"note": "x"}, files=[("photos", ("a.png", png(), "image/png"))])
    assert answer.status_code == 403 and stored_photos(world) == 0


def test_sweepers_racing_escalate_a_case_once(world: World) -> None:
    import threading

    finding = overfill(world, world.cylinders[2])
    desk = Actor(Role.REGULATOR, world.parties["regulator"], "regulator desk")
    with world.ledger.db.writing() as c:
        world.ledger.finding_action(c, desk, finding, action="dispatch", note="go",
                                    assignee=world.account_id("inspector"), now=T0)
    late = T0 + timedelta(days=30)
    start, counts = threading.Barrier(4), []

    def sweep() -> None:
        start.wait()
        counts.append(Sweeper(world.ledger).escalate(late))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 1 and history(world, finding).count("escalate") == 1
    with world.ledger.db.reading() as c:
        overdue = c.execute(text("SELECT COUNT(*) FROM webhook_outbox WHERE event = 'case.overdue'")).scalar_one()
    assert overdue == 1
