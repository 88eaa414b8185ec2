"""Watching the write path: what went through the one ingest use case, and where each write
transaction began (the module that called ``Database.writing``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ledger.service import Ledger
from ledger.storage.db import Database


@dataclass
class Ingested:
    submissions: list
    judge: bool  # judged by the use case: in the call, or by ``judge_ingested`` right after it (the group writer)
    results: list


@dataclass
class Watched:
    calls: list[Ingested] = field(default_factory=list)
    writers: list[str] = field(default_factory=list)  # per write transaction, the module that began it

    def created(self) -> list:
        """The events the use case created, in order."""
        return [outcome.event for call in self.calls for result in call.results
                if not isinstance(result, BaseException) for outcome in result if outcome.status == "created"]

    def only_ingest_wrote(self, *others: str) -> bool:
        """Every write transaction (but ``others``') began in the ingest use case: its own, and on PostgreSQL
        the sequencer's short one right after it that gives the committed events their log positions."""
        began = self.began_in(*others)
        return "ledger.ingest" in began and began <= {"ledger.ingest", "ledger.sequencer"}

    def began_in(self, *others: str) -> set[str]:
        """The modules that began write transactions, leaving out ``others`` (the process's other workers)."""
        return {module for module in self.writers if module not in others}


def watch_write_path(monkeypatch) -> Watched:
    """Spy on ``Ledger.ingest``, ``Ledger.judge_ingested`` and ``Database.writing``; all still do their real work."""
    watched = Watched()
    ingest, judge_ingested, writing = Ledger.ingest, Ledger.judge_ingested, Database.writing

    def spied_ingest(self, submissions, now=None, *, judge=True):
        results = ingest(self, submissions, now, judge=judge)
        watched.calls.append(Ingested(list(submissions), judge, results))
        return results

    def spied_judge(self, submissions, results, now):
        judged = judge_ingested(self, submissions, results, now)
        for call in watched.calls:
            if len(call.submissions) == len(submissions) and all(
                    a is b for a, b in zip(call.submissions, submissions)):
                call.judge, call.results = True, judged
        return judged

    def spied_writing(self):
        watched.writers.append(sys._getframe(1).f_globals["__name__"])
        return writing(self)

    monkeypatch.setattr(Ledger, "ingest", spied_ingest)
    monkeypatch.setattr(Ledger, "judge_ingested", spied_judge)
    monkeypatch.setattr(Database, "writing", spied_writing)
    return watched
