"""The driver's commands: what they save, refuse and say."""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image
from typer.testing import CliRunner

from ledger import tracecode
from scanners import cli
from scanners.cli import app
from scanners.labels import label_png
from scanners.outbox import Outbox
from scanners.payload import label_url
from scanners.sync import RetryPolicy, sync

LABEL_KEY = Ed25519PrivateKey.generate()
BASE = "https://gas.example.cn"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_OUTBOX", str(tmp_path / "outbox.db"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def line(output: str) -> str:
    """A message as one line: rich wraps long ones at the terminal's width, which a test process
    without a terminal does not choose."""
    return " ".join(output.split())


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "label.pub"
    path.write_bytes(LABEL_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return path


def stored(tmp_path):
    with Outbox(tmp_path / "outbox.db") as box:
        return box.list()


def test_add_saves_labels_and_typed_codes_with_location_and_data(run, tmp_path, key_file):
    scanned, typed = tracecode.generate(), tracecode.generate()
    url = label_url(BASE, scanned, LABEL_KEY)
    result = run("add", url, tracecode.printed(typed).lower(), "--kind", "deliver", "--to", "USER-1",
                 "--lat", 30.5, "--lon", 120.1, "--data", "net_kg=14.5", "--data", "note=back door",
                 "--label-key", key_file)
    assert result.exit_code == 0, result.output
    assert "Saved 2 scan(s)" in result.output
    scans = stored(tmp_path)
    assert [s.cylinder for s in scans] == [scanned, typed] and scans[0].verified
    assert scans[0].data == {"net_kg": 14.5, "note": "back door"} and scans[0].location.lat == 30.5


def test_one_bad_code_saves_nothing_and_says_why(run, tmp_path):
    good = tracecode.generate()
    typo = good[:5] + ("A" if good[5] != "A" else "B") + good[6:]
    result = run("add", good, typo, "wxp://f2f0abc", "--kind", "dispatch")
    assert result.exit_code == 1
    assert "probably a mistyped character" in line(result.output) and "WeChat payment" in line(result.output)
    assert "nothing saved" in result.output and stored(tmp_path) == []
    skipped = run("add", good, typo, "--kind", "dispatch", "--skip-bad")
    assert skipped.exit_code == 0 and "1 bad code(s) skipped" in skipped.output
    assert [s.cylinder for s in stored(tmp_path)] == [good]


def test_a_forged_label_is_refused_with_the_key(run, tmp_path, key_file):
    code = tracecode.generate()
    forged = label_url(BASE, code, Ed25519PrivateKey.generate())
    result = run("add", forged, "--kind", "receive", "--label-key", key_file)
    assert result.exit_code == 1 and "forged or altered" in result.output
    assert stored(tmp_path) == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [(["--kind", "register"], "kind must be one of"), (["--kind", "fill", "--lat", "1"], "both --lat and --lon"),
     (["--kind", "fill", "--data", "net_kg"], "key=value")],
)
def test_bad_options_save_nothing(run, tmp_path, extra, says):
    result = run("add", tracecode.generate(), *extra)
    assert result.exit_code == 1 and says in result.output and stored(tmp_path) == []


def test_list_filters_by_status(run):
    run("add", tracecode.generate(), "--kind", "collect")
    assert "not sent" in run("list").output
    assert "No rejected scans." in run("list", "--status", "rejected").output
    assert run("list", "--status", "lost").exit_code == 1


@pytest.fixture
def fast_sync(monkeypatch):
    monkeypatch.setattr(cli, "send_pending", functools.partial(sync, retry=RetryPolicy(attempts=2, base=0.01)))


def test_sync_shows_outcomes_and_do_not_deliver_lines(run, tmp_path, ledger_server, monkeypatch, fast_sync):
    overdue, unknown, fine = (tracecode.generate() for _ in range(3))
    ledger_server.stub.findings[overdue] = [{"kind": "filled_overdue_inspection", "severity": "high"}]
    ledger_server.stub.unregistered.add(unknown)
    run("add", overdue, unknown, fine, "--kind", "deliver", "--to", "USER-4")
    monkeypatch.setenv("LEDGER_SERVER", ledger_server.url)
    monkeypatch.setenv("LEDGER_TOKEN", ledger_server.token)
    result = run("sync")
    assert result.exit_code == 0, result.output
    assert f"DO NOT DELIVER  {tracecode.printed(overdue)}: inspection OVERDUE" in result.output
    assert f"REJECTED {tracecode.printed(unknown)}" in result.output and "not registered" in result.output
    assert "Recorded 2 (0 were already on the server), rejected 1." in result.output
    assert ledger_server.token not in result.output
    assert "Nothing to send." in run("sync").output


def test_sync_to_an_unreachable_server_keeps_the_scans(run, unused_port, fast_sync):
    run("add", tracecode.generate(), "--kind", "collect")
    result = run("sync", "--server", f"http://127.0.0.1:{unused_port}", "--token", "t")
    assert result.exit_code == 1 and "1 scan(s) kept on this device" in line(result.output)


def test_fix_and_drop_a_rejected_scan(run, tmp_path, ledger_server, fast_sync):
    wrong, right, other = (tracecode.generate() for _ in range(3))
    ledger_server.stub.unregistered.update({wrong, other})
    run("add", wrong, other, "--kind", "receive")
    run("sync", "--server", ledger_server.url, "--token", ledger_server.token)
    first, second = stored(tmp_path)
    result = run("fix", first.id, "--code", tracecode.printed(right), "--data", "note=label torn")
    assert result.exit_code == 0 and "will be sent again" in result.output
    fixed = stored(tmp_path)[0]
    assert (fixed.cylinder, fixed.status, fixed.data) == (right, "pending", {"note": "label torn"})
    assert fixed.idempotency_key != first.idempotency_key
    assert run("drop", second.id).exit_code == 0 and len(stored(tmp_path)) == 1
    assert "no scan" in run("drop", second.id).output


def test_fix_refuses_a_recorded_scan(run, tmp_path, ledger_server, fast_sync):
    run("add", tracecode.generate(), "--kind", "receive")
    run("sync", "--server", ledger_server.url, "--token", ledger_server.token)
    result = run("fix", stored(tmp_path)[0].id, "--kind", "collect")
    assert result.exit_code == 1 and "already recorded" in result.output


def test_decode_reads_a_photo_and_checks_the_label(run, tmp_path, key_file):
    code = tracecode.generate()
    photo = tmp_path / "photo.png"
    photo.write_bytes(label_png(label_url(BASE, code, LABEL_KEY), code))
    result = run("decode", photo, "--label-key", key_file)
    assert result.exit_code == 0 and f"{tracecode.printed(code)}  label signature OK" in result.output
    blank = tmp_path / "blank.jpg"
    Image.new("L", (200, 200), 255).save(blank)
    assert "no QR code found" in run("decode", blank).output
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a photo" in run("decode", text).output
    assert "cannot open" in run("decode", tmp_path / "missing.png").output


def test_an_unopenable_scan_store_is_named_not_a_traceback(run, tmp_path):
    result = run("list", "--outbox", tmp_path)
    assert result.exit_code == 1 and f"cannot open the scan store {tmp_path}" in line(result.output)
