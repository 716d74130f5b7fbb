"""The State table against moto: records round-trip, and a write loses when another run moved the version."""

from __future__ import annotations

from datetime import UTC, datetime

from webid_canary.adapters.state_table import StateTable
from webid_canary.core.state import StateRecord, Status
from webid_canary.local.aws import LocalAws
from webid_canary.local.seed import Seeder

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(version: int, status: Status = Status.FAILING) -> StateRecord:
    return StateRecord(
        key="target#payments-api",
        status=status,
        since=T0,
        fingerprint="abc123" if status is not Status.OK else None,
        last_notified=T0,
        last_result={"root_cause": "trust_condition_mismatch", "expected": ["a"]},
        baseline=None,
        version=version,
    )


def test_records_round_trip_and_writes_are_conditional_on_the_version(aws: LocalAws, seed: Seeder) -> None:
    _, state_table = seed.tables()
    table = StateTable(aws.client("dynamodb"), state_table)
    assert table.load_all() == {}
    assert table.put(record(1), expected_version=None)
    assert not table.put(record(1), expected_version=None), "a second first write must lose"
    assert table.load_all() == {"target#payments-api": record(1)}
    assert table.put(record(2, Status.OK), expected_version=1)
    assert not table.put(record(2), expected_version=1), "a write from a stale read must lose"
    assert table.load_all()["target#payments-api"].status is Status.OK


def test_many_records_come_back_from_a_paginated_scan(aws: LocalAws, seed: Seeder) -> None:
    _, state_table = seed.tables()
    table = StateTable(aws.client("dynamodb"), state_table)
    big = {"detail": "x" * 50_000}
    for n in range(40):
        item = StateRecord(f"target#t-{n:02d}", Status.OK, T0, None, None, big, None, 1)
        assert table.put(item, expected_version=None)
    assert len(table.load_all()) == 40


def test_a_keyed_read_returns_only_those_records_across_batches(aws: LocalAws, seed: Seeder) -> None:
    _, state_table = seed.tables()
    table = StateTable(aws.client("dynamodb"), state_table)
    for n in range(130):
        assert table.put(
            StateRecord(f"target#t-{n:03d}", Status.OK, T0, None, None, {}, None, 1), expected_version=None
        )
    wanted = [f"target#t-{n:03d}" for n in range(0, 130, 2)] + ["target#never-stored"]
    found = table.load(wanted)
    assert sorted(found) == sorted(wanted[:-1]), "absent keys are left out, present ones all come back"
    assert table.load([]) == {}
