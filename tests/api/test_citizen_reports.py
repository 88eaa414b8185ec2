"""Citizens' reports through HTTP on both databases (docs/citizens.md): a report becomes a case in the closed
loop, the tracking code follows it without showing anyone, and the limits hold against abuse."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from sqlalchemy import text

from ledger import citizen, notes
from ledger.domain import format_time

from .conftest import World

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
CONTACT = "李先生 13912345678"
TEXT = "楼下小巷里有人用大瓶往小瓶倒气，住在 3 号楼的王阿姨也看见了"


def png(colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, format="PNG")
    return out.getvalue()


def send(world: World, body: dict, address: str | None = None):
    return world.client.post("/v1/reports", json=body)


def report(world: World, **fields) -> str:
    body = {"category": "illegal_refilling", "text": TEXT, **fields}
    answer = world.client.post("/v1/reports", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["tracking_code"]


def tracked(world: World, code: str) -> dict:
    answer = world.client.get(f"/v1/reports/{code}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def case_of(world: World, code: str) -> dict:
    with world.ledger.db.reading() as c:
        finding = c.execute(text("SELECT finding FROM citizen_reports WHERE tracking_hash = :h"),
                            {"h": citizen._hash(citizen.tracking_code(code))}).scalar_one()
    return world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()


def step(world: World, finding: int, action: str, as_: str = "regulator", **fields):
    answer = world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth(as_),
                               json={"action": action, "note": fields.pop("note", f"{action} it"), **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()


def no_person_in(answer: str, world: World) -> None:
    for secret in ("李先生", "13912345678", "王阿姨", TEXT[:8], world.parties["regulator"], "张晓梅",
                   '"assignee"', '"actor"', '"contact"', '"text"'):
        assert secret not in answer, secret


# -- 1. the loop ---------------------------------------------------------------------------------


def test_a_report_goes_round_the_closed_loop_and_tracking_shows_each_step_without_anyone(world: World) -> None:
    cylinder = world.cylinders[0]
    code = report(world, cylinder=cylinder.lower(), contact=CONTACT)
    assert len(code) == 16 and citizen.tracking_code(code) == code
    assert tracked(world, code)["status"] == "received"
    case = case_of(world, code)
    assert (case["kind"], case["severity"], case["cylinder"], case["status"]) == (
        "citizen_report", "high", cylinder, "open")
    assert case["region"] == "330110" and case["party"] is None and case["events"] == []
    assert CONTACT not in json.dumps(case) and TEXT not in json.dumps(case)  # the case holds a commitment only
    sha = case["evidence"]["text_sha256"]
    reports = world.client.get(f"/v1/findings/{case['id']}/reports", headers=world.auth("regulator")).json()
    assert [(r["text"], r["contact"], r["text_sha256"]) for r in reports] == [(TEXT, CONTACT, sha)]
    with world.ledger.db.reading() as c:
        salt = c.execute(text("SELECT salt FROM citizen_reports")).scalar_one()
    notes.check(bytes.fromhex(sha), bytes(salt), TEXT)  # whoever holds text and salt can check the commitment

    inspector = world.account_id("inspector")
    step(world, case["id"], "dispatch", assignee=inspector, note="请检查员张三明早到现场")
    assert tracked(world, code)["status"] == "dispatched"
    assert world.client.get(f"/v1/findings/{case['id']}/reports", headers=world.auth("inspector")).status_code == 200
    step(world, case["id"], "handle", as_="inspector", note="已查扣倒气设备，当事人赵四签字")
    step(world, case["id"], "close", note="经查属实，已取缔该非法充装点。感谢您的反映。")
    answer = world.client.get(f"/v1/reports/{citizen.printed(code).lower()}")  # as printed, in any case
    seen = answer.json()
    assert [h["status"] for h in seen["history"]] == ["received", "dispatched", "handled", "closed"]
    assert seen["status"] == "closed" and seen["outcome"] == "经查属实，已取缔该非法充装点。感谢您的反映。"
    assert seen["history"][-1]["note"] == seen["outcome"]
    no_person_in(answer.text, world)
    for hidden in ("张三", "赵四"):  # the dispatch and handling notes stay with those handling the case
        assert hidden not in answer.text


def test_only_regulators_and_the_inspector_handling_the_case_read_the_report(world: World) -> None:
    code = report(world, contact=CONTACT)  # no cylinder: a 黑气点 at an address
    case = case_of(world, code)
    assert case["cylinder"] is None and case["region"] is None
    path = f"/v1/findings/{case['id']}/reports"
    assert world.client.get(path, headers=world.auth("inspector")).status_code == 403  # not yet sent to them
    for role in ("admin", "company", "shop", "station"):
        assert world.client.get(path, headers=world.auth(role)).status_code == 403, role
    assert world.client.get(path).status_code == 401
    assert world.client.get("/v1/findings/999999/reports", headers=world.auth("regulator")).status_code == 404


# -- 2. abuse --------------------------------------------------------------------------------------


def test_one_address_is_held_to_its_limit_with_429_and_retry_after(world: World) -> None:
    limits = world.ledger.report_limits
    for _ in range(limits.per_address):
        report(world, category="other")
    before = world.counts()["findings"]
    answer = send(world, {"category": "other", "text": "再来一次"})
    assert answer.status_code == 429
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == "urn:cylinder-ledger:problem:too-many-requests"
    assert int(answer.headers["Retry-After"]) == int(limits.address_window.total_seconds())
    assert world.counts()["findings"] == before


def test_reports_about_one_cylinder_are_held_to_its_limit_from_any_address(world: World) -> None:
    cylinder = world.cylinders[1]
    with world.ledger.db.writing() as c:
        for i in range(world.ledger.report_limits.per_cylinder):
            world.ledger.submit_report(c, category="other", text=f"第 {i} 次", cylinder=cylinder,
                                       address=f"10.0.0.{i}")
        with pytest.raises(citizen.RateLimited) as refused:
            world.ledger.submit_report(c, category="other", text="又一次", cylinder=cylinder, address="10.9.9.9")
    assert refused.value.field == "cylinder"


def test_the_same_cylinder_and_category_fold_into_one_case_and_each_citizen_gets_a_code(world: World) -> None:
    cylinder = world.cylinders[2]
    first = report(world, cylinder=cylinder, category="damaged_cylinder")
    second = report(world, cylinder=cylinder, category="damaged_cylinder", contact=CONTACT)
    other_kind = report(world, cylinder=cylinder, category="no_safety_check")
    assert len({first, second, other_kind}) == 3
    case = case_of(world, first)
    assert case_of(world, second)["id"] == case["id"] and case_of(world, other_kind)["id"] != case["id"]
    assert [s["action"] for s in case["history"]] == ["detect", "corroborate"]
    reports = world.client.get(f"/v1/findings/{case['id']}/reports", headers=world.auth("regulator")).json()
    assert [r["folded"] for r in reports] == [False, True]
    step(world, case["id"], "close", note="气瓶已更换")
    assert tracked(world, second)["outcome"] == "气瓶已更换"
    third = report(world, cylinder=cylinder, category="damaged_cylinder")  # its case closed: a new one
    assert case_of(world, third)["id"] != case["id"]


def test_the_custody_rules_never_resolve_a_citizens_case(world: World) -> None:
    cylinder = world.cylinders[0]
    code = report(world, cylinder=cylinder, category="damaged_cylinder")
    answer = world.client.post("/v1/events", json={"cylinder": cylinder, "kind": "fill", "occurred_at":
                               format_time(datetime.now(timezone.utc)), "idempotency_key": "k-fold-1",
                               "data": {"net_kg": 14.5}}, headers=world.auth("station"))
    assert answer.status_code == 201, answer.text
    assert case_of(world, code)["status"] == "open"


def test_photos_are_kept_beside_the_case_and_capped(world: World) -> None:
    files = [("photos", (f"p{i}.png", png((i * 40, 0, 0)), "image/png")) for i in range(3)]
    answer = world.client.post("/v1/reports", data={"category": "gas_smell_at_shop", "text": "店里很大的气味"},
                               files=files)
    assert answer.status_code == 201, answer.text
    case = case_of(world, answer.json()["tracking_code"])
    assert case["severity"] == "critical" and len(case["history"][0]["photos"]) == 3
    photo = world.client.get(f"/v1/findings/{case['id']}/photos/{case['history'][0]['photos'][0]}",
                             headers=world.auth("regulator"))
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    before = world.counts()["findings"]
    four = world.client.post("/v1/reports", data={"category": "other", "text": "四张"},
                             files=[("photos", (f"p{i}.png", png(), "image/png")) for i in range(4)])
    assert four.status_code == 422 and four.json()["errors"][0]["field"] == "photos"
    large = world.client.post("/v1/reports", data={"category": "other", "text": "太大"},
                              files=[("photos", ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024), "image/png"))])
    assert large.status_code == 422 and "5 MB" in large.text
    fake = world.client.post("/v1/reports", data={"category": "other", "text": "不是图片"},
                             files=[("photos", ("x.png", b"GIF89a....", "image/png"))])
    assert fake.status_code == 422
    assert world.counts()["findings"] == before


# -- 3. bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body, field", [
    ({"category": "ufo", "text": "x"}, "category"),
    ({"text": "没有类别"}, "category"),
    ({"category": "other"}, "text"),
    ({"category": "other", "text": "   "}, "text"),
    ({"category": "other", "text": "x" * 2001}, "text"),
    ({"category": "other", "text": "a\u0000b"}, "text"),
    ({"category": "other", "text": "ok", "contact": "y" * 201}, "contact"),
    ({"category": "other", "text": "ok", "cylinder": "7K3Q-9XZ2-ABN"}, "cylinder"),
    ({"category": "other", "text": "ok", "cylinder": 12}, "cylinder"),
    ({"category": "other", "text": "ok", "name": "张三"}, "name"),
])
def test_bad_reports_are_refused_and_change_nothing(world: World, body: dict, field: str) -> None:
    before = world.counts()
    answer = send(world, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert world.counts() == before


def test_a_cylinder_the_platform_never_registered_is_refused_without_a_case(world: World) -> None:
    from ledger import tracecode

    stranger = tracecode.generate()
    answer = send(world, {"category": "other", "text": "ok", "cylinder": stranger})
    assert answer.status_code == 422 and "describe the cylinder" in answer.text


def test_bodies_that_are_not_a_report_are_refused(world: World) -> None:
    assert world.client.post("/v1/reports", content=b"[1]", headers={"content-type": "application/json"}
                             ).status_code == 422
    assert world.client.post("/v1/reports", content=b"{", headers={"content-type": "application/json"}
                             ).status_code == 400
    assert world.client.post("/v1/reports", content=b"hi", headers={"content-type": "text/plain"}).status_code == 415


def test_tracking_codes_are_checked_and_unknown_ones_found_nowhere(world: World) -> None:
    code = report(world)
    typo = code[:3] + ("A" if code[3] != "A" else "B") + code[4:]
    assert world.client.get(f"/v1/reports/{typo}").status_code == 422  # the check symbol catches it
    unknown = citizen.new_tracking_code()
    assert world.client.get(f"/v1/reports/{unknown}").status_code == 404
    assert world.client.get("/v1/reports/short").status_code == 422
    with world.ledger.db.reading() as c:
        stored = c.execute(text("SELECT tracking_hash FROM citizen_reports")).scalars().all()
    assert code.encode() not in b"".join(bytes(s) for s in stored)  # kept only as its hash


def test_the_category_list_names_each_in_chinese(world: World) -> None:
    listed = world.client.get("/v1/reports/categories").json()
    assert {c["code"] for c in listed} == set(citizen.CATEGORIES)
    assert next(c for c in listed if c["code"] == "illegal_refilling")["name"].startswith("黑气点")


def test_an_erased_report_loses_text_contact_and_photos_and_the_case_keeps_its_commitment(world: World) -> None:
    from ledger.privacy import erase

    files = [("photos", ("p.png", png(), "image/png"))]
    answer = world.client.post("/v1/reports", data={"category": "other", "text": TEXT, "contact": CONTACT},
                               files=files)
    case = case_of(world, answer.json()["tracking_code"])
    reports = world.client.get(f"/v1/findings/{case['id']}/reports", headers=world.auth("regulator")).json()
    with world.ledger.db.writing() as c:
        done = erase(c, reports[0]["id"], reason="PIPL art. 47", requested_by="test", now=T0)
        again = erase(c, reports[0]["id"], reason="PIPL art. 47", requested_by="test", now=T0 + timedelta(1))
    assert done.done and not again.done
    after = world.client.get(f"/v1/findings/{case['id']}/reports", headers=world.auth("regulator")).json()[0]
    assert (after["text"], after["contact"], after["erased_at"]) == (None, None, format_time(T0))
    assert after["text_sha256"] == case["evidence"]["text_sha256"]
    photo = world.client.get(f"/v1/findings/{case['id']}/photos/{reports[0]['photos'][0]}",
                             headers=world.auth("regulator"))
    assert photo.status_code == 404


def test_reports_racing_from_one_address_never_pass_its_limit_together(world: World) -> None:
    import threading

    world.ledger.__dict__["report_limits"] = citizen.parse_limits("address=3/1h,cylinder=100/1d,fold=7d")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def one(i: int) -> None:
        start.wait()
        try:
            with world.ledger.db.writing() as c:
                world.ledger.submit_report(c, category="damaged_cylinder", text=f"第 {i} 份",
                                           cylinder=world.cylinders[0], address="203.0.113.7")
            outcomes.append("taken")
        except citizen.RateLimited:
            outcomes.append("limited")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["limited"] * 5 + ["taken"] * 3
    with world.ledger.db.reading() as c:  # and the three opened one case between them, not several
        cases = c.execute(text("SELECT COUNT(DISTINCT finding) FROM citizen_reports")).scalar_one()
    assert cases == 1
