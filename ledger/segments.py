"""Bundles of a cylinder whose chain lives in several cities' logs, checked offline with the cities' keys.

A province bundle is JSON (the provincial hub serves it, and a city serves it
of a cylinder whose chain crossed its line, ``city_bundle``; docs/regions.md)::

    {"format": "cylinder-ledger/segments/v1",
     "cylinder": "<trace code>",
     "segments": [{"origin": "<log origin>", "checkpoint": "<that log's signed note>",
                   "events": [...], "proofs": [...]}, ...]}           # in chain order

Each segment is checked as ``ledger.bundle`` checks a one-log bundle, event by
event with its ``check_event`` (content against hash, inclusion under the
segment's checkpoint, signed by the key named by the checkpoint's origin), and
the whole as one chain: seq 0, 1, 2, ... from a register, each event's
``prev_hash`` the previous event's hash across the segments, and at each
boundary the hand-off naming the next log (``data.to_log``) and the next
segment's first event naming the one before (``data.from_log``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .bundle import check_event
from .chain import BreakKind
from .errors import ChainBroken, LedgerError, ProofInvalid
from .signednote import Checkpoint, NoteVerifier, open_checkpoint

__all__ = ["FORMAT", "VerifiedSegments", "SegmentVerdict", "verify_segments", "segment_verdicts", "city_bundle"]

FORMAT = "cylinder-ledger/segments/v1"


@dataclass(frozen=True)
class VerifiedSegments:
    cylinder: str
    events: int
    logs: tuple[str, ...]  # each segment's log origin, in chain order
    head: str


def verify_segments(bundle: dict[str, Any], verifiers: Sequence[NoteVerifier]) -> VerifiedSegments:
    """Check every segment against its log's key (one of ``verifiers``, chosen by origin) and the chain across them."""
    cylinder, segments = _shape(bundle)
    keys = {verifier.name: verifier for verifier in verifiers}
    walk = _Walk(cylinder)
    for number, segment in enumerate(segments):
        walk.check(number, segment, keys)
    assert walk.previous is not None
    return VerifiedSegments(cylinder, walk.position, tuple(walk.logs), walk.previous.hex())


@dataclass(frozen=True)
class SegmentVerdict:
    """One segment judged on its own: its log (the checkpoint's origin, else what the segment says), the
    opened checkpoint if its key was given and its signature holds, and the first defect found, if any."""
    origin: str | None
    checkpoint: Checkpoint | None
    failure: LedgerError | None


def segment_verdicts(bundle: dict[str, Any], verifiers: Sequence[NoteVerifier]) -> list[SegmentVerdict]:
    """Each segment's own verdict, by ``verify_segments``' checks, so that a defect is shown where it is: a
    segment that fails does not fail the next ones, which link to the hashes it states. The bundle as a
    whole holds exactly when every verdict does (a defect of its shape raises ``ProofInvalid``)."""
    cylinder, segments = _shape(bundle)
    keys = {verifier.name: verifier for verifier in verifiers}
    walk = _Walk(cylinder)
    verdicts: list[SegmentVerdict] = []
    for number, segment in enumerate(segments):
        try:
            verdicts.append(SegmentVerdict(walk.origin_of(segment), walk.check(number, segment, keys), None))
        except ProofInvalid as error:
            verdicts.append(SegmentVerdict(walk.origin_of(segment), walk.opened, error))
            walk.skip(segment)
    return verdicts


def _shape(bundle: dict[str, Any]) -> tuple[str, list[Any]]:
    if bundle.get("format") != FORMAT:
        raise ProofInvalid(f"not a {FORMAT} bundle")
    cylinder, segments = bundle.get("cylinder"), bundle.get("segments")
    if not isinstance(cylinder, str) or not isinstance(segments, list) or not segments:
        raise ProofInvalid("the bundle needs a cylinder and a non-empty list of segments")
    return cylinder, segments


class _Walk:
    """The chain across the segments so far: the next seq, the last hash, the last segment's log and event."""

    def __init__(self, cylinder: str) -> None:
        self.cylinder = cylinder
        self.previous: bytes | None = None
        self.position, self.last_origin, self.last_event = 0, None, None
        self.logs: list[str] = []
        self.opened: Checkpoint | None = None
        self.start = 0

    @staticmethod
    def origin_of(segment: Any) -> str | None:
        note = segment.get("checkpoint") if isinstance(segment, dict) else None
        if isinstance(note, str):
            return note.split("\n", 1)[0]
        origin = segment.get("origin") if isinstance(segment, dict) else None
        return origin if isinstance(origin, str) else None

    def broken(self, message: str, seq: int, kind: BreakKind = BreakKind.CHAIN_TAMPERED) -> ChainBroken:
        return ChainBroken(message, cylinder=self.cylinder, seq=seq, kind=kind)

    def check(self, number: int, segment: Any, keys: dict[str, NoteVerifier]) -> Checkpoint:
        """Check segment ``number`` and go on past it; returns its opened checkpoint."""
        self.opened, self.start = None, self.position
        if not isinstance(segment, dict):
            raise ProofInvalid(f"segment {number} is not an object")
        events, proofs, note = segment.get("events"), segment.get("proofs"), segment.get("checkpoint")
        if not isinstance(events, list) or not isinstance(proofs, list) or not events or len(events) != len(proofs):
            raise ProofInvalid(f"segment {number} needs as many proofs as events, and at least one event")
        if not isinstance(note, str):
            raise ProofInvalid(f"segment {number} carries no signed checkpoint")
        origin = note.split("\n", 1)[0]
        verifier = keys.get(origin)
        if verifier is None:
            raise ProofInvalid(f"segment {number} lives in the log {origin}, and no key of it was given")
        checkpoint = self.opened = open_checkpoint(verifier, note)
        if segment.get("origin") not in (None, origin):
            raise ProofInvalid(f"segment {number} says it lives in {segment.get('origin')}, its checkpoint is {origin}'s")
        position, last_origin, last_event = self.position, self.last_origin, self.last_event
        if last_origin is not None:
            if last_origin == origin:
                raise ProofInvalid(f"segments {number - 1} and {number} are in the same log: they are one segment")
            if not isinstance(last_event, dict) or not isinstance(last_event.get("data"), dict) \
                    or last_event["data"].get("to_log") != origin:
                raise self.broken(f"seq {position - 1} in {last_origin} does not hand the cylinder to {origin}",
                                  position - 1)
            if not isinstance(events[0], dict) or not isinstance(events[0].get("data"), dict) \
                    or events[0]["data"].get("from_log") != last_origin:
                raise self.broken(f"seq {position} in {origin} does not say it comes from {last_origin}", position)
        for event, proof in zip(events, proofs):
            self.previous = check_event(event, proof, self.cylinder, self.position, self.previous, checkpoint, origin)
            self.position, self.last_event = self.position + 1, event
        self.last_origin = origin
        self.logs.append(origin)
        return checkpoint

    def skip(self, segment: Any) -> None:
        """Go on past a segment that failed as if it held what it states: its events' count, its last event's
        stated hash, its log; so the next segment is judged on its own."""
        events = segment.get("events") if isinstance(segment, dict) else None
        events = events if isinstance(events, list) else []
        self.position = self.start + len(events)
        last = events[-1] if events and isinstance(events[-1], dict) else None
        stated = last.get("hash") if last else None
        try:
            self.previous = bytes.fromhex(stated) if isinstance(stated, str) else None
        except ValueError:
            self.previous = None
        self.last_event = last
        self.last_origin = self.origin_of(segment)


def city_bundle(own: dict[str, Any], kept: Sequence[tuple[dict[str, Any], str]],
                verified: Sequence[tuple[str, int, str, Mapping[int, tuple[int, Sequence[str]]]]]) -> dict[str, Any] | None:
    """A city's bundle of a cylinder whose chain crossed its line, in this format.

    ``own``: the city's one-log bundle of the cylinder (``ledger.bundle``); ``kept``: the other cities'
    events it verified and kept, each as event JSON with its log's origin; ``verified``: each verification
    of such a segment as ``(log, tree size, signed checkpoint, {seq: (log_index, audit path)})``, the
    newest of each log first. Each run of the chain in another log gets the newest checkpoint whose proofs
    cover all of it. None when some run has none (events kept before their proofs were).
    """
    chain = sorted([(e["seq"], None, e, p) for e, p in zip(own["events"], own["proofs"])]
                   + [(e["seq"], log, e, None) for e, log in kept], key=lambda item: item[0])
    runs: list[list[tuple]] = []
    for item in chain:
        if runs and runs[-1][0][1] == item[1]:
            runs[-1].append(item)
        else:
            runs.append([item])
    segments = []
    for run in runs:
        log = run[0][1]
        if log is None:
            note = own["checkpoint"]
            segments.append({"origin": note.split("\n", 1)[0], "checkpoint": note,
                             "events": [e for _, _, e, _ in run], "proofs": [p for _, _, _, p in run]})
            continue
        seqs = [seq for seq, _, _, _ in run]
        found = next(((size, note, proofs) for origin, size, note, proofs in verified
                      if origin == log and all(seq in proofs for seq in seqs)), None)
        if found is None:
            return None
        size, note, proofs = found
        segments.append({"origin": log, "checkpoint": note, "events": [e for _, _, e, _ in run],
                         "proofs": [{"log_index": proofs[seq][0], "tree_size": size, "audit_path": list(proofs[seq][1])}
                                    for seq in seqs]})
    return {"format": FORMAT, "cylinder": own["cylinder"], "segments": segments,
            "disputed": own.get("disputed", False), "disputes": own.get("disputes", [])}
