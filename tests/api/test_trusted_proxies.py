"""Behind a reverse proxy the rate limits count the client the proxy names in X-Forwarded-For, and only
when the proxy is one of LEDGER_TRUSTED_PROXIES: `ledger serve` hands the list to uvicorn's own
proxy-header handling (docs/operations.md "Behind a reverse proxy")."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import uvicorn

from api.app import create_app
from ledger import citizen
from ledger.config import Settings
from tests.pages.conftest import close_ledger, open_ledger
from tests.pages.served import free_port
from tools.cli import proxy_options


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    found, url = open_ledger("sqlite", tmp_path_factory.mktemp("proxies"))
    found.__dict__["report_limits"] = citizen.parse_limits("address=1/1h,cylinder=100/1d,fold=7d")
    yield found
    close_ledger(found, "sqlite", url)


def _served(ledger, trusted: str) -> Iterator[str]:
    settings = replace(ledger.settings, trusted_proxies=trusted)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ledger=ledger), host="127.0.0.1", port=port,
                                           log_level="warning", **proxy_options(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _report(base: str, forwarded_for: str) -> int:
    body = {"category": "other", "text": f"来自 {forwarded_for} 的反映"}
    return httpx.post(f"{base}/v1/reports", json=body, headers={"X-Forwarded-For": forwarded_for}, timeout=30).status_code


def test_a_trusted_proxy_names_each_client_and_the_limit_counts_them_apart(ledger) -> None:
    for base in _served(ledger, "127.0.0.1,::1"):
        assert _report(base, "203.0.113.10") == 201
        assert _report(base, "203.0.113.11") == 201  # another citizen behind the same proxy
        assert _report(base, "203.0.113.10") == 429  # the first one again: one report an hour
        # a client cannot hide behind a name it makes up: the rightmost untrusted address counts
        assert _report(base, "198.51.100.1, 203.0.113.10") == 429


def test_an_untrusted_peer_is_counted_as_itself_whatever_it_claims(ledger) -> None:
    for base in _served(ledger, "192.0.2.0/24"):
        assert _report(base, "203.0.113.20") == 201
        assert _report(base, "203.0.113.21") == 429  # both are 127.0.0.1, which is no trusted proxy


def test_the_setting_is_read_and_checked() -> None:
    assert Settings().trusted_proxies == "127.0.0.1,::1"  # uvicorn's own default
    env = {"LEDGER_TRUSTED_PROXIES": " 10.0.0.0/8, 2001:db8::1 ,*"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert Settings.from_env().trusted_proxies == "10.0.0.0/8,2001:db8::1,*"
        for bad in ("10.0.0.1/8", "proxy.example", "10.0.0"):
            patch.setenv("LEDGER_TRUSTED_PROXIES", bad)
            with pytest.raises(ValueError, match="LEDGER_TRUSTED_PROXIES"):
                Settings.from_env()
        patch.setenv("LEDGER_TRUSTED_PROXIES", "")
        assert Settings.from_env().trusted_proxies == ""
    assert proxy_options(Settings(trusted_proxies="10.1.2.3")) == {"proxy_headers": True,
                                                                   "forwarded_allow_ips": "10.1.2.3"}
