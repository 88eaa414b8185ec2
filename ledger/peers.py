"""The other cities' ledgers a city deals with (``LEDGER_PEERS``), as PROVINCE wire format names them.

One peer a line: ``<name> <url> <log verifier key>``; the key is in signed-note
vkey form and its name is the peer's log origin (docs/regions.md). Blank lines
and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cosigning import listed_lines
from .errors import InvalidInput
from .signednote import NoteVerifier

__all__ = ["Peer", "Peers", "parse_peers", "read_peers"]


@dataclass(frozen=True)
class Peer:
    name: str
    url: str
    verifier: NoteVerifier

    @property
    def origin(self) -> str:
        """The peer's log origin: its verifier key's name."""
        return self.verifier.name


@dataclass(frozen=True)
class Peers:
    """The listed peers, found by name or by log origin."""

    listed: tuple[Peer, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.listed)

    def __iter__(self):
        return iter(self.listed)

    def named(self, name: str | None) -> Peer | None:
        return next((peer for peer in self.listed if peer.name == name), None)

    def of_log(self, origin: str | None) -> Peer | None:
        return next((peer for peer in self.listed if peer.origin == origin), None)


def parse_peers(text: str, source: str = "the peers file", own_origin: str | None = None) -> Peers:
    peers: list[Peer] = []
    for number, name, url, verifier in listed_lines(text, source, "peer", "log verifier key", 64,
                                                    NoteVerifier.from_vkey):
        if any(p.name == name or p.origin == verifier.name for p in peers):
            raise InvalidInput(f"{source} line {number}: the peer {name} or its log is listed twice")
        if own_origin is not None and verifier.name == own_origin:
            raise InvalidInput(f"{source} line {number}: {name}'s log is this ledger's own log ({own_origin})")
        peers.append(Peer(name, url, verifier))
    return Peers(tuple(peers))


def read_peers(path: Path | None, own_origin: str | None = None) -> Peers:
    if path is None:
        return Peers()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the peers file {path}: {exc}") from None
    return parse_peers(text, f"LEDGER_PEERS ({path})", own_origin)
