"""Sign-in, the role checks of every page, and forms that cannot be forged from another site."""

from __future__ import annotations

import re

import pytest

from .city import Town
from .conftest import csrf_of, sign_in

PAGES = ("/trace", "/dashboard", "/risk", "/findings", "/driver")
# Which roles open which page (docs/pages.md "Who sees what"); the rest get a 403 page.
OPENS = {
    "/trace": {"admin", "regulator", "inspector", "company", "transporter", "shop", "inspection"},
    "/dashboard": {"admin", "regulator", "inspector"},
    "/risk": {"admin", "regulator", "inspector"},
    "/findings": {"admin", "regulator", "inspector"},
    "/driver": {"company", "transporter", "shop", "inspection"},
}


@pytest.mark.parametrize("path", PAGES)
def test_a_page_behind_sign_in_sends_a_stranger_to_the_sign_in_form_and_back(client, path):
    answer = client.get(path, params={"x": "1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/signin?next={path.replace('/', '%2F')}%3Fx%3D1"


@pytest.mark.parametrize("role", sorted(OPENS["/trace"]))
def test_each_role_opens_exactly_its_pages(town: Town, client, role):
    sign_in(client, town.tokens[role])
    for path in PAGES:
        answer = client.get(path)
        expected = 200 if role in OPENS[path] else 403
        assert answer.status_code == expected, (role, path)
        if expected == 403:
            assert "无权打开此页" in answer.text and "换一个账户登录" in answer.text


def test_a_shop_cannot_open_the_regulators_dashboard_even_in_english(town: Town, client):
    sign_in(client, town.tokens["shop"])
    answer = client.get("/dashboard", params={"lang": "en"})
    assert answer.status_code == 403 and "Your account (shop) may not open this page" in answer.text
    assert "你的账户（供应站）无权打开此页" in client.get("/dashboard", params={"lang": "zh"}).text


def test_signing_in_keeps_a_session_id_in_an_httponly_strict_cookie_and_lands_by_role(town: Town, client):
    form = client.get("/signin")
    answer = client.post("/signin", data={"token": town.tokens["regulator"], "csrf": csrf_of(form.text, "/signin")})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("cl_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_a_wrong_token_is_refused_with_the_form_again(town: Town, client):
    form = client.get("/signin")
    answer = client.post("/signin", data={"token": "cl_not-a-token", "csrf": csrf_of(form.text, "/signin")})
    assert answer.status_code == 401 and "令牌无效" in answer.text and "cl_session" not in answer.cookies


def test_the_sign_in_form_itself_cannot_be_posted_from_elsewhere(town: Town, client):
    client.get("/signin")
    refused = client.post("/signin", data={"token": town.tokens["regulator"], "csrf": "guessed"})
    assert refused.status_code == 403 and "cl_session" not in refused.cookies
    form = client.get("/signin")
    foreign = client.post("/signin", data={"token": town.tokens["regulator"], "csrf": csrf_of(form.text, "/signin")},
                          headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403


def test_after_sign_in_it_returns_only_to_a_path_on_this_site(town: Town, client):
    for target, lands in (("/risk?reason=vanished", "/risk?reason=vanished"), ("//evil.example/x", "/trace"),
                          ("https://evil.example", "/trace"), ("/\\evil.example", "/trace")):
        form = client.get("/signin")
        answer = client.post("/signin", data={"token": town.tokens["inspector"], "next": target,
                                              "csrf": csrf_of(form.text, "/signin")})
        assert answer.headers["location"] == lands, target


def test_signing_out_ends_the_session(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    assert client.post("/signout", data={"csrf": "wrong"}).status_code == 403
    answer = client.post("/signout", data={"csrf": csrf})
    assert answer.status_code == 303 and client.get("/trace").status_code == 303


def test_a_form_without_the_sessions_csrf_token_or_from_another_origin_changes_nothing(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["clean"]
    with town.ledger.db.reading() as c:
        before = len(town.ledger.history(c, code))
    assert client.post(f"/trace/{code}/report", data={"note": "x", "csrf": ""}).status_code == 403
    assert client.post(f"/trace/{code}/report", data={"note": "x", "csrf": csrf},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    with town.ledger.db.reading() as c:
        assert len(town.ledger.history(c, code)) == before


def test_the_csrf_token_changes_with_each_sign_in(town: Town, client):
    first = sign_in(client, town.tokens["inspector"])
    second = sign_in(client, town.tokens["inspector"])
    assert first != second
    code = town.cylinders["clean"]
    assert client.post(f"/trace/{code}/report", data={"note": "x", "csrf": first}).status_code == 403


def test_bad_parameters_are_a_page_in_the_readers_language_not_json(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    answer = client.get("/findings/not-a-number")
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "请求参数有误" in answer.text


def test_no_page_loads_anything_from_another_site(town: Town, client):
    external = re.compile(r'(?:src|href|action)="(?:https?:)?//')
    sign_in(client, town.tokens["regulator"])
    pages = ["/", "/signin", "/trace", f"/trace/{town.cylinders['clean']}", f"/trace/{town.cylinders['clean']}/proof",
             "/dashboard", "/risk", "/findings", f"/c/{town.cylinders['clean']}"]
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200 and not external.search(answer.text), path
        assert "default-src 'self'" in answer.headers["content-security-policy"]
    sign_in(client, town.tokens["shop"])
    assert not external.search(client.get("/driver").text)
    for asset in ("site.css", "camera.js", "driver.js", "tracecode.js", "driver-sw.js", "lookup.js"):
        body = client.get(f"/static/pages/{asset}").text
        assert "http://" not in body and "https://" not in body, asset
