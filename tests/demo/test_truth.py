"""Every finding kind is planted, written down, and found again by the ledger."""

from __future__ import annotations

import csv

import pytest
import sqlalchemy as sa

from tools.demo import ANOMALY_KINDS, TAMPER_KINDS, quality, write_truth
from ledger.verify import audit
from tests.demo.conftest import TOWN, build_town


def test_every_kind_is_planted_and_points_at_its_events(planted_town):
    build = planted_town.build
    assert build.missed == {}
    kinds = {plant.kind for plant in build.truth}
    assert kinds == set(ANOMALY_KINDS)
    for plant in build.truth:
        assert plant.code, plant
        if plant.kind == "unregistered_code":  # the ledger refuses a code it never issued
            assert plant.outcome == "rejected" and "unregistered" in plant.reason
            assert plant.events == []
        else:
            assert plant.outcome == "created" and plant.events, plant
    assert build.rejections == []  # nothing else was refused


def test_a_zero_rate_plants_nothing(clean_town):
    assert clean_town.build.truth == [] and clean_town.build.missed == {}


def test_the_ledger_finds_every_planted_kind_and_nothing_else(planted_town):
    truth = [plant.as_dict() for plant in planted_town.build.truth]
    with planted_town.ledger.db.reading() as connection:
        stored = quality.from_table(connection)
        replayed = quality.from_rules(connection, TOWN.now)
    for raised in (stored, replayed + [f for f in stored if f.kind == "unregistered_code"]):
        scores = {s.kind: s for s in quality.score(truth, raised, ANOMALY_KINDS)}
        misses = {k: (s.recall, s.precision) for k, s in scores.items() if (s.recall, s.precision) != (1.0, 1.0)}
        assert misses == {}


def test_the_truth_file_round_trips_as_json_and_reads_as_csv(planted_town, tmp_path):
    build = planted_town.build
    write_truth(tmp_path / "truth.json", build.truth, build.meta())
    assert quality.load_truth(tmp_path / "truth.json") == [plant.as_dict() for plant in build.truth]
    write_truth(tmp_path / "truth.csv", build.truth, build.meta())
    with (tmp_path / "truth.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["kind"], row["cylinder"]) for row in rows] == [(p.kind, p.code) for p in build.truth]


def test_tampering_is_planted_only_on_request_and_only_the_verifier_sees_it(tmp_path):
    built = build_town(tmp_path, TOWN.with_(anomaly_rate=0.0, tamper=True))
    ledger = built.ledger
    try:
        tampered = built.build.tampered
        assert {p.kind for p in tampered} == set(TAMPER_KINDS)
        with ledger.db.reading() as connection:
            breaks = list(audit(connection, ledger.verifier))
            raised = quality.from_audit(connection, ledger.verifier)
        assert {(b.kind, b.cylinder) for b in breaks if b.kind in TAMPER_KINDS} == {(p.kind, p.code) for p in tampered}
        scores = quality.score([p.as_dict() for p in tampered], raised, TAMPER_KINDS)
        assert all(s.recall == 1.0 and s.precision == 1.0 for s in scores)
        with pytest.raises(sa.exc.DBAPIError), ledger.db.writing() as connection:
            connection.exec_driver_sql("DELETE FROM events WHERE id = 0")  # append-only again
    finally:
        ledger.db.dispose()
