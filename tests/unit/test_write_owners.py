"""Each kind of process begins its write transactions in one module (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The process kinds of a server and the one module each begins its write transactions in.
OWNERS = {
    "api/deps.py": "a request (WriteConn, a page's sign-in)",
    "ledger/ingest.py": "the ingest use case: the group writer, a batch, the pages' syncs and reports",
    "api/review.py": "the reviewer",
    "ledger/publisher.py": "the checkpoint publisher",
    "ledger/sequencer.py": "the sequencer (log positions after commit), run by the writers and the publisher",
    "api/auditor.py": "the auditor",
    "ledger/capture.py": "the EPCIS capture worker: claiming a job, storing each chunk's outcomes",
    "ledger/sweeper.py": "the sweeper (the review queue's leftovers, the clock's findings, overdue cases)",
    "ledger/webhooks.py": "the webhook deliverer (fan-out of the outbox, each attempt's log)",
    "ledger/archival.py": "archiving a block of the log (`ledger partitions archive`, its one short transaction)",
}
# Storage is where transactions are made.
ELSEWHERE = ("ledger/storage/", "tools/")


def _beginners() -> set[str]:
    found = set()
    for package in ("api", "ledger", "scanners"):  # tools/ (commands, the demo) run as processes of their own
        for path in (ROOT / package).rglob("*.py"):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith(ELSEWHERE):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "writing":
                    found.add(name)
    return found


def test_no_service_route_or_page_begins_a_write_transaction_of_its_own():
    assert _beginners() == set(OWNERS)
