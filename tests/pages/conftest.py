"""The pages' test town, served in-process (TestClient) once per module and backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger
from tests.conftest import BACKENDS, create_database, drop_database, make_settings

from .city import Town, populate

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def open_ledger(backend: str, folder: Path) -> tuple[Ledger, str]:
    url = create_database(backend, folder)
    settings = make_settings(url, folder)
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    return ledger, url


def close_ledger(ledger: Ledger, backend: str, url: str) -> None:
    ledger.db.dispose()
    drop_database(url)


@pytest.fixture(scope="module", params=BACKENDS)
def town(request, tmp_path_factory) -> Iterator[Town]:
    ledger, url = open_ledger(request.param, tmp_path_factory.mktemp("pages"))
    try:
        yield populate(ledger)
    finally:
        close_ledger(ledger, request.param, url)


@pytest.fixture
def client(town: Town) -> Iterator[TestClient]:
    with TestClient(create_app(ledger=town.ledger), raise_server_exceptions=True, follow_redirects=False) as c:
        yield c


def csrf_of(html: str, action: str | None = None) -> str:
    """The CSRF field of the first form (posting to ``action``, when given)."""
    if action is not None:
        html = html[html.index(f'action="{action}"'):]
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in through the form as a person would; returns the session's CSRF token."""
    form = client.get("/signin")
    answer = client.post("/signin", data={"token": token, "csrf": csrf_of(form.text, "/signin"), "next": ""})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text, "/signout")  # the sign-out form carries the session's token
