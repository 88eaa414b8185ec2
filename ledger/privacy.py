"""Personal data and the chain: what may enter it.

The chain is append-only and served to every party, so nothing in it can ever be
erased. Two rules keep personal data out of it:

1. an end user is named only by the opaque ref ``POST /v1/end-users`` issued; their
   name, phone and address live in ``end_users`` (``check_end_user``);
2. each kind's data is a closed set of keys (``ledger.domain.check_event_data``).
"""

from __future__ import annotations

from .domain import EventKind, NewEvent
from .errors import InvalidInput

__all__ = ["TO_END_USER", "check_end_user"]

# The exchanges with an end user: `to` names one only by the opaque ref a shop registered.
TO_END_USER = frozenset({EventKind.DELIVER, EventKind.COLLECT})


def check_end_user(item: NewEvent, known: set[str]) -> None:
    """Refuse a deliver or collect whose ``to`` is not a registered end-user ref (any shop's: a user may
    buy from several). A name or phone number there would be hashed into the chain for good."""
    if item.to is None:
        if item.kind is EventKind.DELIVER:
            raise InvalidInput("a delivery must name the end user in `to` by the ref POST /v1/end-users "
                               "returned (real-name purchase)", field="to")
    elif item.to not in known:
        # the value is not echoed: it may be the very name and phone number the ref keeps out of the chain
        raise InvalidInput("`to` must be the ref of a registered end user (POST /v1/end-users), never a name "
                           "or phone number", field="to")
