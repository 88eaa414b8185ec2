"""Self-contained proof bundles: a cylinder's history that anyone can check offline.

A bundle is JSON::

    {"format": "cylinder-ledger/bundle/v1",
     "cylinder": "<trace code>",
     "checkpoint": "<signed note: origin, tree size, root>",
     "events": [<event JSON as the API returns it>, ...],            # seq 0, 1, 2, ...
     "proofs": [{"log_index": i, "tree_size": n, "audit_path": [hex, ...]}, ...]}

``verify_bundle`` checks it in numbered steps with nothing but the log's
verifier key, raising ``ProofInvalid`` with the first defect it meets; a defect
of the chain itself (steps 3 and 4) is a ``ChainBroken`` naming the cylinder,
the seq where the chain breaks and how (``chain.BreakKind``).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .chain import BreakKind
from .cosigning import Cosignature, WitnessKey, verify_cosignatures
from .errors import ChainBroken, ProofInvalid
from .proofs import leaf_hash, verify_inclusion
from .signednote import Checkpoint, NoteVerifier, open_checkpoint
from .wire import hash_of_json

__all__ = ["FORMAT", "MAX_BUNDLE_BYTES", "VerifiedBundle", "verify_bundle", "load_bundle", "check_event"]

FORMAT = "cylinder-ledger/bundle/v1"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class VerifiedBundle:
    cylinder: str
    events: int
    checkpoint: Checkpoint
    head: str
    cosignatures: tuple[Cosignature, ...] = ()


def load_bundle(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BUNDLE_BYTES:
        raise ProofInvalid("the bundle is larger than 64 MiB")
    try:
        bundle = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProofInvalid(f"the bundle is not JSON: {exc}") from None
    if not isinstance(bundle, dict):
        raise ProofInvalid("the bundle is not a JSON object")
    return bundle


def _hex32(value: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise ProofInvalid(f"{what} is not hexadecimal") from None
    if len(raw) != 32 or value != raw.hex():
        raise ProofInvalid(f"{what} is not 32 bytes of lowercase hex")
    return raw


def verify_bundle(bundle: dict[str, Any], verifier: NoteVerifier, witnesses: Sequence[WitnessKey] = (),
                  quorum: int | None = None) -> VerifiedBundle:
    """Check ``bundle`` against the log's key and, given ``witnesses``, for ``quorum`` of their cosignatures
    on its checkpoint (default: all of them)."""
    # 1. The shape.
    if bundle.get("format") != FORMAT:
        raise ProofInvalid(f"not a {FORMAT} bundle")
    events, proofs, cylinder = bundle.get("events"), bundle.get("proofs"), bundle.get("cylinder")
    if not isinstance(events, list) or not isinstance(proofs, list) or not events:
        raise ProofInvalid("the bundle needs a non-empty list of events and a list of proofs")
    if len(events) != len(proofs):
        raise ProofInvalid("the bundle has a different number of events and proofs")
    note = bundle.get("checkpoint")
    if not isinstance(note, str):
        raise ProofInvalid("the bundle carries no signed checkpoint")

    # 2. The checkpoint is signed by the log's key.
    checkpoint = open_checkpoint(verifier, note)
    # 2b. Witnesses vouch for it: a quorum of their cosignatures (c2sp.org/tlog-cosignature).
    cosignatures = tuple(verify_cosignatures(note, witnesses, quorum)) if witnesses or quorum else ()

    name = cylinder if isinstance(cylinder, str) else None
    previous: bytes | None = None
    for position, (event, proof) in enumerate(zip(events, proofs)):
        previous = check_event(event, proof, name, position, previous, checkpoint)
    return VerifiedBundle(cylinder, len(events), checkpoint, previous.hex(), cosignatures)


def check_event(event: Any, proof: Any, cylinder: str | None, position: int, previous: bytes | None,
                checkpoint: Checkpoint, log: str | None = None) -> bytes:
    """Steps 3 to 5 for the event at ``position`` of a chain (its seq), ``previous`` the hash of the event
    before it (None for seq 0), ``checkpoint`` the opened checkpoint of the log holding it (named ``log``
    in messages, if given); returns the event's hash."""
    if not isinstance(event, dict) or not isinstance(proof, dict):
        raise ProofInvalid(f"event {position} or its proof is not an object")
    where = f"event seq {event.get('seq')!r}" + (f" in {log}" if log else "")

    def broken(message: str, kind: BreakKind = BreakKind.CHAIN_TAMPERED) -> ChainBroken:
        return ChainBroken(message, cylinder=cylinder, seq=position, kind=kind)

    # 3. The chain: one cylinder, seq 0, 1, 2, ..., register first, each linked to the last.
    if event.get("cylinder") != cylinder:
        raise broken(f"{where} belongs to another cylinder")
    if event.get("seq") != position or isinstance(event.get("seq"), bool):
        raise broken(f"{where}: expected seq {position} (an event is missing or out of order)", BreakKind.SEQUENCE_GAP)
    if position == 0 and event.get("kind") != "register":
        raise broken("the chain does not start with a register event")
    stated_prev = event.get("prev_hash")
    if position == 0:
        if stated_prev is not None:
            raise broken("the register event must have no prev_hash")
    elif previous is None or not hmac.compare_digest(_hex32(stated_prev, f"{where} prev_hash"), previous):
        raise broken(f"{where}: prev_hash does not match the previous event's hash")

    # 4. The event's content matches its hash.
    stated = _hex32(event.get("hash"), f"{where} hash")
    if not hmac.compare_digest(hash_of_json(event), stated):
        raise broken(f"{where} was altered: its content does not match its hash")

    # 5. The event is in the log the checkpoint signs.
    index, size, path = proof.get("log_index"), proof.get("tree_size"), proof.get("audit_path")
    if index != event.get("log_index") or not isinstance(index, int) or isinstance(index, bool):
        raise ProofInvalid(f"{where}: the proof is for another log position")
    if size != checkpoint.size:
        raise ProofInvalid(f"{where}: the proof is against tree size {size}, the checkpoint has {checkpoint.size}")
    if not isinstance(path, list) or len(path) > 64:
        raise ProofInvalid(f"{where}: the audit path is malformed")
    hashes = [_hex32(node, f"{where} audit path") for node in path]
    try:
        verify_inclusion(leaf_hash(stated), index, size, hashes, checkpoint.root)
    except ProofInvalid as exc:
        raise ProofInvalid(f"{where}: {exc}") from None
    return stated
