"""The organization cycle's metrics as EMF: once per cycle, the heartbeat only when complete, Account only where
asked."""

from __future__ import annotations

import pytest
from aws_lambda_powertools import Metrics

from webid_canary import names
from webid_canary.adapters.metrics import EmfMetrics
from webid_canary.app.ports import FleetCounts
from webid_canary.local.alarms import parse_emf


def published(counts: FleetCounts, capsys: pytest.CaptureFixture[str]) -> dict[tuple[str, str | None], float]:
    metrics = Metrics(namespace=names.METRIC_NAMESPACE, service="fleet-test")
    EmfMetrics(metrics).publish_fleet(counts)
    metrics.flush_metrics()
    points = parse_emf(capsys.readouterr().out.splitlines())
    return {(p.name, p.dimensions.get(names.DIMENSION_ACCOUNT)): p.value for p in points}


def counts(*, completed: bool, shards_failed: int = 0) -> FleetCounts:
    return FleetCounts(
        targets=10,
        failing=2,
        in_error=3,
        open=1,
        drifting=1,
        duration_seconds=42.0,
        shards_failed=shards_failed,
        completed=completed,
        by_account={"111111111111": {"ok": 4, "failing": 1}},
    )


def test_a_complete_cycle_sends_the_fleet_counts_the_heartbeat_and_the_asked_accounts_series(
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = published(counts(completed=True), capsys)

    assert values[(names.METRIC_TARGETS_PROBED, None)] == 10
    assert values[(names.METRIC_TARGETS_IN_ERROR, None)] == 3
    assert values[(names.METRIC_SHARDS_FAILED, None)] == 0
    assert values[(names.METRIC_CYCLE_COMPLETED, None)] == 1
    assert values[(names.METRIC_TARGETS_PROBED, "111111111111")] == 5
    assert values[(names.METRIC_TARGETS_FAILING, "111111111111")] == 1
    assert {account for _, account in values if account} == {"111111111111"}


def test_a_cycle_with_a_failed_shard_sends_no_heartbeat(capsys: pytest.CaptureFixture[str]) -> None:
    values = published(counts(completed=False, shards_failed=1), capsys)

    assert values[(names.METRIC_SHARDS_FAILED, None)] == 1
    assert (names.METRIC_CYCLE_COMPLETED, None) not in values
