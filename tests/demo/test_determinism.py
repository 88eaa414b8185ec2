"""One seed, one city: the same events, times and hashes on every build."""

from __future__ import annotations

from ledger import service, tracecode
from tests.demo.conftest import SEED, TOWN, build_town


def test_the_same_seed_builds_the_same_ledger_byte_for_byte(clean_town, tmp_path):
    again = build_town(tmp_path, TOWN.with_(anomaly_rate=0.0), SEED)
    try:
        first, second = clean_town.rows(), again.rows()
        assert len(first) > 3000
        assert first == second  # ids, times, parties, data, keys, prev_hash and hash
        assert again.build.showcase() == clean_town.build.showcase()
    finally:
        again.ledger.db.dispose()


def test_another_seed_builds_another_city(clean_town, tmp_path):
    other = build_town(tmp_path, TOWN.with_(anomaly_rate=0.0), SEED + 1)
    try:
        theirs = {row[-1] for row in other.rows()}
        ours = {row[-1] for row in clean_town.rows()}
        assert not theirs & ours  # not one event hash in common
    finally:
        other.ledger.db.dispose()


def test_the_planted_truth_is_the_same_for_the_same_seed(planted_town, tmp_path):
    again = build_town(tmp_path, planted_town.build.config, SEED)
    try:
        ours = [p.as_dict() for p in planted_town.build.truth]
        assert [p.as_dict() for p in again.build.truth] == ours
    finally:
        again.ledger.db.dispose()


def test_production_identifiers_are_random_again_after_a_build(clean_town):
    # The build draws codes and ids from its seed only while it runs.
    assert service.new_id.__module__ == "ledger.service"
    assert tracecode.generate.__module__ == "ledger.tracecode"
    assert len({tracecode.generate() for _ in range(50)}) == 50
