"""Asking a witness to cosign a checkpoint: ``POST <url>/add-checkpoint`` (c2sp.org/tlog-witness).

One call, no database: the checkpoint publisher (``ledger.publisher``) says which
size the witness last cosigned and hands over the consistency proof from it; the
answer is a verified cosignature, the size the witness says it holds (``409``),
or a ``WitnessFailed`` saying why not. A cosignature line that does not verify
against the witness's configured key is a failure, never a cosignature.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from .cosigning import Cosignature, Witness, add_checkpoint_body, parse_size, split_note
from .errors import LedgerError, ProofInvalid
from .signednote import Checkpoint, NoteVerifier, open_checkpoint
from .witness import origin_hash

__all__ = ["WitnessConflict", "WitnessFailed", "latest_cosigned", "request_cosignature"]

# A cosignature dated this far ahead of our clock is refused (c2sp.org/tlog-cosignature: verifiers MAY).
FUTURE_SLACK = 600


class WitnessFailed(Exception):
    """The witness gave no usable cosignature; ``str()`` says why."""


class WitnessConflict(Exception):
    """``409 Conflict``: the witness last cosigned ``size``, not the old size we sent."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the witness last cosigned tree size {size}")
        self.size = size


def request_cosignature(client: httpx.Client, witness: Witness, old_size: int, proof: Sequence[bytes],
                        checkpoint: Checkpoint) -> Cosignature:
    """Submit ``checkpoint`` with the consistency proof from ``old_size``; the witness's verified cosignature."""
    body = add_checkpoint_body(old_size, proof, checkpoint.note)
    try:
        answer = client.post(f"{witness.url}/add-checkpoint", content=body.encode(),
                             headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.HTTPError as exc:
        raise WitnessFailed(f"{witness.url} did not answer: {type(exc).__name__}: {exc}") from None
    if answer.status_code == 409:
        try:
            raise WitnessConflict(parse_size(answer.text))
        except ProofInvalid as exc:
            raise WitnessFailed(f"409 with {exc.message}") from None
    if answer.status_code != 200:
        raise WitnessFailed(f"HTTP {answer.status_code}: {answer.text[:200].strip()}")
    text, _ = split_note(checkpoint.note)
    found = None
    for line in answer.text.splitlines():
        if not line.strip():
            continue
        try:
            cosignature = witness.key.verify_line(line, text)
        except (ProofInvalid, LedgerError) as exc:
            raise WitnessFailed(f"refused its answer: {exc.message}") from None
        if cosignature is not None and found is None:
            found = cosignature
    if found is None:
        raise WitnessFailed(f"the answer carries no cosignature by the key {witness.key.name}")
    if found.timestamp > time.time() + FUTURE_SLACK:
        raise WitnessFailed(f"the cosignature is dated {found.timestamp}, in the future")
    return found


def latest_cosigned(client: httpx.Client, witness: Witness, origin: str, log: NoteVerifier) -> Checkpoint | None:
    """The newest checkpoint of log ``origin`` that ``witness`` cosigned, or None if it cosigned none.

    Read from the witness itself (c2sp.org/tlog-witness, "Monitor Retrieval
    Mechanism": ``GET <url>/<hex SHA-256 of the origin>/checkpoint``), so it is what
    the log promised whatever its own database holds now. The note must carry the
    log's signature and a cosignature by the witness's configured key; anything
    else is a ``WitnessFailed``.
    """
    try:
        answer = client.get(f"{witness.url}/{origin_hash(origin)}/checkpoint")
    except httpx.HTTPError as exc:
        raise WitnessFailed(f"{witness.url} did not answer: {type(exc).__name__}: {exc}") from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise WitnessFailed(f"HTTP {answer.status_code}: {answer.text[:200].strip()}")
    try:
        checkpoint = open_checkpoint(log, answer.text, origin)
    except (ProofInvalid, LedgerError) as exc:
        raise WitnessFailed(f"its checkpoint does not carry the log's signature: {exc.message}") from None
    text, lines = split_note(answer.text)
    for line in lines:
        try:
            if witness.key.verify_line(line, text) is not None:
                return checkpoint
        except (ProofInvalid, LedgerError):
            continue
    raise WitnessFailed(f"its checkpoint carries no cosignature by the key {witness.key.name}")
