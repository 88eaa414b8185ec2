"""Labels never carry the default base URL of a server reached elsewhere (ledger.baseurl, docs/operations.md)."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from ledger.baseurl import DEFAULT_BASE_URL, mismatch

from .served import LEDGER, Server


def test_the_default_is_right_only_on_its_own_address() -> None:
    assert mismatch(DEFAULT_BASE_URL, "127.0.0.1", 8000) is None
    assert mismatch(DEFAULT_BASE_URL, "localhost", 8000) is None
    assert "LEDGER_BASE_URL" in mismatch(DEFAULT_BASE_URL, "127.0.0.1", 8080)
    assert "192.168.1.20:8000" in mismatch(DEFAULT_BASE_URL, "192.168.1.20", 8000)
    assert mismatch("https://trace.example", "192.168.1.20", 8000) is None  # chosen: trusted as given


@pytest.mark.slow
def test_serve_warns_and_label_endpoints_refuse_with_the_default_elsewhere(offline_world, tmp_path) -> None:
    world, url = offline_world
    server = Server(url, tmp_path, workers=1)
    del server.env["LEDGER_BASE_URL"]  # the default: http://127.0.0.1:8000, yet this server is on another port
    with server:
        code, auth = world.cylinders[0], {"Authorization": f"Bearer {world.tokens['admin']}"}
        for suffix in ("label.svg", "label.png"):
            answer = httpx.get(f"{server.base}/v1/cylinders/{code}/{suffix}", headers=auth, timeout=10)
            assert answer.status_code == 409
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "LEDGER_BASE_URL" in answer.json()["detail"] and DEFAULT_BASE_URL in answer.json()["detail"]
        assert httpx.get(f"{server.base}/v1/cylinders/{code}/label.svg", timeout=10).status_code == 401
    log = server.log.read_text()
    assert "warning: labels would point at the default http://127.0.0.1:8000" in log


def _labels(world, url, tmp_path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    base = {"LEDGER_KEY_FILE": str(tmp_path / "log.key"), "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key"),
            "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run([LEDGER, "labels", world.cylinders[0], "--out", str(tmp_path / "sheet.pdf"), "--db", url,
                           *extra], env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_labels_cli_needs_a_base_url_someone_chose(offline_world, tmp_path) -> None:
    world, url = offline_world
    refused = _labels(world, url, tmp_path)
    assert refused.returncode == 2 and "--base-url" in refused.stderr and "LEDGER_BASE_URL" in refused.stderr
    assert not (tmp_path / "sheet.pdf").exists() and "Traceback" not in refused.stderr
    bad = _labels(world, url, tmp_path, "--base-url", "trace.example")
    assert bad.returncode == 2 and not (tmp_path / "sheet.pdf").exists()
    given = _labels(world, url, tmp_path, "--base-url", "https://trace.city.example/")
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "sheet.pdf").read_bytes().startswith(b"%PDF")
    (tmp_path / "sheet.pdf").unlink()
    from_env = _labels(world, url, tmp_path, LEDGER_BASE_URL="https://trace.city.example", LEDGER_HOTLINE="0571-12345")
    assert from_env.returncode == 0, from_env.stderr
    from tests.unit.scanners.test_label_sheet_details import _strings

    shown = _strings((tmp_path / "sheet.pdf").read_bytes())  # the stamp serial, model and hotline reach the sheet
    assert any(s.startswith("钢印号 SN-") and s.endswith("· YSP-15") for s in shown), shown
    assert "扫码查验 · 服务电话 0571-12345" in shown
