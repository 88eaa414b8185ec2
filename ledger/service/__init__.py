"""Use cases of the ledger: register, record, read, prove, oversee. Never commits.

Every method takes the caller's open connection; the caller owns the
transaction: the request's dependency (``api.deps``), a named background worker
(the group writer and the ingest steps, ``ledger.ingest``; the reviewer; the
checkpoint publisher, ``ledger.publisher``; the sweeper) or a command. The
services are split by what they serve (polar's shape):

- ``registry``  — parties, people, accounts;
- ``endusers``  — end users' sealed personal data, its masked lookup, full views on record, own history;
- ``recording`` — registering cylinders, admitting and appending events;
- ``proofs``    — events as stored, inclusion and consistency proofs, bundles;
- ``oversight`` — the three questions, findings, risk lists, review and sweep;
- ``citizen``   — citizens' reports and their tracking;
- ``crossing``  — cylinders that cross city lines (docs/regions.md).

A ``Ledger`` is given its custody rules (a ``Judge``) when it is built; without
one it is the bare core: no custody checks, no findings, the same answers.
"""

from __future__ import annotations

import secrets

from ..config import Settings
from ..cosigning import Witness, read_witnesses
from ..cursor import CursorCodec
from ..keys import load_key
from ..log import SubrootCache
from ..publisher import CheckpointPublisher
from ..rules import RulesConfig
from ..safety import load as load_checklist
from ..signednote import NoteSigner, NoteVerifier
from ..storage.db import Database
from .citizen import CitizenService
from .endusers import EndUserService
from .crossing import CrossingService
from .judge import Judge, Registry
from .oversight import OversightService
from .proofs import ProofService
from .recording import RecordingService
from .registry import RegistryService
from .safety import SafetyService
from .types import Actor, Outcome, Registration, token_hash

__all__ = ["Actor", "Judge", "Ledger", "Outcome", "Registration", "Registry", "new_id", "token_hash"]

_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str, length: int = 7) -> str:
    """A fresh random id: ``prefix`` and ``length`` characters of Crockford's base32 alphabet."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class Ledger(RegistryService, EndUserService, RecordingService, ProofService, OversightService, CitizenService,
             SafetyService, CrossingService):
    """The ledger of one database, with its signing keys and its judge."""

    def __init__(self, settings: Settings, database: Database | None = None, *, judge: Judge | None = None,
                 rules: bool = True, rules_config: RulesConfig | None = None) -> None:
        """``judge``: the custody rules; by default a ``Supervisor`` with ``rules_config``.
        ``rules=False`` without a ``judge`` gives the bare core (no custody checks, no findings)."""
        self.settings = settings
        self.db = database or Database(settings.database_url)
        self.cache = SubrootCache()
        self._signer: NoteSigner | None = None
        self._label_key = None
        self._cursors: CursorCodec | None = None
        self.checklist = load_checklist(settings.safety_items_file)  # the city's 入户安检 items
        if judge is None and rules:
            from ..supervision import Supervisor

            judge = Supervisor(rules_config, self.checklist)
        self.judge: Judge | None = judge
        self._witnesses: list[Witness] | None = None
        self.publisher = CheckpointPublisher(self.db, self.cache, lambda: self.signer, settings.log_origin,
                                             interval=settings.checkpoint_interval, witnesses=lambda: self.witnesses)

    @property
    def supervisor(self) -> Judge | None:
        """The judge under its older name."""
        return self.judge

    # -- keys ------------------------------------------------------------------

    @property
    def signer(self) -> NoteSigner:
        if self._signer is None:
            self._signer = NoteSigner(self.settings.log_origin, load_key(self.settings.key_file))
        return self._signer

    @property
    def verifier(self) -> NoteVerifier:
        return self.signer.verifier

    @property
    def witnesses(self) -> list[Witness]:
        """The witnesses of ``LEDGER_WITNESSES`` (read once); ``InvalidInput`` saying what is wrong with the list."""
        if self._witnesses is None:
            self._witnesses = read_witnesses(self.settings.witnesses_file, self.settings.witness_quorum)
        return self._witnesses

    @property
    def witness_quorum(self) -> int:
        """How many cosignatures make a checkpoint witnessed: ``LEDGER_WITNESS_QUORUM``, by default every witness."""
        quorum = self.settings.witness_quorum
        return len(self.witnesses) if quorum is None else quorum

    @property
    def label_key(self):
        if self._label_key is None:
            self._label_key = load_key(self.settings.label_key_file)
        return self._label_key

    @property
    def cursors(self) -> CursorCodec:
        """The codec of every list's cursors; its key derives from the label key, which every process shares."""
        if self._cursors is None:
            self._cursors = CursorCodec.derived_from(self.label_key.private_bytes_raw())
        return self._cursors
