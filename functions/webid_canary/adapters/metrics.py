"""CloudWatch metrics through Powertools EMF: fleet counts, the heartbeat, and a few bounded per-subject series."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.metrics import Metrics

from webid_canary import names
from webid_canary.app.ports import FleetCounts
from webid_canary.core.report import CycleReport
from webid_canary.core.state import Status


class EmfMetrics:
    """The metrics port over a Powertools Metrics object (flushed by its `log_metrics` decorator)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def publish_cycle(self, report: CycleReport, *, deadline_headroom_seconds: float | None = None) -> None:
        publish_cycle(self._metrics, report, deadline_headroom_seconds=deadline_headroom_seconds)

    def publish_fleet(self, counts: FleetCounts) -> None:
        publish_fleet(self._metrics, counts)

    def publish_alarmed_targets(self, report: CycleReport) -> None:
        publish_alarmed_targets(self._metrics, report)


def publish_cycle(metrics: Metrics, report: CycleReport, *, deadline_headroom_seconds: float | None = None) -> None:
    """Add the cycle's metrics. Targets get their own series only with `alarm: true` (each one is billed)."""
    metrics.add_metric(names.METRIC_TARGETS_PROBED, MetricUnit.Count, len(report.targets))
    metrics.add_metric(names.METRIC_TARGETS_FAILING, MetricUnit.Count, report.count(Status.FAILING))
    metrics.add_metric(names.METRIC_TARGETS_IN_ERROR, MetricUnit.Count, report.count(Status.ERROR))
    metrics.add_metric(names.METRIC_TARGETS_OPEN, MetricUnit.Count, report.count(Status.OPEN))
    metrics.add_metric(names.METRIC_PROVIDER_DRIFTS, MetricUnit.Count, report.drifting)
    metrics.add_metric(names.METRIC_CYCLE_DURATION, MetricUnit.Seconds, report.duration_seconds)
    metrics.add_metric(names.METRIC_CYCLE_COMPLETED, MetricUnit.Count, 1)
    if deadline_headroom_seconds is not None:
        metrics.add_metric(names.METRIC_CYCLE_DEADLINE_HEADROOM, MetricUnit.Seconds, deadline_headroom_seconds)
    publish_alarmed_targets(metrics, report)
    namespace = metrics.namespace or names.METRIC_NAMESPACE
    service = metrics.service or names.SERVICE_NAME
    for provider in report.providers:
        with single_metric(
            name=names.METRIC_PROVIDER_DRIFTING,
            unit=MetricUnit.Count,
            value=1 if provider.status is Status.DRIFT else 0,
            namespace=namespace,
            default_dimensions={"service": service},
        ) as metric:
            metric.add_dimension(names.DIMENSION_PROVIDER, provider.url[:250])


def publish_alarmed_targets(metrics: Metrics, report: CycleReport) -> None:
    """TargetFailing (dimension Target) for the targets with `alarm: true` only: each series is billed."""
    namespace = metrics.namespace or names.METRIC_NAMESPACE
    service = metrics.service or names.SERVICE_NAME
    for target in report.targets:
        if not target.alarm:
            continue
        failing = 0 if target.status is Status.OK else 1
        with single_metric(
            name=names.METRIC_TARGET_FAILING,
            unit=MetricUnit.Count,
            value=failing,
            namespace=namespace,
            default_dimensions={"service": service},
        ) as metric:
            metric.add_dimension(names.DIMENSION_TARGET, target.target_id)


def publish_fleet(metrics: Metrics, counts: FleetCounts) -> None:
    """An organization cycle's metrics, once per cycle: the fleet counts, ShardsFailed, the heartbeat only when
    every shard answered, and per-account counts (dimension Account) only for the accounts asked for."""
    metrics.add_metric(names.METRIC_TARGETS_PROBED, MetricUnit.Count, counts.targets)
    metrics.add_metric(names.METRIC_TARGETS_FAILING, MetricUnit.Count, counts.failing)
    metrics.add_metric(names.METRIC_TARGETS_IN_ERROR, MetricUnit.Count, counts.in_error)
    metrics.add_metric(names.METRIC_TARGETS_OPEN, MetricUnit.Count, counts.open)
    metrics.add_metric(names.METRIC_PROVIDER_DRIFTS, MetricUnit.Count, counts.drifting)
    metrics.add_metric(names.METRIC_CYCLE_DURATION, MetricUnit.Seconds, counts.duration_seconds)
    metrics.add_metric(names.METRIC_SHARDS_FAILED, MetricUnit.Count, counts.shards_failed)
    if counts.completed:
        metrics.add_metric(names.METRIC_CYCLE_COMPLETED, MetricUnit.Count, 1)
    namespace = metrics.namespace or names.METRIC_NAMESPACE
    service = metrics.service or names.SERVICE_NAME
    per_status = (
        (names.METRIC_TARGETS_PROBED, None),
        (names.METRIC_TARGETS_FAILING, Status.FAILING),
        (names.METRIC_TARGETS_IN_ERROR, Status.ERROR),
        (names.METRIC_TARGETS_OPEN, Status.OPEN),
    )
    for account, by_status in sorted(counts.by_account.items()):
        for name, status in per_status:
            value = sum(by_status.values()) if status is None else by_status.get(status.value, 0)
            with single_metric(
                name=name,
                unit=MetricUnit.Count,
                value=value,
                namespace=namespace,
                default_dimensions={"service": service},
            ) as metric:
                metric.add_dimension(names.DIMENSION_ACCOUNT, account)
