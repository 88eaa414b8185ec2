"""Sign-ins held on the server: the cookie is a revocable id, never the account's token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from ledger import sessions
from ledger.domain import Role

from .city import Town
from .conftest import sign_in


class Clock:
    """Now, as the app sees it; a test moves it instead of sleeping."""

    def __init__(self) -> None:
        self.moment = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(town: Town, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(ledger=town.ledger, clock=clock), follow_redirects=False) as c:
        yield c


def _stored_hashes(town: Town) -> list[bytes]:
    with town.ledger.db.reading() as c:
        return [bytes(row[0]) for row in c.execute(text("SELECT id_hash FROM page_sessions"))]


def test_the_cookie_value_does_not_contain_the_token(town: Town, client):
    token = town.tokens["regulator"]
    sign_in(client, token)
    cookie = client.cookies["cl_session"]
    secret = token.removeprefix("cl_")
    assert token not in cookie and secret not in cookie and secret[:16] not in cookie
    assert client.get("/dashboard").status_code == 200


def test_the_server_keeps_only_a_hash_of_the_session_id(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    cookie = client.cookies["cl_session"]
    hashes = _stored_hashes(town)
    assert cookie.encode() not in hashes and hashlib.sha256(cookie.encode()).digest() in hashes


def test_an_old_cookie_after_sign_out_no_longer_opens_trace(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    kept = client.cookies["cl_session"]
    assert client.get("/trace").status_code == 200
    assert client.post("/signout", data={"csrf": csrf}).status_code == 303
    client.cookies.set("cl_session", kept)  # a copy kept from before signing out
    answer = client.get("/trace")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")


def test_a_cookie_idle_past_the_limit_is_refused(town: Town, timed, clock: Clock):
    sign_in(timed, town.tokens["inspector"])
    idle = town.ledger.settings.session_idle_seconds
    clock.advance(seconds=idle - 60)
    assert timed.get("/trace").status_code == 200  # a view restarts the idle limit
    clock.advance(seconds=idle - 60)
    assert timed.get("/trace").status_code == 200
    clock.advance(seconds=idle + 1)
    answer = timed.get("/trace")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")


def test_a_busy_cookie_still_ends_at_the_absolute_limit(town: Town, timed, clock: Clock):
    sign_in(timed, town.tokens["inspector"])
    settings = town.ledger.settings
    step = settings.session_idle_seconds // 2
    for _ in range(settings.session_max_seconds // step - 1):
        clock.advance(seconds=step)
        assert timed.get("/trace").status_code == 200
    clock.advance(seconds=step + 1)
    assert timed.get("/trace").status_code == 303


def test_page_views_within_a_minute_write_nothing(town: Town, timed, clock: Clock):
    sign_in(timed, town.tokens["inspector"])
    cookie = hashlib.sha256(timed.cookies["cl_session"].encode()).digest()

    def last_seen() -> str:
        with town.ledger.db.reading() as c:
            return c.execute(text("SELECT last_seen FROM page_sessions WHERE id_hash = :h"), {"h": cookie}).scalar_one()

    first = last_seen()
    clock.advance(seconds=30)
    timed.get("/trace")
    assert last_seen() == first
    clock.advance(seconds=31)
    timed.get("/trace")
    assert last_seen() > first


def test_a_disabled_accounts_sign_ins_end_at_once(town: Town, client):
    with town.ledger.db.writing() as c:
        token = town.ledger.create_account(c, role=Role.INSPECTOR, party=town.parties["regulator"], name="temp desk")
        account = town.ledger.authenticate(c, token).account
    sign_in(client, token)
    assert client.get("/trace").status_code == 200
    with town.ledger.db.writing() as c:
        sessions.disable_account(c, account, datetime.now(timezone.utc))
    assert client.get("/trace").status_code == 303


def test_a_forged_or_malformed_session_id_opens_nothing(town: Town, client):
    for forged in ("x" * 43, town.tokens["inspector"], "", "a.b"):
        client.cookies.set("cl_session", forged)
        assert client.get("/trace").status_code == 303, forged


def test_an_http_origin_against_an_https_site_is_refused(town: Town):
    with TestClient(create_app(ledger=town.ledger), base_url="https://testserver", follow_redirects=False) as c:
        csrf = sign_in(c, town.tokens["inspector"])
        code = town.cylinders["clean"]
        with town.ledger.db.reading() as connection:
            before = len(town.ledger.history(connection, code))
        for origin in ("http://testserver", "https://testserver:8443", "https://testserver.evil.example", "null"):
            answer = c.post(f"/trace/{code}/report", data={"note": "x", "csrf": csrf}, headers={"Origin": origin})
            assert answer.status_code == 403, origin
        with town.ledger.db.reading() as connection:
            assert len(town.ledger.history(connection, code)) == before
        same = c.post("/signout", data={"csrf": csrf}, headers={"Origin": "https://TESTSERVER:443"})
        assert same.status_code == 303  # the same origin, spelled with its default port


def test_the_session_limits_come_from_the_environment_and_absurd_ones_are_refused(monkeypatch):
    from ledger.config import Settings

    monkeypatch.setenv("LEDGER_SESSION_IDLE", "1800")
    monkeypatch.setenv("LEDGER_SESSION_MAX", "28800")
    settings = Settings.from_env()
    assert (settings.session_idle_seconds, settings.session_max_seconds) == (1800, 28800)
    for absurd in ("0", "-5", "12h", "99999999"):
        monkeypatch.setenv("LEDGER_SESSION_IDLE", absurd)
        with pytest.raises(ValueError, match="LEDGER_SESSION_IDLE"):
            Settings.from_env()
