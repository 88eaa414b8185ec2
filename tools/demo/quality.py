"""How well the ledger finds what was planted: recall and precision per finding kind.

The truth is the generator's list of plants; what was *raised* comes from one
of three places, which may be combined:

* the ``findings`` table — what the running ledger raised as events arrived
  (findings a later event explained, status ``resolved``, do not count);
* ``ledger.rules.evaluate`` replayed over every stored history as of ``now`` —
  what the rules imply, whether or not the service has run them (a sweep);
* ``ledger.verify.audit`` — the tamper kinds, which only the verifier sees.

A plant and a finding match when they name the same kind and cylinder; an
``unregistered_code`` finding has no cylinder, so it matches when its key or
note names the code. A plant whose event the ledger refused outright counts as
*prevented*, which recall counts as caught.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.custody import MemoryRegistry
from ledger.rules.config import RulesConfig
from ledger.rules.engine import evaluate
from ledger.storage import Connection
from ledger.storage import events as event_rows
from ledger.storage import registry as reg

from .config import ANOMALY_KINDS, TAMPER_KINDS

__all__ = ["Raised", "KindScore", "load_truth", "from_table", "from_rules", "from_audit", "score", "render"]


@dataclass(frozen=True, slots=True)
class Raised:
    """One finding, reduced to what matching needs."""

    kind: str
    cylinder: str | None
    key: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class KindScore:
    kind: str
    planted: int  # distinct cylinders (or codes) planted with this kind
    detected: int  # of those, raised as a finding
    prevented: int  # of those not detected, refused by the ledger
    raised: int  # distinct cylinders the ledger raised this kind for
    false: int  # of those, not planted

    @property
    def recall(self) -> float | None:
        return (self.detected + self.prevented) / self.planted if self.planted else None

    @property
    def precision(self) -> float | None:
        return (self.raised - self.false) / self.raised if self.raised else None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "planted": self.planted, "detected": self.detected,
                "prevented": self.prevented, "raised": self.raised, "false": self.false,
                "recall": self.recall, "precision": self.precision}


def load_truth(path: Path) -> list[dict[str, Any]]:
    """Plants from a truth file written by ``write_truth`` (JSON)."""
    return list(json.loads(path.read_text(encoding="utf-8"))["plants"])


def from_table(connection: Connection) -> list[Raised]:
    """Findings the ledger stored and still stands by (every status but ``resolved``)."""
    rows = connection.exec_driver_sql(
        "SELECT kind, cylinder, key, note FROM findings WHERE status <> 'resolved' ORDER BY id")
    return [Raised(kind, cylinder, key or "", note or "") for kind, cylinder, key, note in rows]


def _registry(connection: Connection) -> MemoryRegistry:
    parties, after = [], None
    while batch := reg.list_parties(connection, after=after, limit=1000):
        parties.extend(batch)
        after = batch[-1].id
    people = [person for party in parties for person in reg.people_of(connection, party.id)]
    return MemoryRegistry(parties, people)


def from_rules(connection: Connection, now: datetime, config: RulesConfig | None = None) -> list[Raised]:
    """Every finding the custody rules imply for every stored history as of ``now``."""
    registry, config = _registry(connection), config or RulesConfig()
    raised: list[Raised] = []
    history: list = []
    for event in event_rows.every_history(connection):
        if history and history[0].cylinder != event.cylinder:
            raised += _judged(history, registry, config, now)
            history = []
        history.append(event)
    raised += _judged(history, registry, config, now)
    return raised


def _judged(history: list, registry: MemoryRegistry, config: RulesConfig, now: datetime) -> list[Raised]:
    if not history or history[0].seq != 0:  # a chain without its genesis is the verifier's business
        return []
    return [Raised(f.kind.value, f.cylinder, f.key, f.note) for f in evaluate(history, registry, config, now)]


def from_audit(connection: Connection, verifier=None) -> list[Raised]:
    """The tamper kinds, as ``ledger verify`` finds them."""
    from ledger.verify import audit

    return [Raised(b.kind, b.cylinder, f"{b.kind}:{b.cylinder}:{b.seq}", b.detail)
            for b in audit(connection, verifier) if b.kind in TAMPER_KINDS]


def _names(plant: Mapping[str, Any]) -> str | None:
    return plant.get("cylinder")


def score(truth: Iterable[Mapping[str, Any]], raised: Iterable[Raised],
          kinds: Iterable[str] = (*ANOMALY_KINDS, *TAMPER_KINDS)) -> list[KindScore]:
    """Recall and precision per kind, counting distinct (kind, cylinder) pairs."""
    planted: dict[str, set[str]] = defaultdict(set)
    refused: dict[str, set[str]] = defaultdict(set)
    for plant in truth:
        code = _names(plant)
        if code is None:
            continue
        planted[plant["kind"]].add(code)
        if plant.get("outcome") == "rejected" and plant["kind"] != "unregistered_code":
            refused[plant["kind"]].add(code)
    found: dict[str, set[str]] = defaultdict(set)
    for finding in raised:
        if finding.kind == "unregistered_code" and finding.cylinder is None:
            named = [code for code in planted["unregistered_code"] if code in finding.key or code in finding.note]
            found[finding.kind].update(named or [finding.key])
        elif finding.cylinder is not None:
            found[finding.kind].add(finding.cylinder)
    scores = []
    for kind in kinds:
        hit = planted[kind] & found[kind]
        scores.append(KindScore(kind, len(planted[kind]), len(hit), len((refused[kind] & planted[kind]) - hit),
                                len(found[kind]), len(found[kind] - planted[kind])))
    return scores


def render(scores: Iterable[KindScore]) -> str:
    """A fixed-width table, one line per kind, and the totals."""
    def pct(value: float | None) -> str:
        return "   -" if value is None else f"{value * 100:3.0f}%"

    lines = [f"{'kind':<27} {'planted':>7} {'found':>6} {'refused':>7} {'raised':>6} {'false':>6} {'recall':>6} {'precision':>9}"]
    total = KindScore("all", 0, 0, 0, 0, 0)
    for s in scores:
        lines.append(f"{s.kind:<27} {s.planted:>7} {s.detected:>6} {s.prevented:>7} {s.raised:>6} {s.false:>6}"
                     f" {pct(s.recall):>6} {pct(s.precision):>9}")
        total = KindScore("all", total.planted + s.planted, total.detected + s.detected,
                          total.prevented + s.prevented, total.raised + s.raised, total.false + s.false)
    lines.append(f"{'all kinds':<27} {total.planted:>7} {total.detected:>6} {total.prevented:>7} {total.raised:>6}"
                 f" {total.false:>6} {pct(total.recall):>6} {pct(total.precision):>9}")
    return "\n".join(lines)
