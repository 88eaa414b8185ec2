"""`ledger demo --province` as a user runs it: three city ledgers and a hub start, say where they are, answer
there, and all stop on Ctrl-C. The cities are peers: cylinders of 杭州 and of 宁波 crossed to 绍兴 and back, the hub
traces them across both logs and lists the anomalies planted across the line, and each city's parties carry its
own names."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.served import free_ports

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_province_demo_starts_four_processes_prints_their_urls_and_stops_on_ctrl_c(tmp_path):
    port = free_ports(4)
    output = tmp_path / "out.txt"
    with output.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "tools.cli", "demo", "--province", "--port", str(port)],
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 600
        while "Ctrl-C stops all" not in output.read_text(encoding="utf-8") and time.monotonic() < deadline:
            assert demo.poll() is None, output.read_text(encoding="utf-8")
            time.sleep(1)
        said = output.read_text(encoding="utf-8")
        assert "Ctrl-C stops all" in said, said
        hub = f"http://127.0.0.1:{port}"
        token = re.search(r"provincial hub: \S+\s+token (\S+)", said)[1]
        cities = re.findall(r"(杭州|绍兴|宁波) \((\d{6})\): (http://\S+)", said)
        assert [(name, region) for name, region, _ in cities] == [("杭州", "330100"), ("绍兴", "330600"),
                                                                  ("宁波", "330200")]
        for _, _, url in cities:
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        listed = httpx.get(f"{hub}/v1/province/cities", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert sorted(c["name"] for c in listed.json()) == ["宁波", "杭州", "绍兴"]
        _crossed_and_planted(said, hub, token, dict((name, url) for name, _, url in cities))
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        demo.wait(60)
    assert "stopped" in output.read_text(encoding="utf-8")
    for _, _, url in cities:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=2)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{hub}/healthz", timeout=2)


def _crossed_and_planted(said: str, hub: str, token: str, cities: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    crossed = re.findall(r"crossed: (\w{11}) .*\((\S+) → (\S+) → \2\)", said)
    planted = dict(re.findall(r"planted across the line: (\w+) (\w{11})", said))
    assert [(home, away) for _, home, away in crossed] == [("杭州", "绍兴"), ("杭州", "绍兴"), ("宁波", "绍兴")]
    assert set(planted) == {"handover_unconfirmed", "event_after_scrap", "impossible_movement"}
    assert f"{hub}/trace?code={crossed[0][0]}" in said
    # the hub follows the cities' logs every few seconds: the whole chain, in two logs, once both are followed
    for code, home, away in (crossed[0], crossed[2]):
        trace = _followed(hub, headers, code)
        assert [(s["city"], s["first_seq"], s["last_seq"]) for s in trace["segments"]] == [
            (home, 0, 2), (away, 3, 6), (home, 7, 8)], trace
        assert trace["intact"] is True and trace["problems"] == []
        assert len({s["origin"] for s in trace["segments"]}) == 2
    # the anomalies planted across the line, each raised by the city that records the event it rests on
    raised = {}
    for kind in planted:
        answer = httpx.get(f"{hub}/v1/province/findings", params={"kind": kind}, headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        raised[kind] = {item["city"] for item in answer.json()["items"] if item["cylinder"] == planted[kind]}
    # (scrapped in 绍兴: its own return after the scrap is raised there, the fill back home in 杭州)
    assert raised == {"handover_unconfirmed": {"杭州"}, "event_after_scrap": {"杭州", "绍兴"},
                      "impossible_movement": {"绍兴"}}, raised
    # each city's parties are in its own districts and carry its own names, and each knows the others' as
    # homed there
    for name, region in (("杭州", "330100"), ("绍兴", "330600"), ("宁波", "330200")):
        answer = httpx.get(f"{hub}/v1/province/enterprises", params={"city": name}, headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        own = [item["party"] for item in answer.json()["items"] if item["enterprise"].startswith(f"{region}:")]
        districts = {party["region"] for party in own}
        assert districts and all(district[:4] == region[:4] for district in districts), districts
        names = [party["name"] for party in own]
        assert any(n.startswith(name) for n in names), names  # its gas companies, transporters, inspection
        assert not [n for n in names if any(other in n for other in ("杭州", "绍兴", "宁波") if other != name)], names


def _followed(hub: str, headers: dict, code: str) -> dict:
    """The hub's trace of ``code`` once it holds the chain to seq 8, intact (or what it holds after 180 s)."""
    deadline, trace = time.monotonic() + 180, {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{hub}/v1/province/cylinders/{code}/trace", headers=headers, timeout=30)
        trace = answer.json() if answer.status_code == 200 else {}
        if trace and trace["intact"] and trace["segments"][-1]["last_seq"] == 8:
            break
        time.sleep(2)
    return trace
