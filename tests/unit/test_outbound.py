"""The ledger's HTTP clients share one TLS context, and a kept client is one per server and headers."""

from __future__ import annotations

import httpx

from ledger import outbound


def test_every_client_uses_the_one_tls_context():
    first, second = outbound.client(timeout=5), outbound.client(timeout=5, follow_redirects=False)
    try:
        contexts = {id(c._transport._pool._ssl_context) for c in (first, second)}
        assert contexts == {id(outbound.tls())}
    finally:
        first.close(), second.close()


def test_a_kept_client_is_the_same_for_the_same_server_and_headers_only():
    one = outbound.shared("http://127.0.0.1:9", {"Authorization": "Bearer a"}, 5.0)
    assert outbound.shared("http://127.0.0.1:9", {"Authorization": "Bearer a"}, 5.0) is one
    assert outbound.shared("http://127.0.0.1:9", {"Authorization": "Bearer b"}, 5.0) is not one
    assert outbound.shared("http://127.0.0.1:10", {"Authorization": "Bearer a"}, 5.0) is not one
    assert isinstance(one, httpx.Client) and one.headers["authorization"] == "Bearer a"
    assert one._transport._pool._ssl_context is outbound.tls()
