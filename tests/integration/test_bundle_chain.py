"""A bundle whose chain breaks is refused with the exact place it breaks, not only a sentence."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from ledger.bundle import verify_bundle
from ledger.chain import BreakKind
from ledger.errors import ChainBroken, ProofInvalid
from tests.conftest import NOW, build_town, fill, register


@pytest.fixture
def bundle(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(hours=h)) for h in (1, 2, 3)],
                            now=NOW + timedelta(hours=4))
    return ledger.bundle(a)


def _broken(bundle, verifier, change) -> ChainBroken:
    altered = copy.deepcopy(bundle)
    change(altered)
    with pytest.raises(ChainBroken) as raised:
        verify_bundle(altered, verifier)
    assert isinstance(raised.value, ProofInvalid)  # callers that only ask "does it verify" still hear no
    return raised.value


@pytest.mark.parametrize(("attack", "seq", "kind"), [
    (lambda b: b["events"][2]["data"].update(net_kg=9.5), 2, BreakKind.CHAIN_TAMPERED),
    (lambda b: (b["events"].pop(2), b["proofs"].pop(2)), 2, BreakKind.SEQUENCE_GAP),
    (lambda b: b["events"][3].update(prev_hash=b["events"][1]["hash"]), 3, BreakKind.CHAIN_TAMPERED),
    (lambda b: b["events"][0].update(kind="fill"), 0, BreakKind.CHAIN_TAMPERED),
])
def test_a_cut_or_edited_event_in_a_bundle_is_named_by_cylinder_seq_and_kind(ledger, bundle, attack, seq, kind):
    error = _broken(bundle, ledger.verifier, attack)
    assert (error.cylinder, error.seq, error.kind) == (bundle["cylinder"], seq, kind)
    assert error.code == "chain-broken"


def test_a_bundle_that_is_not_a_chain_problem_stays_a_plain_proof_failure(ledger, bundle):
    altered = copy.deepcopy(bundle)
    altered["proofs"].reverse()
    with pytest.raises(ProofInvalid) as raised:
        verify_bundle(altered, ledger.verifier)
    assert not isinstance(raised.value, ChainBroken)
