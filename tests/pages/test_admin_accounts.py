"""The administrator's accounts page: listed, disabled and given a new token through CSRF-checked forms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from ledger.domain import Role

from .city import Town
from .conftest import csrf_of, sign_in


def _new_account(town: Town, name: str) -> tuple[int, str]:
    ledger = town.ledger
    with ledger.db.writing() as c:
        token = ledger.create_account(c, role=Role.SHOP, party=town.parties["shop"], name=name)
        return ledger.authenticate(c, token).account, token


def _works(town: Town, token: str) -> bool:
    with town.ledger.db.reading() as c:
        return town.ledger.authenticate(c, token) is not None


def test_the_admin_sees_every_account_and_no_token(client: TestClient, town: Town) -> None:
    sign_in(client, town.tokens["admin"])
    page = client.get("/admin/accounts")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "shop desk" in page.text and "钱检查" in page.text and town.parties["shop"] in page.text
    assert not any(token in page.text for token in town.tokens.values())
    assert 'href="/admin/accounts"' in page.text  # in the admin's menu


def test_a_new_token_is_shown_once_and_the_old_one_stops_working(client: TestClient, town: Town) -> None:
    account, old = _new_account(town, "rotated desk")
    csrf = sign_in(client, town.tokens["admin"])
    answer = client.post(f"/admin/accounts/{account}/rotate", data={"csrf": csrf})
    assert answer.status_code == 200, answer.text
    new = re.search(r'id="new-token">(cl_[^<]+)<', answer.text).group(1)
    assert not _works(town, old) and _works(town, new)
    assert new not in client.get("/admin/accounts").text


def test_disable_refuses_the_token_and_the_form_needs_the_sessions_csrf(client: TestClient, town: Town) -> None:
    account, token = _new_account(town, "disabled desk")
    csrf = sign_in(client, town.tokens["admin"])
    forged = client.post(f"/admin/accounts/{account}/disable", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and _works(town, token)
    page = client.get("/admin/accounts").text
    assert csrf_of(page, f"/admin/accounts/{account}/disable") == csrf
    answer = client.post(f"/admin/accounts/{account}/disable", data={"csrf": csrf})
    assert answer.status_code == 200 and not _works(town, token)
    again = client.post(f"/admin/accounts/{account}/rotate", data={"csrf": csrf})
    assert again.status_code in (400, 422) and not _works(town, token)


def test_the_admin_cannot_disable_itself_and_others_cannot_open_the_page(client: TestClient, town: Town) -> None:
    csrf = sign_in(client, town.tokens["admin"])
    with town.ledger.db.reading() as c:
        me = town.ledger.authenticate(c, town.tokens["admin"]).account
    assert client.post(f"/admin/accounts/{me}/disable", data={"csrf": csrf}).status_code == 409
    assert _works(town, town.tokens["admin"])
    assert client.post("/admin/accounts/99999/disable", data={"csrf": csrf}).status_code == 404
    client.cookies.clear()
    sign_in(client, town.tokens["regulator"])
    assert client.get("/admin/accounts").status_code == 403
