"""/docs and /redoc load nothing from another host: an offline network still gets the API's docs."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.config import Settings

URL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]?([^'")\s>]+)""")


def _client(tmp_path) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}", key_file=tmp_path / "log.key",
                        label_key_file=tmp_path / "label.key")
    from ledger.keys import ensure_key

    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    return TestClient(create_app(settings))


def test_docs_reference_only_this_server_and_every_asset_loads(tmp_path) -> None:
    with _client(tmp_path) as client:
        for page in ("/docs", "/redoc"):
            answer = client.get(page)
            assert answer.status_code == 200
            html = answer.text
            assert "cdn" not in html.lower() and "googleapis" not in html
            assert not re.search(r"https?://", html), page  # no absolute URL of any host
            assets = [u for u in URL.findall(html) if u.startswith("/docs-assets/")]
            assert assets, page
            for asset in assets:
                loaded = client.get(asset)
                assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
        js = client.get("/docs-assets/swagger-ui-bundle.js")
        assert "javascript" in js.headers["content-type"] and b"SwaggerUIBundle" in js.content
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "cylinder-ledger"
