"""`ledger labels`: a printable sheet of the cylinders' signed labels; `ledger accounts create`; `ledger sweep`."""

from __future__ import annotations

import os
import subprocess

from ledger import tracecode

from .served import LEDGER


def _labels(offline_world, tmp_path, *codes: str, **extra: str) -> subprocess.CompletedProcess:
    world, url = offline_world
    env = {"LEDGER_KEY_FILE": str(tmp_path / "log.key"), "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key"),
           "PATH": "/usr/bin:/bin", "LEDGER_BASE_URL": "https://trace.example",
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **extra}
    return subprocess.run([LEDGER, "labels", *codes, "--out", str(tmp_path / "sheet.pdf"), "--db", url],
                          env=env, capture_output=True, text=True, timeout=60)


def test_labels_writes_a_pdf_sheet(offline_world, tmp_path) -> None:
    world, _ = offline_world
    typed = tracecode.printed(world.cylinders[1]).lower()  # any spelling a person might type
    done = _labels(offline_world, tmp_path, world.cylinders[0], typed)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sheet.pdf").read_bytes().startswith(b"%PDF")
    assert "2 labels on 1 page(s)" in done.stderr


def test_labels_says_when_the_named_font_cannot_serve(offline_world, tmp_path) -> None:
    world, _ = offline_world
    bogus = tmp_path / "city.ttf"
    bogus.write_bytes(b"OTTO" + bytes(64))  # OpenType/CFF, which a PDF writer cannot embed as TrueType
    done = _labels(offline_world, tmp_path, world.cylinders[0], LEDGER_LABEL_FONT=str(bogus))
    assert done.returncode == 0, done.stderr
    assert f"LEDGER_LABEL_FONT={bogus} is not a TrueType font" in " ".join(done.stderr.split())
    pdf = (tmp_path / "sheet.pdf").read_bytes()
    # Another font found on the machine is embedded; with none, the reader's font and how to install one.
    assert b"/FontFile2" in pdf or "apt install fonts-wqy-zenhei" in done.stderr


def test_labels_refuses_an_unknown_code_and_writes_nothing(offline_world, tmp_path) -> None:
    world, _ = offline_world
    unregistered = tracecode.generate()
    done = _labels(offline_world, tmp_path, world.cylinders[0], unregistered)
    assert done.returncode == 2 and f"no cylinder {unregistered}" in done.stderr
    code = world.cylinders[0]
    typo = _labels(offline_world, tmp_path, ("B" if code[0] != "B" else "C") + code[1:])  # one wrong character
    assert typo.returncode == 2 and "check character" in typo.stderr.replace("\n", " ")
    assert not (tmp_path / "sheet.pdf").exists()


def test_sweep_first_reviews_what_batches_left_queued(offline_world, tmp_path) -> None:
    from datetime import datetime, timezone

    from ledger.domain import EventKind, NewEvent, Role
    from ledger.service import Actor

    world, url = offline_world
    ledger, shop = world.ledger, Actor(Role.SHOP, world.parties["shop"], "shop")
    receipt = NewEvent(world.cylinders[0], EventKind.RECEIVE, datetime.now(timezone.utc), shop.party, "k-sweep-1")
    with ledger.db.writing() as c:  # a server was killed before its reviewer got to this batch
        ledger.record_batch(c, shop, [receipt], defer_review=True)
    env = {"LEDGER_KEY_FILE": str(tmp_path / "log.key"), "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([LEDGER, "sweep", "--db", url], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 cylinders reviewed after batches" in done.stdout
    with ledger.db.reading() as c:
        assert ledger.review_backlog(c)[0] == 0
        assert [f["kind"] for f in ledger.findings(c, cylinder=world.cylinders[0])["items"]] == ["custody_jump"]


def test_accounts_create_prints_the_token_alone_and_the_account_id_to_dispatch_to(offline_world, tmp_path) -> None:
    world, url = offline_world
    env = {"LEDGER_KEY_FILE": str(tmp_path / "log.key"), "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([LEDGER, "accounts", "create", "--role", "inspector", "--party", world.parties["regulator"],
                           "--name", "Inspector Sun", "--db", url], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    with world.ledger.db.reading() as c:
        account = world.ledger.authenticate(c, token).account
    assert f"account {account} (inspector)" in done.stderr
