"""End users found by phone without being exposed, seen in full only on record, and their own history
by a one-time code (docs/privacy.md). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from ledger import webhooks
from ledger.domain import Role
from ledger.sealing import load_personal_keys, mask_name, mask_phone, normalise_phone
from ledger.errors import InvalidInput
from ledger.service.endusers import CODE_ATTEMPTS, LOOKUPS, Refused
from ledger.storage import models as m

from .conftest import World, event_body
from .test_personal_data import _at_shop
from .test_webhooks import SECRET, Receiver

PERSON = {"kind": "household", "name": "欧阳娜娜", "phone": "+86 139-1234-5678", "address": "杭州市拱墅区湖墅南路 88 号"}
DIGITS = "13912345678"
REASON = {"reason": "case 2026-0042: complaint of a short delivery"}


def _register(world: World, person: dict | None = None) -> str:
    answer = world.client.post("/v1/end-users", json=person or PERSON, headers=world.auth("shop"))
    assert answer.status_code == 201, answer.text
    return answer.json()["ref"]


def _problem(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["status"] == status and body["detail"]
    return body


def _count(world: World, table: str) -> int:
    with world.ledger.db.reading() as c:
        return c.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def _everything_stored(world: World) -> bytes:
    """Every byte the database holds: the SQLite files, or every PostgreSQL table dumped as text."""
    url = world.ledger.settings.database_url
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    dump = []
    with world.ledger.db.reading() as c:
        for table in m.metadata.sorted_tables:
            for row in c.execute(text(f"SELECT * FROM {table.name}")):
                dump.append(repr(tuple(row)).encode())
                dump.extend(bytes(v) for v in row if isinstance(v, (bytes, memoryview)))
    return b"\n".join(dump)


# -- sealed at rest -------------------------------------------------------------------


def test_the_plain_phone_name_and_address_are_never_stored_nor_logged(world: World, caplog, tmp_path: Path) -> None:
    receiver = Receiver(failures=0)
    try:
        hooks = tmp_path / "hooks.conf"
        hooks.write_text(f"sms {receiver.url} {SECRET} end_user.code\n", encoding="utf-8")
        world.ledger.settings = replace(world.ledger.settings, webhooks_file=hooks)
        with caplog.at_level(logging.DEBUG):
            ref = _register(world)
            code = _at_shop(world)
            body = event_body(code, kind="deliver", to=ref, data={"net_kg": 14.5})
            assert world.client.post("/v1/events", json=body, headers=world.auth("shop")).status_code == 201
            found = world.client.get("/v1/end-users", params={"phone": PERSON["phone"]}, headers=world.auth("shop"))
            assert found.json()["items"][0]["ref"] == ref
            full = world.client.get(f"/v1/end-users/{ref}", params=REASON, headers=world.auth("regulator"))
            assert full.json()["phone"] == DIGITS
            assert world.client.post("/v1/my/codes", json={"phone": DIGITS}).status_code == 202
            webhooks.Deliverer(world.ledger, webhooks.load_hooks(hooks)).run()
            assert len(receiver.got) == 1 and DIGITS.encode() in receiver.got[0][1]  # the gateway needs it
        stored = _everything_stored(world)
        for secret in (DIGITS, "12345678", PERSON["name"], "湖墅南路"):
            assert secret.encode() not in stored, secret
        assert ref.encode() in stored  # the scan does see the rows
        # the server's records: every logger but the test client's own lines about its requests
        logged = "\n".join(r.getMessage() for r in caplog.records
                           if not (r.name.startswith("httpx") and "testserver" in r.getMessage()))
        assert '"route": "/v1/end-users"' in logged and '"route": "/v1/my/codes"' in logged  # the access log was caught
        assert not [s for s in (DIGITS, "1234-5678", "12345678", PERSON["name"]) if s in logged]
    finally:
        receiver.close()


def test_registration_with_a_bad_phone_is_refused_and_writes_nothing(world: World) -> None:
    before = _count(world, "end_users")
    for phone in ("12012345678", "abc", "+86 1", "1" * 41, "1391234567x"):
        _problem(world.client.post("/v1/end-users", json={**PERSON, "phone": phone}, headers=world.auth("shop")), 422)
    assert _count(world, "end_users") == before


# -- the masked lookup --------------------------------------------------------------


def test_a_shop_finds_users_by_the_exact_number_masked(world: World) -> None:
    ref = _register(world)
    other = _register(world, {**PERSON, "name": "李四", "phone": "13912345679"})
    shop = world.auth("shop")
    for spelling in (DIGITS, "+86 139 1234 5678", "0086-139-1234-5678"):
        answer = world.client.get("/v1/end-users", params={"phone": spelling}, headers=shop)
        assert answer.status_code == 200 and answer.json() == {"items": [{"ref": ref, "name": "欧***",
                                                                         "phone": "139****5678"}]}
    assert world.client.get("/v1/end-users", params={"phone": "13912345679"}, headers=shop).json()["items"][0][
        "ref"] == other
    for near in ("1391234567", "139123456780", "13912345670"):  # no prefix, suffix or neighbour matches
        answer = world.client.get("/v1/end-users", params={"phone": near}, headers=shop)
        assert answer.status_code in (200, 422) and answer.json().get("items", []) == []
    for role in ("admin", "regulator", "inspector", "company", "transporter", "inspection"):
        _problem(world.client.get("/v1/end-users", params={"phone": DIGITS}, headers=world.auth(role)), 403)


def test_there_is_no_listing_without_a_number(world: World) -> None:
    _register(world)
    shop = world.auth("shop")
    _problem(world.client.get("/v1/end-users", headers=shop), 422)
    for junk in ("", "%", "139*", "1391234567%", "' OR 1=1 --"):
        _problem(world.client.get("/v1/end-users", params={"phone": junk}, headers=shop), 422)
    assert _count(world, "rate_windows") == 0  # refused before it was counted


def test_lookups_are_rate_limited_per_account(world: World) -> None:
    ref = _register(world)
    shop = world.auth("shop")
    for n in range(LOOKUPS.count):
        assert world.client.get("/v1/end-users", params={"phone": f"1380000{n:04d}"}, headers=shop).status_code == 200
    refused = world.client.get("/v1/end-users", params={"phone": DIGITS}, headers=shop)
    body = _problem(refused, 429)
    assert body["type"].endswith("too-many-requests") and 0 < int(refused.headers["Retry-After"]) <= LOOKUPS.seconds
    assert ref not in refused.text
    # another shop's account has its own allowance
    with world.ledger.db.writing() as c:
        token = world.ledger.create_account(c, role=Role.SHOP, party=world.parties["shop2"], name="shop two")
    other = world.client.get("/v1/end-users", params={"phone": DIGITS}, headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 200 and other.json()["items"][0]["ref"] == ref


# -- the full view, on record ---------------------------------------------------------


def test_regulators_and_inspectors_see_in_full_and_every_view_is_recorded(world: World) -> None:
    ref = _register(world)
    assert _count(world, "personal_data_views") == 0
    for account in ("regulator", "inspector"):
        full = world.client.get(f"/v1/end-users/{ref}", params=REASON, headers=world.auth(account))
        assert full.status_code == 200
        assert (full.json()["name"], full.json()["phone"], full.json()["address"]) == (
            PERSON["name"], DIGITS, PERSON["address"])
    for account in ("admin", "shop", "company", "transporter", "inspection"):
        _problem(world.client.get(f"/v1/end-users/{ref}", params=REASON, headers=world.auth(account)), 403)
    _problem(world.client.get(f"/v1/end-users/{ref}", headers=world.auth("regulator")), 422)  # no reason
    _problem(world.client.get(f"/v1/end-users/{ref}", params={"reason": "x"}, headers=world.auth("regulator")), 422)
    _problem(world.client.get("/v1/end-users/UNKNOWN1", params=REASON, headers=world.auth("regulator")), 404)
    assert _count(world, "personal_data_views") == 2

    views = world.client.get("/v1/end-users/views", params={"ref": ref}, headers=world.auth("regulator")).json()
    assert [(v["ref"], v["role"], v["account_name"], v["reason"]) for v in views["items"]] == [
        (ref, "inspector", "inspector", REASON["reason"]), (ref, "regulator", "regulator", REASON["reason"])]
    assert all(v["viewed_at"] for v in views["items"])
    for account in ("inspector", "shop", "admin"):
        _problem(world.client.get("/v1/end-users/views", headers=world.auth(account)), 403)
    paged = world.client.get("/v1/end-users/views", params={"limit": 1}, headers=world.auth("regulator")).json()
    rest = world.client.get("/v1/end-users/views", params={"limit": 1, "cursor": paged["next_cursor"]},
                            headers=world.auth("regulator")).json()
    assert [paged["items"][0]["id"], rest["items"][0]["id"]] == [v["id"] for v in views["items"]]


@pytest.mark.parametrize("statement", ["UPDATE personal_data_views SET reason = 'nothing to see'",
                                       "DELETE FROM personal_data_views"])
def test_the_record_of_views_cannot_be_edited(world: World, statement: str) -> None:
    ref = _register(world)
    world.client.get(f"/v1/end-users/{ref}", params=REASON, headers=world.auth("inspector"))
    with pytest.raises(Exception, match="append-only"):
        with world.ledger.db.writing() as c:
            c.execute(text(statement))
    with world.ledger.db.reading() as c:
        assert c.execute(text("SELECT reason FROM personal_data_views")).scalars().all() == [REASON["reason"]]


# -- a user's own history ---------------------------------------------------------------


@pytest.fixture
def gateway(world: World, tmp_path: Path):
    """The city's SMS gateway: a local receiver subscribed to end_user.code."""
    receiver = Receiver(failures=0)
    hooks = tmp_path / "hooks.conf"
    hooks.write_text(f"sms {receiver.url} {SECRET} end_user.code\n", encoding="utf-8")
    world.ledger.settings = replace(world.ledger.settings, webhooks_file=hooks)
    deliverer = webhooks.Deliverer(world.ledger, webhooks.load_hooks(hooks))
    yield receiver, deliverer
    deliverer.close()
    receiver.close()


def test_an_end_user_reads_their_deliveries_with_a_code_from_the_gateway(world: World, gateway) -> None:
    receiver, deliverer = gateway
    ref = _register(world)
    code = _at_shop(world)
    body = event_body(code, kind="deliver", to=ref, data={"net_kg": 14.5})
    assert world.client.post("/v1/events", json=body, headers=world.auth("shop")).status_code == 201
    _problem(world.client.post("/v1/my/history", json={"phone": DIGITS, "code": "123456"}), 403)  # none sent yet

    sent = world.client.post("/v1/my/codes", json={"phone": PERSON["phone"]})
    assert sent.status_code == 202 and sent.json()["sent_to"] == "139****5678"
    with world.ledger.db.reading() as c:  # waiting in the outbox, sealed
        waiting = c.execute(text("SELECT body FROM webhook_outbox WHERE event = 'end_user.code'")).scalar_one()
    assert DIGITS not in waiting and "sealed" in json.loads(waiting)
    assert deliverer.run() == 1 and len(receiver.got) == 1
    headers, raw = receiver.got[0]
    assert headers["x-ledger-event"] == "end_user.code"
    assert headers["x-ledger-signature"] == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    message = json.loads(raw)
    assert message["phone"] == DIGITS and len(message["code"]) == 6 and message["code"] in message["text"]
    with world.ledger.db.reading() as c:  # the code is kept only as a keyed hash
        stored = c.execute(text("SELECT code_hash FROM end_user_codes")).scalar_one()
    assert message["code"].encode() not in bytes(stored) and len(bytes(stored)) == 32

    wrong = f"{(int(message['code']) + 1) % 10**6:06d}"
    assert _problem(world.client.post("/v1/my/history", json={"phone": DIGITS, "code": wrong}), 403)["type"].endswith(
        "code-refused")
    history = world.client.post("/v1/my/history", json={"phone": "139 1234 5678", "code": message["code"]})
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert history.json()["phone"] == "139****5678"
    assert [(i["cylinder"], i["kind"], i["net_kg"], i["shop"]["id"]) for i in items] == [
        (code, "deliver", 14.5, world.parties["shop"])]
    assert "safety_check" not in items[0] or items[0]["safety_check"] is None
    # used once
    _problem(world.client.post("/v1/my/history", json={"phone": DIGITS, "code": message["code"]}), 403)


def test_the_phone_alone_opens_nothing_and_bad_input_writes_nothing(world: World, gateway) -> None:
    receiver, deliverer = gateway
    _register(world)
    for body in ({"phone": DIGITS}, {"phone": DIGITS, "code": ""}, {"phone": DIGITS, "code": "12345"},
                 {"phone": DIGITS, "code": "abcdef"}, {"phone": "abc", "code": "123456"}, {"code": "123456"}):
        _problem(world.client.post("/v1/my/history", json=body), 422)
    for body in ({}, {"phone": ""}, {"phone": "not a phone"}, {"phone": DIGITS, "extra": 1}):
        _problem(world.client.post("/v1/my/codes", json=body), 422)
    assert _count(world, "end_user_codes") == 0 and _count(world, "webhook_outbox") == 0
    assert _count(world, "rate_windows") == 0


def test_an_unregistered_number_gets_the_same_answer_and_no_message(world: World, gateway) -> None:
    receiver, deliverer = gateway
    _register(world)
    answer = world.client.post("/v1/my/codes", json={"phone": "13700000000"})
    assert answer.status_code == 202 and answer.json()["sent_to"] == "137****0000"
    assert set(answer.json()) == {"sent_to", "expires_at", "expires_in"}
    deliverer.run()
    assert receiver.got == [] and _count(world, "end_user_codes") == 0


def test_without_a_gateway_no_code_is_promised(world: World) -> None:
    _register(world)
    _problem(world.client.post("/v1/my/codes", json={"phone": DIGITS}), 503)
    assert _count(world, "end_user_codes") == 0


def test_codes_expire_are_attempt_limited_and_a_number_is_not_flooded(world: World, gateway) -> None:
    receiver, deliverer = gateway
    _register(world)
    ledger, t0 = world.ledger, datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)

    def code_sent(at: datetime) -> str:
        with ledger.db.writing() as c:
            ledger.send_code(c, DIGITS, client="198.51.100.7", now=at)
        deliverer.run(now=at)
        return json.loads(receiver.got[-1][1])["code"]

    def history(code: str, at: datetime):
        with ledger.db.writing() as c:
            return ledger.own_history(c, DIGITS, code, client="198.51.100.7", now=at)

    first = code_sent(t0)
    assert isinstance(history(first, t0 + timedelta(minutes=11)), Refused)  # expired
    with pytest.raises(Exception, match="a moment ago"):  # one code a minute for one number
        with ledger.db.writing() as c:
            ledger.send_code(c, DIGITS, client="198.51.100.7", now=t0 + timedelta(seconds=30))
    second = code_sent(t0 + timedelta(minutes=12))
    wrong = f"{(int(second) + 1) % 10**6:06d}"
    for _ in range(CODE_ATTEMPTS):
        assert isinstance(history(wrong, t0 + timedelta(minutes=13)), Refused)
    assert isinstance(history(second, t0 + timedelta(minutes=13)), Refused)  # used up by the wrong tries
    third = code_sent(t0 + timedelta(minutes=14))
    assert not isinstance(history(third, t0 + timedelta(minutes=15)), Refused)
    assert _count(world, "end_user_codes") == 3
    code_sent(t0 + timedelta(days=2))
    assert _count(world, "end_user_codes") == 1  # codes expired over a day ago are dropped


# -- keys: rotation and rows from before sealing -----------------------------------------


def _cli_env(world: World) -> dict[str, str]:
    s = world.ledger.settings
    return {"LEDGER_KEY_FILE": str(s.key_file), "LEDGER_LABEL_KEY_FILE": str(s.label_key_file),
            "LEDGER_PERSONAL_KEY_FILE": str(s.personal_key_file), "LEDGER_LOG_ORIGIN": s.log_origin}


def test_rotating_the_key_reseals_every_row_and_lookups_still_find_them(world: World) -> None:
    from tools.cli import app

    ref = _register(world)
    path = world.ledger.settings.personal_key_file
    done = CliRunner().invoke(app, ["keys", "rotate-personal", "--db", world.ledger.settings.database_url],
                              env=_cli_env(world))
    assert done.exit_code == 0, done.output
    with world.ledger.db.reading() as c:
        assert set(c.execute(text("SELECT key_version FROM end_users")).scalars()) == {2}
    assert load_personal_keys(path).versions == (1, 2)
    found = world.client.get("/v1/end-users", params={"phone": DIGITS}, headers=world.auth("shop")).json()["items"]
    assert [f["ref"] for f in found] == [ref]
    done = CliRunner().invoke(app, ["keys", "rotate-personal", "--retire", "--db",
                                    world.ledger.settings.database_url], env=_cli_env(world))
    assert done.exit_code == 0, done.output
    assert load_personal_keys(path).versions == (3,)
    full = world.client.get(f"/v1/end-users/{ref}", params=REASON, headers=world.auth("inspector")).json()
    assert full["name"] == PERSON["name"]


def test_rows_from_before_sealing_are_sealed_by_init(world: World) -> None:
    from tools.cli import app

    with world.ledger.db.writing() as c:
        c.execute(text("INSERT INTO end_users (ref, shop, kind, name, phone, address, created_at) VALUES "
                       "('ULEGACY000001', :shop, 'household', '赵铁柱', '+86 135 5555 0101', '老街 7 号', "
                       "'2025-01-01T00:00:00Z')"), {"shop": world.parties["shop"]})
    done = CliRunner().invoke(app, ["init", "--db", world.ledger.settings.database_url], env=_cli_env(world))
    assert done.exit_code == 0, done.output
    assert "1 end user(s) sealed" in " ".join(done.output.split())  # rich wraps at the terminal width
    with world.ledger.db.reading() as c:
        row = c.execute(text("SELECT name, phone, address, sealed FROM end_users WHERE ref = 'ULEGACY000001'")).one()
    assert row[:3] == (None, None, None) and row[3] is not None
    found = world.client.get("/v1/end-users", params={"phone": "13555550101"}, headers=world.auth("shop")).json()
    assert found == {"items": [{"ref": "ULEGACY000001", "name": "赵**", "phone": "135****0101"}]}
    stored = _everything_stored(world)
    assert "赵铁柱".encode() not in stored and b"5555 0101" not in stored and b"13555550101" not in stored


# -- the masks --------------------------------------------------------------------------


def test_masks_and_numbers() -> None:
    assert (mask_name("张三"), mask_name("欧阳娜娜"), mask_name("Li"), mask_name(None)) == ("张*", "欧***", "L*", None)
    assert mask_phone("13800138000") == "138****8000" and mask_phone("057188001234") == "057*****1234"
    assert mask_phone("88001234") == "******34"
    assert normalise_phone("+86 138-0013-8000") == normalise_phone("008613800138000") == "13800138000"
    with pytest.raises(InvalidInput):
        normalise_phone("12800138000")


# -- the public page --------------------------------------------------------------------


def _shown_words(html: str) -> set[str]:
    from tests.pages.test_screens_text import ALLOWED, WORD, seen

    text = re.sub(r"\b[0-9A-Z]{11}\b", " ", seen(html))  # trace codes are shown as codes
    return {w for w in WORD.findall(text) if w not in ALLOWED}


def test_the_page_shows_a_users_deliveries_in_chinese_after_the_code(world: World, gateway) -> None:
    receiver, deliverer = gateway
    ref = _register(world)
    code = _at_shop(world)
    body = event_body(code, kind="deliver", to=ref, data={"net_kg": 14.5})
    assert world.client.post("/v1/events", json=body, headers=world.auth("shop")).status_code == 201
    form = world.client.get("/me")
    assert form.status_code == 200 and "我的用气记录" in form.text and "<script" not in form.text.split("<body")[1]
    assert not _shown_words(form.text)
    bad = world.client.post("/me/code", data={"phone": "not a phone"})
    assert bad.status_code == 422 and "请填写正确的手机号" in bad.text
    sent = world.client.post("/me/code", data={"phone": PERSON["phone"]})
    assert sent.status_code == 200 and "139****5678" in sent.text and not _shown_words(sent.text)
    deliverer.run()
    message = json.loads(receiver.got[-1][1])
    refused = world.client.post("/me/history", data={"phone": PERSON["phone"], "code": "000000"
                                                      if message["code"] != "000000" else "111111"})
    assert refused.status_code == 403 and "验证码错误" in refused.text
    shown = world.client.post("/me/history", data={"phone": PERSON["phone"], "code": message["code"]})
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert code in shown.text and "配送入户" in shown.text and "14.5" in shown.text and "Shop Ltd" in shown.text
    assert PERSON["name"] not in shown.text and DIGITS not in shown.text.replace(f'value="{PERSON["phone"]}"', "")
    assert not _shown_words(shown.text.replace("Shop Ltd", " "))
    english = world.client.get("/me?lang=en")
    assert "My gas deliveries" in english.text
