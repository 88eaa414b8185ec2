"""The one error tree of the ledger.

Every failure the ledger reports on purpose is a ``LedgerError``; anything else
is a bug. The HTTP layer maps each branch to one status code in one place.

    LedgerError
    ├── InvalidInput            bad or absurd input; nothing was written      (422)
    ├── NotFound                no such cylinder, event, party, ...           (404)
    │   └── Archived             what is asked lies in an archived block of the log
    ├── PermissionDenied        the acting account may not do this            (403)
    ├── Conflict                the request contradicts what is stored        (409)
    │   ├── IdempotencyConflict  same idempotency key, different content
    │   ├── HeldElsewhere        the cylinder is held by another city's ledger
    │   └── SegmentRefused       another city's segment of a chain does not verify
    ├── PeerUnavailable         another city's ledger cannot be reached now   (503)
    ├── Rejected                a custody rule refuses the event outright     (422)
    ├── RateLimited             too many of these from one place; try later   (429)
    └── IntegrityError          the stored ledger fails a cryptographic check
        ├── CheckpointMismatch   the log disagrees with a signed checkpoint
        └── ProofInvalid         a proof, bundle or signature does not verify
            └── ChainBroken      a bundle's chain breaks: an event's hash, link or seq is wrong
"""

from __future__ import annotations

__all__ = [
    "LedgerError",
    "InvalidInput",
    "NotFound",
    "Archived",
    "PermissionDenied",
    "Conflict",
    "IdempotencyConflict",
    "HeldElsewhere",
    "SegmentRefused",
    "PeerUnavailable",
    "Rejected",
    "IntegrityError",
    "CheckpointMismatch",
    "RateLimited",
    "Unavailable",
    "ProofInvalid",
    "ChainBroken",
]


class LedgerError(Exception):
    """Root of every deliberate ledger failure.

    ``code`` is a stable machine-readable slug (used as the problem ``type``);
    the message is a sentence a driver's app can show as it is.
    """

    code = "ledger-error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(LedgerError):
    code = "invalid-input"


class NotFound(LedgerError):
    code = "not-found"


class Archived(NotFound):
    """The events asked for were archived with their partition (docs/scale.md, "Partitioning and archival")."""

    code = "archived"


class PermissionDenied(LedgerError):
    code = "forbidden"


class Conflict(LedgerError):
    code = "conflict"


class RateLimited(LedgerError):
    """Too many requests of one kind from one account, address or phone, or about one thing, in a window;
    ``retry_after`` says in how many seconds to try again."""

    code = "too-many-requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Unavailable(LedgerError):
    """A part of the service the operator has not configured (e.g. no gateway for one-time codes)."""

    code = "unavailable"


class IdempotencyConflict(Conflict):
    code = "idempotency-conflict"


class HeldElsewhere(Conflict):
    """The cylinder was handed to a party of another city and has not come back (docs/regions.md)."""

    code = "held-elsewhere"


class SegmentRefused(Conflict):
    """Another city's segment of a cylinder's chain does not verify with its log key, or contradicts
    what was verified before; nothing was written."""

    code = "segment-refused"


class PeerUnavailable(LedgerError):
    """Another city's ledger could not be asked now; nothing was written, send it again later."""

    code = "peer-unavailable"


class Rejected(LedgerError):
    code = "rejected"


class IntegrityError(LedgerError):
    code = "integrity"


class CheckpointMismatch(IntegrityError):
    code = "checkpoint-mismatch"


class ProofInvalid(IntegrityError):
    code = "proof-invalid"


class ChainBroken(ProofInvalid):
    """The chain a verifier was given breaks at ``cylinder``/``seq``; ``kind`` (a ``chain.BreakKind``
    value) names how. Raised by ``bundle.verify_bundle``; the stored chains' breaks are findings,
    reported as data by the audit and the trace, never raised."""

    code = "chain-broken"

    def __init__(self, message: str, *, cylinder: str | None, seq: int | None, kind: str) -> None:
        super().__init__(message)
        self.cylinder = cylinder
        self.seq = seq
        self.kind = kind
