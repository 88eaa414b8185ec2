"""What can go wrong on the driver's side, as branches of the ledger's one error tree.

Every message is a short sentence a driver can read as it is::

    LedgerError
    ├── InvalidInput
    │   ├── TraceCodeError (ledger.tracecode)    a typed code is malformed or mistyped
    │   ├── UnreadableScan                       what was scanned is not a cylinder label
    │   │   ├── ScanTooLong                      more text than any label holds
    │   │   ├── ControlCharacters                invisible control or format characters
    │   │   ├── UnknownFormat                    another system's code (payment, GS1, text)
    │   │   └── TruncatedLabel                   our label's URL, cut short
    │   ├── UnreadableImage                      a photo that cannot be used
    │   │   ├── NotAnImage                       the bytes are no PNG/JPEG/... image
    │   │   ├── EmptyImage                       no bytes, or zero pixels
    │   │   └── ImageTooLarge                    more pixels than the cap
    │   └── ScanNotEditable                      a scan that may already be on the server
    ├── NotFound
    │   └── ScanNotFound                         no such scan in the outbox
    ├── PermissionDenied
    │   └── ServerRefusedToken                   401/403 from the server
    ├── IntegrityError
    │   └── ProofInvalid
    │       └── ForgedLabel                      signature or code does not verify
    └── SyncFailed                               the server could not be reached or answered nonsense
"""

from __future__ import annotations

from ledger.errors import InvalidInput, LedgerError, NotFound, PermissionDenied, ProofInvalid

__all__ = [
    "UnreadableScan",
    "ScanTooLong",
    "ControlCharacters",
    "UnknownFormat",
    "TruncatedLabel",
    "ForgedLabel",
    "UnreadableImage",
    "NotAnImage",
    "EmptyImage",
    "ImageTooLarge",
    "ScanNotEditable",
    "ScanNotFound",
    "ServerRefusedToken",
    "SyncFailed",
]


class UnreadableScan(InvalidInput):
    code = "unreadable-scan"


class ScanTooLong(UnreadableScan):
    code = "scan-too-long"


class ControlCharacters(UnreadableScan):
    code = "scan-control-characters"


class UnknownFormat(UnreadableScan):
    code = "scan-unknown-format"


class TruncatedLabel(UnreadableScan):
    code = "scan-truncated"


class ForgedLabel(ProofInvalid):
    """The label is ours in shape but its signature or code does not verify: do not trust it."""

    code = "forged-label"


class UnreadableImage(InvalidInput):
    code = "unreadable-image"


class NotAnImage(UnreadableImage):
    code = "not-an-image"


class EmptyImage(UnreadableImage):
    code = "empty-image"


class ImageTooLarge(UnreadableImage):
    code = "image-too-large"


class ScanNotEditable(InvalidInput):
    code = "scan-not-editable"


class ScanNotFound(NotFound):
    code = "scan-not-found"


class ServerRefusedToken(PermissionDenied):
    code = "server-refused-token"


class SyncFailed(LedgerError):
    """The sync stopped early; every scan not yet answered is still pending in the outbox."""

    code = "sync-failed"
