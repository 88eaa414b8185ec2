"""Breaks of a chain are typed: the audit's and the trace's reports cannot carry a kind nobody reads."""

from __future__ import annotations

import pytest

from ledger.chain import Break, BreakKind
from ledger.domain import FindingKind


def test_a_break_of_a_misspelt_kind_cannot_be_reported():
    with pytest.raises(ValueError):
        Break("chain_tamperd", "C", 1, "a typo")
    found = Break("sequence_gap", "C", 2, "expected seq 2")
    assert found.kind is BreakKind.SEQUENCE_GAP
    assert found.as_dict() == {"kind": "sequence_gap", "cylinder": "C", "seq": 2, "detail": "expected seq 2"}
    assert f"{found.kind}" == "sequence_gap"  # what `ledger verify` prints


def test_every_break_of_a_cylinder_or_checkpoint_is_also_a_finding_kind():
    # the risk lists and the trace count these breaks as findings of the tamper family; a log gap and what a
    # comparison with a mirror (`ledger verify --mirror`) or with the witnesses (`--witnesses`) finds are
    # reported by the audit only
    assert {k.value for k in BreakKind} - {k.value for k in FindingKind} == {
        "log_gap", "event_differs", "event_deleted", "event_inserted", "checkpoint_deleted"}
