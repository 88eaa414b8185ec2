"""`ledger demo` tells a newcomer what to do next and keeps the terminal for it: the access log goes to a
file, and the label links it prints (genuine, forged, scrapped, overdue) open pages that say so."""

from __future__ import annotations

import signal

import httpx
import pytest

from test_cli import Demo, free_port  # tests/demo is on the path: it is no package


@pytest.mark.slow
def test_the_demo_says_what_next_and_its_labels_show_each_danger(tmp_path):
    port = free_port()
    demo = Demo(tmp_path, port)
    try:
        demo.wait_for("Serving", seconds=240)
        base = f"http://127.0.0.1:{port}"
        text = "\n".join(demo.lines)
        assert f"sign in at {base}/signin as the regulator" in text and f"{base}/dashboard" in text
        labels = {line.split(f"{base}/c/")[0].strip(): line.split()[-1] for line in demo.lines
                  if f"{base}/c/" in line and "?s=" in line}
        expected = {"genuine label": "Cylinder trace", "forged label": "possibly a forged label",
                    "scrapped cylinder": "has been scrapped", "overdue inspection": "periodic inspection is overdue"}
        assert set(expected) <= set(labels), labels
        token = demo.column("regulator")
        with httpx.Client(timeout=30, cookies={"lang": "en"}) as client:
            pages = {kind: client.get(labels[kind], headers={"Accept-Language": "en"}).text for kind in expected}
            assert client.get(f"{base}/v1/parties", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        for kind, says in expected.items():
            assert says in pages[kind], kind
        assert "possibly a forged label" not in pages["genuine label"]
        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(timeout=30) == 0
        log = (tmp_path / "demo-access.log").read_text()
        assert "/v1/parties" in log and "/c/" in log  # every request reached the file ...
        assert not any("/v1/parties" in line for line in demo.lines)  # ... and not the terminal
        assert token not in log
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()
