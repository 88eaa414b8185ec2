"""Competing checkpoints of one log from many threads at once: exactly one lineage is ever cosigned.

Two ledgers share a log key and origin but not their history (a split view).
Sixteen clients submit their lineage's checkpoints at the same time, each
retrying from the size a 409 names (c2sp.org/tlog-witness "add-checkpoint").
Were the check and the store not one atomic step, two requests with the same
old size could both pass the check and both lineages would be cosigned.
"""

from __future__ import annotations

import hashlib
import threading

import httpx
import pytest

from ledger.witness import CosignatureVerifier

from .served import Log, fork_of

pytestmark = pytest.mark.slow

THREADS = 16


def _lineage(log: Log, steps: int) -> tuple[list, dict[tuple[int, int], list[bytes]]]:
    checkpoints = [log.grow(1) for _ in range(steps)]
    sizes = [0] + [c.size for c in checkpoints]
    proofs = {(old, c.size): log.proof(old, c.size) for c in checkpoints for old in sizes if old <= c.size}
    return checkpoints, proofs


def test_only_one_lineage_is_ever_cosigned(witness, log, tmp_path) -> None:
    fork = fork_of(log, tmp_path / "fork")
    try:
        lineages = {"A": _lineage(log, 6), "B": _lineage(fork, 6)}
    finally:
        fork.ledger.db.dispose()
    start = threading.Barrier(THREADS)
    cosigned: list[tuple[str, int, bytes, str, str]] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        name = "AB"[number % 2]
        checkpoints, proofs = lineages[name]
        feeder = Log(log.ledger)  # only for its request format
        with httpx.Client(base_url=witness.base, timeout=60) as http:
            start.wait()
            known = 0
            for checkpoint in checkpoints[number // 2 % 3:]:
                while (known, checkpoint.size) in proofs:
                    body = feeder.request(known, checkpoint, proofs[(known, checkpoint.size)])
                    answer = http.post("/add-checkpoint", content=body.encode())
                    with lock:
                        statuses.append(answer.status_code)
                    if answer.status_code == 200:
                        with lock:
                            cosigned.append((name, checkpoint.size, checkpoint.root, checkpoint.text(), answer.text))
                        known = checkpoint.size
                        break
                    if answer.status_code != 409:  # 422: the other lineage holds the witness
                        break
                    known = int(answer.text)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cosigned and set(statuses) <= {200, 409, 422}, statuses
    winners = {name for name, *_ in cosigned}
    assert len(winners) == 1, sorted((name, size) for name, size, *_ in cosigned)
    loser = "B" if winners == {"A"} else "A"
    assert 422 in statuses or 409 in statuses, f"lineage {loser} was never refused: {statuses}"
    verifier = CosignatureVerifier.from_vkey(witness.vkey)
    for _, _, _, text, line in cosigned:
        verifier.verify(text + "\n" + line)
    # What the witness keeps is the largest checkpoint it cosigned, of the winning lineage.
    (winner,) = winners
    largest = max(size for _, size, *_ in cosigned)
    roots = {c.size: c.root for c in lineages[winner][0]}
    assert all(root == roots[size] for _, size, root, *_ in cosigned)
    state = witness.http.get("/" + hashlib.sha256(log.origin.encode()).hexdigest() + "/checkpoint")
    assert state.text.split("\n")[1] == str(largest)
