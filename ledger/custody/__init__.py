"""The custody state machine: who may record what, and who holds a cylinder when.

* ``authorize`` (``.authorize``, with the tables it reads: ``RECORDERS``,
  ``ROLE_PARTY_KINDS``, ``HOLDING_KINDS``) refuses an event that cannot be
  recorded at all; it never looks at the cylinder's state.
* ``replay`` (``.replay``) rebuilds the story in the order things happened and
  answers the three questions of CONTRACT.md as a ``Trace`` (``.trace``).

Events are named by their ``seq`` (unique within a cylinder); the service maps
seqs to event ids. docs/custody.md draws the state machine and the permission table.
"""

from __future__ import annotations

from .authorize import (
    HOLDING_KINDS, RECORDERS, ROLE_PARTY_KINDS, MemoryRegistry, Registry, authorize, own_worker, recording_roles,
)
from .replay import DEFAULT_SKEW, continues, in_time_order, replay, replay_marked
from .trace import (
    UNANNOUNCED, UNCONFIRMED, Current, CustodyInterval, Handover, HandoverEnd, Jump, LastFill, Origin, Responsibility,
    Step, Trace,
)

__all__ = [
    "Registry", "MemoryRegistry", "HOLDING_KINDS", "RECORDERS", "ROLE_PARTY_KINDS", "recording_roles", "DEFAULT_SKEW",
    "authorize", "own_worker", "in_time_order", "replay", "replay_marked", "continues",
    "Trace", "Step", "Handover", "HandoverEnd", "Jump", "CustodyInterval", "Current", "Origin", "LastFill", "Responsibility",
    "UNANNOUNCED", "UNCONFIRMED",
]
